import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inspectLora, parseTagFrequency, triggerWordsFromTags } from '../../src/engine/lora/metadata';
import { writeSafetensors } from '../../src/engine/safetensors';
import { f16, f32, makeTmpDir, scalar } from './helpers';

const { dir, cleanup } = makeTmpDir();
afterAll(cleanup);

const K = 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0';

describe('inspectLora', () => {
  it('reads kohya metadata, sidecar, preview and hashes', async () => {
    const path = join(dir, 'inkwash_style.safetensors');
    await writeSafetensors(
      path,
      {
        [`${K}_attn2_to_k.lora_down.weight`]: f16([4, 768]),
        [`${K}_attn2_to_k.lora_up.weight`]: f16([320, 4]),
        [`${K}_attn2_to_k.alpha`]: scalar(2),
        [`${K}_attn1_to_q.lora_down.weight`]: f16([4, 320]),
        [`${K}_attn1_to_q.lora_up.weight`]: f16([320, 4]),
        [`${K}_attn1_to_q.alpha`]: scalar(2),
        'lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight': f32([8, 320, 3, 3]),
        'lora_unet_down_blocks_0_resnets_0_conv1.lora_up.weight': f32([320, 8, 1, 1]),
        'lora_unet_down_blocks_0_resnets_0_conv1.alpha': scalar(1),
        'lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight': f16([4, 768]),
        'lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight': f16([768, 4]),
      },
      {
        ss_network_dim: '4',
        ss_network_alpha: '2.0',
        ss_network_module: 'networks.lora',
        ss_base_model_version: 'sd_v1',
        ss_sd_model_name: 'v1-5-pruned.safetensors',
        ss_output_name: 'InkWash',
        ss_training_comment: 'trained on 40 images',
        ss_tag_frequency: JSON.stringify({ '10_inkwash': { inkwash: 40, ' landscape': 12, 'sumi-e': 38, mountain: 20 }, '5_extra': { inkwash: 5, mountain: 1 } }),
        'modelspec.title': 'Ink Wash',
        'modelspec.architecture': 'stable-diffusion-v1/lora',
        'modelspec.author': 'chord',
      },
    );
    writeFileSync(
      join(dir, 'inkwash_style.json'),
      JSON.stringify({ description: 'ink style', 'sd version': 'SD1', 'activation text': 'inkwash, sumi-e', 'preferred weight': 0.8, notes: '' }),
    );
    writeFileSync(join(dir, 'inkwash_style.preview.png'), 'png');

    const info = await inspectLora(path);
    expect(info).toMatchObject({
      name: 'InkWash',
      format: 'kohya',
      algorithms: { lora: 3, locon: 1, loha: 0, lokr: 0, diff: 0, dora: 0 },
      modules: { unet: 3, text_encoder: 1, total: 4 },
      rank: { min: 4, max: 8, common: 4 },
      alpha: { min: 1, max: 4, common: 2 }, // missing alpha on the TE module = its rank 4
      baseModel: 'sd1',
      training: {
        networkDim: 4,
        networkAlpha: 2,
        networkModule: 'networks.lora',
        baseModelVersion: 'sd_v1',
        sdModelName: 'v1-5-pruned.safetensors',
        outputName: 'InkWash',
        trainingComment: 'trained on 40 images',
      },
      modelspec: { title: 'Ink Wash', architecture: 'stable-diffusion-v1/lora', author: 'chord' },
      sidecar: { description: 'ink style', sdVersion: 'SD1', activationText: 'inkwash, sumi-e', preferredWeight: 0.8 },
      preview: join(dir, 'inkwash_style.preview.png'),
      triggerWords: ['inkwash', 'sumi-e'],
      ignoredTensors: 0,
      warnings: [],
    });
    expect(info.baseModelReason).toMatch(/cross-attention takes 768/);
    expect(info.tagFrequency.slice(0, 3)).toEqual([
      { tag: 'inkwash', count: 45 },
      { tag: 'sumi-e', count: 38 },
      { tag: 'mountain', count: 21 },
    ]);

    // hashes: independent recomputation over the file bytes
    const bytes = readFileSync(path);
    const n = Number(bytes.readBigUInt64LE(0));
    const sha = createHash('sha256').update(bytes).digest('hex');
    const addnet = createHash('sha256').update(bytes.subarray(8 + n)).digest('hex');
    expect(info.hashes).toEqual({ sha256: sha, autoV2: sha.slice(0, 10), addnet, a1111: addnet.slice(0, 12) });
    expect(info.sizeBytes).toBe(bytes.length);
  });

  it('addnet hash ignores metadata edits; sha256 does not', async () => {
    const tensors = { [`${K}_attn1_to_q.lora_down.weight`]: f32([1, 4]), [`${K}_attn1_to_q.lora_up.weight`]: f32([4, 1]) };
    const a = join(dir, 'a.safetensors');
    const b = join(dir, 'b.safetensors');
    await writeSafetensors(a, tensors, { ss_output_name: 'one' });
    await writeSafetensors(b, tensors, { ss_output_name: 'a longer name' });
    const [ia, ib] = [await inspectLora(a), await inspectLora(b)];
    expect(ia.hashes?.addnet).toBe(ib.hashes?.addnet);
    expect(ia.hashes?.sha256).not.toBe(ib.hashes?.sha256);
    // with a stored sshs_model_hash, A1111 shows that one
    await writeSafetensors(b, tensors, { sshs_model_hash: 'ABCDEF0123456789' + '0'.repeat(48) });
    expect((await inspectLora(b)).hashes?.a1111).toBe('abcdef012345');
  });

  it('falls back to file name and tag-derived trigger words; skips hashes on request', async () => {
    const path = join(dir, 'plain.safetensors');
    await writeSafetensors(
      path,
      { [`${K}_attn1_to_q.lora_down.weight`]: f32([2, 4]), [`${K}_attn1_to_q.lora_up.weight`]: f32([4, 2]) },
      { ss_tag_frequency: JSON.stringify(JSON.stringify({ d: { zq_cat: 10, sitting: 3 } })) },
    );
    writeFileSync(join(dir, 'plain.json'), '{not json');
    const info = await inspectLora(path, { hashes: false });
    expect(info.name).toBe('plain');
    expect(info.triggerWords).toEqual(['zq_cat']);
    expect(info.hashes).toBeNull();
    expect(info.sidecar).toBeNull();
    expect(info.preview).toBeNull();
    expect(info.warnings).toEqual(['plain.json is not valid JSON; ignored.']);
    expect(info.baseModel).toBe('unknown');
    expect(info.baseModelReason).toBe('no cross-attention or text-encoder keys and no base-model metadata');
  });

  it('says what it saw when keys and metadata match no Stable Diffusion family', async () => {
    const path = join(dir, 'small.safetensors');
    await writeSafetensors(
      path,
      {
        'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight': f32([2, 96]),
        'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight': f32([32, 2]),
      },
      { ss_base_model_version: 'mystery-v1' },
    );
    const info = await inspectLora(path, { hashes: false });
    expect(info.baseModel).toBe('unknown');
    expect(info.baseModelReason).toBe('cross-attention takes 96 inputs; its metadata names mystery-v1: no Stable Diffusion family Chord knows');
  });

  it("recognises Chord's demo family glyph-sd by its 64-wide layers, or by name when the file has no such layer", async () => {
    const wide = join(dir, 'glyph-keys.safetensors');
    await writeSafetensors(wide, {
      'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight': f32([2, 64]),
      'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight': f32([32, 2]),
    });
    const byWidth = await inspectLora(wide, { hashes: false });
    expect(byWidth.baseModel).toBe('glyph-sd');
    expect(byWidth.baseModelReason).toBe("cross-attention takes 64 inputs, as in Chord's demo model family (models/glyph-sd)");

    const named = join(dir, 'glyph-named.safetensors');
    await writeSafetensors(
      named,
      { 'lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight': f32([2, 32, 3, 3]), 'lora_unet_down_blocks_0_resnets_0_conv1.lora_up.weight': f32([32, 2, 1, 1]) },
      { 'modelspec.architecture': 'glyph-sd-v1/lora' },
    );
    const byName = await inspectLora(named, { hashes: false });
    expect(byName.baseModel).toBe('glyph-sd');
    expect(byName.baseModelReason).toBe("its metadata names glyph-sd-v1/lora, Chord's demo model family (models/glyph-sd)");
  });

  it('every LoRA embedded in models/glyph-sd is recognised as glyph-sd, in each of its formats', async () => {
    const loras = join('models', 'glyph-sd', 'loras');
    const names = readdirSync(loras).filter((n) => n.endsWith('.safetensors') || n.endsWith('-peft'));
    expect(names.length).toBeGreaterThanOrEqual(13);
    for (const name of names) {
      const info = await inspectLora(join(loras, name), { hashes: false });
      expect(`${name}: ${info.baseModel}`).toBe(`${name}: glyph-sd`);
    }
  });

  it('recognises SDXL from its text-encoder keys and a PEFT folder', async () => {
    const xl = join(dir, 'xl.safetensors');
    await writeSafetensors(xl, {
      'lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight': f32([1, 768]),
      'lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight': f32([768, 1]),
    });
    expect((await inspectLora(xl, { hashes: false })).baseModel).toBe('sdxl');

    const folder = join(dir, 'peft_adapter');
    mkdirSync(folder);
    await writeSafetensors(join(folder, 'adapter_model.safetensors'), {
      'base_model.model.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_v.lora_A.weight': f32([8, 768]),
      'base_model.model.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_v.lora_B.weight': f32([320, 8]),
    });
    writeFileSync(join(folder, 'adapter_config.json'), JSON.stringify({ r: 8, lora_alpha: 16 }));
    writeFileSync(join(dir, 'peft_adapter.png'), 'png');
    const info = await inspectLora(folder, { hashes: false });
    expect(info).toMatchObject({ name: 'peft_adapter', format: 'peft', rank: { common: 8 }, alpha: { common: 16 }, modules: { unet: 1, total: 1 } });
    expect(info.preview).toBe(join(dir, 'peft_adapter.png'));
  });
});

describe('tag helpers', () => {
  it('parses bad ss_tag_frequency as empty', () => {
    expect(parseTagFrequency('nope')).toEqual([]);
    expect(parseTagFrequency('{"d": {"a": "x"}}')).toEqual([]);
  });
  it('takes tags tied with the most frequent one, at most 3', () => {
    const tags = [5, 5, 5, 5, 4].map((count, i) => ({ tag: `t${i}`, count }));
    expect(triggerWordsFromTags(tags)).toEqual(['t0', 't1', 't2']);
    expect(triggerWordsFromTags([{ tag: 'a', count: 10 }, { tag: 'b', count: 8 }])).toEqual(['a']);
  });
});
