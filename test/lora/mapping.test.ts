import { describe, expect, it } from 'vitest';
import { ChordError } from '../../src/engine/errors';
import { mapLoraToTargets } from '../../src/engine/lora/mapping';
import { parseLoraTensors, type TensorData } from '../../src/engine/lora/parse';
import type { LoraTarget } from '../../src/engine/lora/types';
import { TINY_TARGETS, values } from './helpers';

const t = (shape: number[]): TensorData => ({ shape, data: values(shape) });
const pair = (stem: string, down: number[], up: number[]): Record<string, TensorData> => ({
  [`${stem}.lora_down.weight`]: t(down),
  [`${stem}.lora_up.weight`]: t(up),
});
const K = 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0';

function mapError(tensors: Record<string, TensorData>, targets: LoraTarget[] = TINY_TARGETS): ChordError {
  try {
    mapLoraToTargets(parseLoraTensors(tensors, { source: '/loras/thing.safetensors' }), targets);
  } catch (e) {
    expect(e).toBeInstanceOf(ChordError);
    return e as ChordError;
  }
  throw new Error('expected mapLoraToTargets to fail');
}

describe('wrong base model', () => {
  it('refuses SDXL text-encoder keys (lora_te1_ / lora_te2_)', () => {
    const e = mapError({
      ...pair(`${K}_attn1_to_q`, [1, 4], [4, 1]),
      ...pair('lora_te2_text_model_encoder_layers_0_self_attn_q_proj', [1, 1280], [1280, 1]),
    });
    expect(e.code).toBe('LORA_WRONG_BASE');
    expect(e.message).toMatch(/^thing\.safetensors looks like an SDXL LoRA; this model is SD 1\.5-like \(.*text encoder 2/);
  });

  it('refuses a cross-attention width of 2048', () => {
    const e = mapError({ ...pair(`${K}_attn2_to_k`, [4, 2048], [4, 4]), ...pair(`${K}_attn1_to_q`, [1, 4], [4, 1]) });
    expect(e.code).toBe('LORA_WRONG_BASE');
    expect(e.message).toMatch(/looks like an SDXL LoRA; this model is SD 1\.5-like/);
    expect(e.message).toMatch(/takes 2048 inputs where this model's down_blocks\.0\.attentions\.0\.transformer_blocks\.0\.attn2\.to_k takes 768/);
  });

  it('refuses an SDXL layout with more transformer blocks per attention', () => {
    const e = mapError({
      ...pair('lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q', [1, 8], [8, 1]),
      ...pair('lora_unet_input_blocks_4_1_transformer_blocks_1_attn1_to_q', [1, 8], [8, 1]),
    });
    expect(e.code).toBe('LORA_WRONG_BASE');
    expect(e.message).toMatch(/looks like an SDXL LoRA.*transformer block 1/);
  });

  it('names SD 2.x from a 1024 context width', () => {
    const e = mapError(pair(`${K}_attn2_to_v`, [2, 1024], [4, 2]));
    expect(e.message).toMatch(/looks like an SD 2\.x LoRA; this model is SD 1\.5-like/);
  });

  it('names the module when a shape does not fit (kernel)', () => {
    const e = mapError({ ...pair('lora_unet_down_blocks_0_resnets_0_conv1', [2, 4, 1, 1], [4, 2, 1, 1]) });
    expect(e.code).toBe('LORA_WRONG_BASE');
    expect(e.message).toBe(
      'thing.safetensors does not fit this model: down_blocks.0.resnets.0.conv1 is 4 -> 4 (3x3 kernel) here but 4 -> 4 in the file (lora_unet_down_blocks_0_resnets_0_conv1).',
    );
  });

  it('names the module when features do not fit', () => {
    const e = mapError({ ...pair(`${K}_ff_net_2`, [2, 16], [4, 2]), ...pair(`${K}_attn1_to_k`, [2, 5], [4, 2]) });
    expect(e.message).toMatch(/ff\.net\.2 is 8 -> 4 here but 16 -> 4 in the file.*\(1 more modules do not fit either\)/);
  });
});

describe('partial and failed matches', () => {
  it('reports a partial match', () => {
    const parsed = parseLoraTensors({
      ...pair(`${K}_attn1_to_q`, [1, 4], [4, 1]),
      ...pair(`${K}_attn1_to_v`, [1, 4], [4, 1]),
      ...pair('lora_unet_up_blocks_3_attentions_2_transformer_blocks_0_attn1_to_q', [1, 4], [4, 1]),
      ...pair('lora_te_text_model_encoder_layers_11_mlp_fc2', [1, 6], [6, 1]),
      'lora_unet_x.diff_b': t([2]),
    });
    const { modules, report } = mapLoraToTargets(parsed, TINY_TARGETS);
    expect(modules).toHaveLength(2);
    expect(report).toMatchObject({
      total: 4,
      matched: 2,
      unmatched: ['lora_te_text_model_encoder_layers_11_mlp_fc2', 'lora_unet_up_blocks_3_attentions_2_transformer_blocks_0_attn1_to_q'].sort(),
      byPart: { unet: { matched: 2, total: 3 }, text_encoder: { matched: 0, total: 1 } },
      summary: 'matched 2 of 4 modules (unet 2/3, text_encoder 0/1)',
    });
    expect(report.ignored).toEqual([{ key: 'lora_unet_x.diff_b', reason: 'bias update (not supported)' }]);
    expect(report.notes.join(' ')).toMatch(/1 tensors were skipped/);
  });

  it('refuses a file that matches nothing with LORA_NO_MATCH', () => {
    const e = mapError(pair('lora_unet_some_other_net_layer', [1, 4], [4, 1]));
    expect(e.code).toBe('LORA_NO_MATCH');
    expect(e.message).toBe("thing.safetensors matches none of this model's layers (0 of 1 modules; e.g. lora_unet_some_other_net_layer).");
  });

  it('refuses a DiT LoRA as the wrong base', () => {
    const e = mapError({
      'transformer.transformer_blocks.0.attn.to_q.lora_A.weight': t([1, 4]),
      'transformer.transformer_blocks.0.attn.to_q.lora_B.weight': t([4, 1]),
    });
    expect(e.code).toBe('LORA_WRONG_BASE');
    expect(e.message).toMatch(/a DiT model/);
  });

  it('refuses two entries for one module', () => {
    const e = mapError({
      ...pair(`${K}_attn1_to_q`, [1, 4], [4, 1]),
      'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora.down.weight': t([1, 4]),
      'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora.up.weight': t([4, 1]),
    });
    expect(e.code).toBe('LORA_INVALID');
    expect(e.message).toMatch(/two entries for down_blocks\.0\.attentions\.0\.transformer_blocks\.0\.attn1\.to_q/);
  });

  it('does not guess between module paths whose underscore forms collide', () => {
    const targets: LoraTarget[] = [
      { part: 'unet', modulePath: 'a.b_c', op: 'MatMul', inFeatures: 4, outFeatures: 4 },
      { part: 'unet', modulePath: 'a_b.c', op: 'MatMul', inFeatures: 4, outFeatures: 4 },
      { part: 'unet', modulePath: 'd', op: 'MatMul', inFeatures: 4, outFeatures: 4 },
    ];
    const parsed = parseLoraTensors({ ...pair('lora_unet_a_b_c', [1, 4], [4, 1]), ...pair('lora_unet_d', [1, 4], [4, 1]) });
    expect(mapLoraToTargets(parsed, targets).report.unmatched).toEqual(['lora_unet_a_b_c']);
    // a dotted name is exact, so it still matches
    const dotted = parseLoraTensors({ 'unet.a.b_c.lora_A.weight': t([1, 4]), 'unet.a.b_c.lora_B.weight': t([4, 1]) });
    expect(mapLoraToTargets(dotted, targets).modules[0].modulePath).toBe('a.b_c');
  });
});
