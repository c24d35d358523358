import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ChordError } from '../../src/engine/errors';
import { mapLoraToTargets } from '../../src/engine/lora/mapping';
import { loadLora } from '../../src/engine/lora/load';
import { readLoraFile } from '../../src/engine/lora/parse';
import { writeSafetensors, type TensorToWrite } from '../../src/engine/safetensors';
import { TINY_TARGETS, expectClose, f16, f32, makeTmpDir, scalar, values } from './helpers';

const { dir, cleanup } = makeTmpDir();
afterAll(cleanup);
let n = 0;

async function load(tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>) {
  const path = join(dir, `lora-${n++}.safetensors`);
  await writeSafetensors(path, tensors, metadata);
  const parsed = await readLoraFile(path);
  return { parsed, mapped: mapLoraToTargets(parsed, TINY_TARGETS) };
}

const TB = 'down_blocks.0.attentions.0.transformer_blocks.0';
const K = `lora_unet_${TB.replace(/\./g, '_')}`;

describe('kohya LoRA / LoCon', () => {
  it('maps linear, 1x1 conv (proj_in) and 3x3 LoCon modules with alpha scales', async () => {
    const { parsed, mapped } = await load(
      {
        [`${K}_attn1_to_q.lora_down.weight`]: f16([2, 4]),
        [`${K}_attn1_to_q.lora_up.weight`]: f16([4, 2], undefined, 3),
        [`${K}_attn1_to_q.alpha`]: scalar(1),
        // `to_out_0`: the underscore form of to_out.0 (splitting on `_` would break it)
        [`${K}_attn1_to_out_0.lora_down.weight`]: f32([2, 4]),
        [`${K}_attn1_to_out_0.lora_up.weight`]: f32([4, 2]),
        [`${K}_ff_net_0_proj.lora_down.weight`]: f32([2, 4]),
        [`${K}_ff_net_0_proj.lora_up.weight`]: f32([16, 2]),
        'lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight': f32([2, 4, 1, 1]),
        'lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight': f32([4, 2, 1, 1]),
        'lora_unet_down_blocks_0_attentions_0_proj_in.alpha': scalar(8),
        'lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight': f32([3, 4, 3, 3]),
        'lora_unet_down_blocks_0_resnets_0_conv1.lora_up.weight': f32([4, 3, 1, 1]),
        'lora_unet_down_blocks_0_resnets_0_conv1.alpha': scalar(1.5),
        'lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight': f32([1, 6]),
        'lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight': f32([6, 1]),
      },
      { ss_network_dim: '2' },
    );
    expect(parsed.format).toBe('kohya');
    expect(parsed.metadata.ss_network_dim).toBe('2');
    expect(mapped.report.matched).toBe(6);
    expect(mapped.report.unmatched).toEqual([]);
    expect(mapped.deltas).toEqual([]);
    const by = new Map(mapped.modules.map((m) => [m.modulePath, m]));

    const q = by.get(`${TB}.attn1.to_q`);
    expect(q).toMatchObject({ kind: 'linear', rank: 2, alpha: 1, scale: 0.5, downShape: [2, 4], upShape: [4, 2] });
    // f16 storage decoded to float32
    expectClose(q?.down ?? [], Array.from(values([2, 4])).map((v) => Math.fround(v)), 1e-3);

    expect(by.get(`${TB}.attn1.to_out.0`)).toMatchObject({ rank: 2, alpha: 2, scale: 1 }); // missing alpha = rank
    expect(by.get(`${TB}.ff.net.0.proj`)).toMatchObject({ upShape: [16, 2] });
    expect(by.get('down_blocks.0.attentions.0.proj_in')).toMatchObject({ kind: 'conv', scale: 4, downShape: [2, 4, 1, 1], upShape: [4, 2, 1, 1] });
    expect(by.get('down_blocks.0.resnets.0.conv1')).toMatchObject({ kind: 'conv', rank: 3, scale: 0.5, downShape: [3, 4, 3, 3], upShape: [4, 3, 1, 1] });
    expect(by.get('text_model.encoder.layers.0.self_attn.q_proj')).toMatchObject({ part: 'text_encoder', rank: 1 });
    expect(mapped.report.byPart).toEqual({ unet: { matched: 5, total: 5 }, text_encoder: { matched: 1, total: 1 } });
    expect(mapped.report.summary).toBe('matched 6 of 6 modules (unet 5/5, text_encoder 1/1)');
  });

  it('accepts 2-D weights for a 1x1 conv target and 4-D 1x1 weights for a linear target', async () => {
    const { mapped } = await load({
      'lora_unet_down_blocks_0_attentions_0_proj_out.lora_down.weight': f32([1, 4]),
      'lora_unet_down_blocks_0_attentions_0_proj_out.lora_up.weight': f32([4, 1]),
      [`${K}_attn2_to_q.lora_down.weight`]: f32([1, 4, 1, 1]),
      [`${K}_attn2_to_q.lora_up.weight`]: f32([4, 1, 1, 1]),
    });
    const by = new Map(mapped.modules.map((m) => [m.modulePath, m]));
    expect(by.get('down_blocks.0.attentions.0.proj_out')).toMatchObject({ kind: 'conv', downShape: [1, 4, 1, 1], upShape: [4, 1, 1, 1] });
    expect(by.get(`${TB}.attn2.to_q`)).toMatchObject({ kind: 'linear', downShape: [1, 4], upShape: [4, 1] });
  });

  it('translates SD 1.5 LDM names (input_blocks / middle_block / output_blocks)', async () => {
    const { mapped } = await load({
      'lora_unet_input_blocks_1_1_proj_in.lora_down.weight': f32([1, 4, 1, 1]),
      'lora_unet_input_blocks_1_1_proj_in.lora_up.weight': f32([4, 1, 1, 1]),
      'lora_unet_input_blocks_1_0_emb_layers_1.lora_down.weight': f32([1, 8]),
      'lora_unet_input_blocks_1_0_emb_layers_1.lora_up.weight': f32([4, 1]),
      'lora_unet_input_blocks_3_0_op.lora_down.weight': f32([1, 4, 3, 3]),
      'lora_unet_input_blocks_3_0_op.lora_up.weight': f32([4, 1, 1, 1]),
      'lora_unet_middle_block_1_proj_in.lora_down.weight': f32([1, 8, 1, 1]),
      'lora_unet_middle_block_1_proj_in.lora_up.weight': f32([8, 1, 1, 1]),
      'lora_unet_output_blocks_5_1_transformer_blocks_0_attn1_to_q.lora_down.weight': f32([1, 8]),
      'lora_unet_output_blocks_5_1_transformer_blocks_0_attn1_to_q.lora_up.weight': f32([8, 1]),
      'lora_unet_output_blocks_2_1_conv.lora_down.weight': f32([1, 8, 3, 3]),
      'lora_unet_output_blocks_2_1_conv.lora_up.weight': f32([8, 1, 1, 1]),
    });
    expect(mapped.modules.map((m) => m.modulePath).sort()).toEqual([
      'down_blocks.0.attentions.0.proj_in',
      'down_blocks.0.downsamplers.0.conv',
      'down_blocks.0.resnets.0.time_emb_proj',
      'mid_block.attentions.0.proj_in',
      'up_blocks.0.upsamplers.0.conv',
      'up_blocks.1.attentions.2.transformer_blocks.0.attn1.to_q',
    ]);
  });

  it('folds a LoCon Tucker middle (lora_mid) into the down weight', async () => {
    const down = values([2, 4, 1, 1], 1);
    const mid = values([2, 2, 3, 3], 2);
    const { mapped } = await load({
      'lora_unet_down_blocks_0_resnets_0_conv2.lora_down.weight': f32([2, 4, 1, 1], down),
      'lora_unet_down_blocks_0_resnets_0_conv2.lora_mid.weight': f32([2, 2, 3, 3], mid),
      'lora_unet_down_blocks_0_resnets_0_conv2.lora_up.weight': f32([4, 2, 1, 1]),
    });
    const m = mapped.modules[0];
    expect(m.downShape).toEqual([2, 4, 3, 3]);
    // folded[n, j, s] = sum_m mid[n, m, s] * down[m, j]
    const expected: number[] = [];
    for (let nn = 0; nn < 2; nn++) for (let j = 0; j < 4; j++) for (let s = 0; s < 9; s++) {
      let acc = 0;
      for (let mm = 0; mm < 2; mm++) acc += mid[(nn * 2 + mm) * 9 + s] * down[mm * 4 + j];
      expected.push(acc);
    }
    expectClose(m.down, expected);
  });
});

describe('PEFT adapters', () => {
  const peftTensors = (): Record<string, TensorToWrite> => ({
    [`base_model.model.${TB}.attn1.to_q.lora_A.weight`]: f32([4, 4]),
    [`base_model.model.${TB}.attn1.to_q.lora_B.weight`]: f32([4, 4]),
    [`base_model.model.${TB}.attn1.to_k.lora_A.weight`]: f32([2, 4]),
    [`base_model.model.${TB}.attn1.to_k.lora_B.weight`]: f32([4, 2]),
    ['base_model.model.down_blocks.0.attentions.0.proj_in.lora_A.weight']: f32([2, 4, 1, 1]),
    ['base_model.model.down_blocks.0.attentions.0.proj_in.lora_B.weight']: f32([4, 2, 1, 1]),
  });
  const config = { r: 4, lora_alpha: 8, rank_pattern: { 'attn1.to_k': 2, proj_in: 2 }, alpha_pattern: { 'attn1.to_k': 1 }, target_modules: ['to_q', 'to_k', 'proj_in'] };

  async function adapterFolder(cfg: object): Promise<string> {
    const folder = join(dir, `peft-${n++}`);
    mkdirSync(folder);
    await writeSafetensors(join(folder, 'adapter_model.safetensors'), peftTensors());
    writeFileSync(join(folder, 'adapter_config.json'), JSON.stringify(cfg));
    return folder;
  }

  for (const given of ['the folder', 'the file inside it']) {
    it(`reads a PEFT folder given as ${given}, with rank_pattern / alpha_pattern`, async () => {
      const folder = await adapterFolder(config);
      const parsed = await readLoraFile(given === 'the folder' ? folder : join(folder, 'adapter_model.safetensors'));
      expect(parsed.format).toBe('peft');
      const mapped = mapLoraToTargets(parsed, TINY_TARGETS);
      const by = new Map(mapped.modules.map((m) => [m.modulePath, m]));
      expect(by.get(`${TB}.attn1.to_q`)).toMatchObject({ rank: 4, scale: 2 }); // 8 / 4
      expect(by.get(`${TB}.attn1.to_k`)).toMatchObject({ rank: 2, scale: 0.5 }); // alpha_pattern 1 / rank_pattern 2
      expect(by.get('down_blocks.0.attentions.0.proj_in')).toMatchObject({ kind: 'conv', rank: 2, scale: 4 }); // 8 / 2
      for (const m of mapped.modules) expect(m.alpha / m.rank).toBeCloseTo(m.scale, 12);
    });
  }

  it('applies use_rslora (alpha / sqrt(r))', async () => {
    const folder = await adapterFolder({ r: 4, lora_alpha: 8, use_rslora: true });
    const mapped = mapLoraToTargets(await readLoraFile(folder), TINY_TARGETS);
    expect(mapped.modules.find((m) => m.modulePath === `${TB}.attn1.to_q`)?.scale).toBeCloseTo(4, 12); // 8 / sqrt(4)
  });

  it('uses scale 1 for a PEFT-style file without config (diffusers pytorch_lora_weights)', async () => {
    const { parsed, mapped } = await load({
      [`unet.${TB}.attn1.to_v.lora_A.weight`]: f32([2, 4]),
      [`unet.${TB}.attn1.to_v.lora_B.weight`]: f32([4, 2]),
      'text_encoder.text_model.encoder.layers.0.mlp.fc1.lora_A.weight': f32([2, 6]),
      'text_encoder.text_model.encoder.layers.0.mlp.fc1.lora_B.weight': f32([24, 2]),
    });
    expect(parsed.format).toBe('peft');
    expect(mapped.modules.map((m) => [m.part, m.modulePath, m.scale]).sort()).toEqual([
      ['text_encoder', 'text_model.encoder.layers.0.mlp.fc1', 1],
      ['unet', `${TB}.attn1.to_v`, 1],
    ]);
  });

  it('loadLora reads and maps in one call', async () => {
    const folder = await adapterFolder(config);
    const loaded = await loadLora(folder, TINY_TARGETS);
    expect(loaded.format).toBe('peft');
    expect(loaded.source).toBe(join(folder, 'adapter_model.safetensors'));
    expect(loaded.report.summary).toBe('matched 3 of 3 modules (unet 3/3)');
  });

  it('refuses a pickle adapter', async () => {
    const folder = join(dir, `peft-bin-${n++}`);
    mkdirSync(folder);
    writeFileSync(join(folder, 'adapter_model.bin'), 'x');
    await expect(readLoraFile(folder)).rejects.toMatchObject({ code: 'LORA_INVALID', message: expect.stringMatching(/pickle/) });
  });
});

describe('diffusers formats', () => {
  it('reads .lora.down/.lora.up with .alpha keys', async () => {
    const { parsed, mapped } = await load({
      [`unet.${TB}.attn2.to_k.lora.down.weight`]: f32([2, 768]),
      [`unet.${TB}.attn2.to_k.lora.up.weight`]: f32([4, 2]),
      [`unet.${TB}.attn2.to_k.alpha`]: scalar(1),
    });
    expect(parsed.format).toBe('diffusers');
    expect(mapped.modules[0]).toMatchObject({ modulePath: `${TB}.attn2.to_k`, rank: 2, scale: 0.5, downShape: [2, 768] });
  });

  it('reads the old attention-processor format (to_out_lora -> to_out.0)', async () => {
    const { parsed, mapped } = await load({
      [`${TB}.attn1.processor.to_q_lora.down.weight`]: f32([1, 4]),
      [`${TB}.attn1.processor.to_q_lora.up.weight`]: f32([4, 1]),
      [`${TB}.attn1.processor.to_out_lora.down.weight`]: f32([1, 4]),
      [`${TB}.attn1.processor.to_out_lora.up.weight`]: f32([4, 1]),
    });
    expect(parsed.format).toBe('attn-procs');
    expect(mapped.modules.map((m) => m.modulePath).sort()).toEqual([`${TB}.attn1.to_out.0`, `${TB}.attn1.to_q`]);
  });
});

describe('malformed modules', () => {
  it('refuses a module with lora_down but no lora_up, naming it', async () => {
    const e = await load({ [`${K}_attn1_to_q.lora_down.weight`]: f32([2, 4]) }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ChordError);
    expect((e as ChordError).code).toBe('LORA_INVALID');
    expect((e as ChordError).message).toMatch(new RegExp(`${K}_attn1_to_q has down but no up`));
  });

  it('refuses ranks that disagree between down and up', async () => {
    const e = await load({
      [`${K}_attn1_to_q.lora_down.weight`]: f32([2, 4]),
      [`${K}_attn1_to_q.lora_up.weight`]: f32([4, 3]),
    }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'LORA_INVALID', message: expect.stringMatching(/disagree on the rank/) });
  });

  it('refuses a file with no LoRA tensors', async () => {
    const e = await load({ 'model.weight': f32([2]), 'lora_unet_x.oft_blocks': f32([1]) }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'LORA_INVALID', message: expect.stringMatching(/no LoRA weights Chord can read.*OFT/) });
  });
});
