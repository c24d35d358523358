import { describe, expect, it } from 'vitest';
import type { LoraTarget } from '../../src/engine/lora/types';
import {
  LORA_GATE_INPUT,
  LORA_REWRITE_VERSION,
  addLoraBranches,
  loraInputSpecs,
  rewrittenTargets,
} from '../../src/engine/onnx/branches';
import { fuseDeltas } from '../../src/engine/onnx/fuse';
import { DataType, metadata, type ModelProto } from '../../src/engine/onnx/proto';
import { findLoraTargets } from '../../src/engine/onnx/targets';
import { upcastToFloat32 } from '../../src/engine/onnx/upcast';
import {
  branchFeeds,
  fusedDeltas,
  loadFixture,
  randomLora,
  relError,
  runModel,
  textFeeds,
  toHalfFeeds,
  unetFeeds,
  type Feeds,
} from './helpers';

const UNET = 'tiny_unet.onnx';
const TEXT = 'tiny_text_encoder.onnx';

async function setup(file: string, part: 'unet' | 'text_encoder') {
  const model = await loadFixture(file);
  const targets = findLoraTargets(model, part);
  return { model, targets, rewritten: addLoraBranches(model, targets) };
}

function inputsFor(part: 'unet' | 'text_encoder', batch = 2): Feeds {
  return part === 'unet' ? unetFeeds(11, batch) : textFeeds(batch);
}

/** Runs the rewritten graph with these LoRAs and per-batch-item weights. */
async function runBranched(model: ModelProto, targets: LoraTarget[], part: 'unet' | 'text_encoder', loras: ReturnType<typeof randomLora>[], gates: number[][]) {
  return runModel(model, { ...inputsFor(part, gates.length), ...branchFeeds(targets, loras, gates) });
}

describe('addLoraBranches', () => {
  it('declares one float gate and down/up inputs per target with a dynamic rank', async () => {
    const { rewritten, targets } = await setup(UNET, 'unet');
    const specs = loraInputSpecs(rewritten);
    expect(specs[0]).toEqual({ name: LORA_GATE_INPUT, modulePath: '', role: 'gate', elemType: DataType.FLOAT, dims: ['lora_batch', 'lora_rank'] });
    expect(specs).toHaveLength(1 + 2 * targets.length);
    const byName = new Map(specs.map((s) => [s.name, s]));
    const q = `down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k`;
    expect(byName.get(`lora.down.${q}`)?.dims).toEqual([6, 'lora_rank']);
    expect(byName.get(`lora.up.${q}`)?.dims).toEqual(['lora_rank', 8]);
    expect(byName.get('lora.down.down_blocks.0.downsamplers.0.conv')?.dims).toEqual(['lora_rank', 8, 3, 3]);
    expect(byName.get('lora.up.down_blocks.0.downsamplers.0.conv')?.dims).toEqual([8, 'lora_rank', 1, 1]);
    expect(byName.get('lora.down.time_embedding.linear_1')?.dims).toEqual([4, 'lora_rank']);
    expect(metadata(rewritten)['chord.rewrite']).toBe(LORA_REWRITE_VERSION);
    expect(rewrittenTargets(rewritten)).toEqual(targets);
  });

  it('is deterministic and leaves the input model untouched', async () => {
    const model = await loadFixture(UNET);
    const before = JSON.stringify(model.graph?.node);
    const targets = findLoraTargets(model, 'unet');
    const a = addLoraBranches(model, targets);
    const b = addLoraBranches(model, [...targets].reverse());
    expect(JSON.stringify(a.graph?.node)).toBe(JSON.stringify(b.graph?.node));
    expect(JSON.stringify(model.graph?.node)).toBe(before);
    const names = (a.graph?.node ?? []).flatMap((n) => n.output ?? []);
    expect(new Set(names).size).toBe(names.length);
  });

  it.each([
    [UNET, 'unet'],
    [TEXT, 'text_encoder'],
    ['tiny_text_encoder_nofold.onnx', 'text_encoder'],
    ['tiny_unet_castweights.onnx', 'unet'],
  ] as const)('rank 0 gives exactly the original outputs (%s)', async (file, part) => {
    const { model, targets, rewritten } = await setup(file, part);
    const base = await runModel(model, inputsFor(part));
    const zero = await runBranched(rewritten, targets, part, [], [[], []]);
    for (const name of Object.keys(base)) expect(Array.from(zero[name].data)).toEqual(Array.from(base[name].data));
  });

  it.each([
    [UNET, 'unet'],
    [TEXT, 'text_encoder'],
    ['tiny_text_encoder_nofold.onnx', 'text_encoder'],
  ] as const)('a rank-2 LoRA on every target equals the fused weights (%s)', async (file, part) => {
    const { model, targets, rewritten } = await setup(file, part);
    const lora = randomLora(targets, 2, 5);
    const branched = await runBranched(rewritten, targets, part, [lora], [[0.8], [0.8]]);
    const fused = await runModel(fuseDeltas(model, fusedDeltas(targets, [lora], [0.8])), inputsFor(part));
    const base = await runModel(model, inputsFor(part));
    for (const name of Object.keys(fused)) {
      expect(relError(branched[name].data, fused[name].data)).toBeLessThan(1e-5);
      expect(relError(base[name].data, fused[name].data)).toBeGreaterThan(1e-2); // the LoRA does something
    }
  });

  it('gate 0 switches a loaded LoRA off exactly', async () => {
    const { model, targets, rewritten } = await setup(UNET, 'unet');
    const lora = randomLora(targets, 2, 6);
    const off = await runBranched(rewritten, targets, 'unet', [lora], [[0], [0]]);
    const base = await runModel(model, inputsFor('unet'));
    expect(Array.from(off.out_sample.data)).toEqual(Array.from(base.out_sample.data));
  });

  it('two LoRAs with concatenated ranks equal the sum of their deltas; the gate selects per batch item', async () => {
    const { model, targets, rewritten } = await setup(UNET, 'unet');
    const a = randomLora(targets, 2, 7);
    // B covers only the attention layers: its missing modules are zero-padded ranks
    const b = randomLora(targets.filter((t) => t.op === 'MatMul'), 3, 8, 0.25);
    const both = await runBranched(rewritten, targets, 'unet', [a, b], [[1, 0.6], [1, 0.6]]);
    const sum = await runModel(fuseDeltas(model, fusedDeltas(targets, [a, b], [1, 0.6])), inputsFor('unet'));
    expect(relError(both.out_sample.data, sum.out_sample.data)).toBeLessThan(1e-5);

    // batch item 0 with A alone, item 1 with B alone, in one run
    const split = await runBranched(rewritten, targets, 'unet', [a, b], [[1, 0], [0, 0.6]]);
    const onlyA = await runModel(fuseDeltas(model, fusedDeltas(targets, [a], [1])), inputsFor('unet'));
    const onlyB = await runModel(fuseDeltas(model, fusedDeltas(targets, [b], [0.6])), inputsFor('unet'));
    const half = split.out_sample.data.length / 2;
    expect(relError(split.out_sample.data.subarray(0, half), onlyA.out_sample.data.subarray(0, half))).toBeLessThan(1e-5);
    expect(relError(split.out_sample.data.subarray(half), onlyB.out_sample.data.subarray(half))).toBeLessThan(1e-5);
  });

  it('conv branches keep the layer geometry (strided 3x3, 1x1, channel change)', async () => {
    const model = await loadFixture(UNET);
    const targets = findLoraTargets(model, 'unet').filter((t) =>
      ['down_blocks.0.downsamplers.0.conv', 'down_blocks.0.attentions.0.proj_in', 'up_blocks.0.resnets.0.conv1'].includes(t.modulePath),
    );
    expect(targets).toHaveLength(3);
    const rewritten = addLoraBranches(model, targets);
    const lora = randomLora(targets, 3, 9);
    const branched = await runBranched(rewritten, targets, 'unet', [lora], [[1], [1]]);
    const fused = await runModel(fuseDeltas(model, fusedDeltas(targets, [lora], [1])), inputsFor('unet'));
    expect(relError(branched.out_sample.data, fused.out_sample.data)).toBeLessThan(1e-5);
  });

  it('the rank-agnostic gate (for graphs without known ranks) computes the same', async () => {
    const model = await loadFixture(TEXT);
    const targets = findLoraTargets(model, 'text_encoder');
    const dynamic = addLoraBranches(model, targets, { rankAgnosticGate: true });
    expect((dynamic.graph?.node ?? []).some((n) => n.opType === 'ConstantOfShape')).toBe(true);
    const lora = randomLora(targets, 2, 10);
    const a = await runBranched(dynamic, targets, 'text_encoder', [lora], [[1], [0.5]]);
    const b = await runBranched(addLoraBranches(model, targets), targets, 'text_encoder', [lora], [[1], [0.5]]);
    expect(relError(a.last_hidden_state.data, b.last_hidden_state.data)).toBeLessThan(1e-6);
    expect(relError(a.text_embeds.data, b.text_embeds.data)).toBeLessThan(1e-6);
    const zero = await runBranched(dynamic, targets, 'text_encoder', [], [[], []]);
    const base = await runModel(model, textFeeds(2));
    expect(Array.from(zero.text_embeds.data)).toEqual(Array.from(base.text_embeds.data));
  });

  it('gives fp16 graphs fp16 branch inputs, which upcast to float32 for CPU', async () => {
    const model = await loadFixture('tiny_unet_fp16.onnx');
    const targets = findLoraTargets(model, 'unet');
    const rewritten = addLoraBranches(model, targets);
    const specs = loraInputSpecs(rewritten);
    expect(specs[0].elemType).toBe(DataType.FLOAT);
    expect(specs.slice(1).every((s) => s.elemType === DataType.FLOAT16)).toBe(true);

    const zero = await runModel(rewritten, { ...toHalfFeeds(unetFeeds(11)), ...branchFeeds(targets, [], [[], []], 'float16') });
    const original = await runModel(model, toHalfFeeds(unetFeeds(11)));
    expect(Array.from(zero.out_sample.data)).toEqual(Array.from(original.out_sample.data));

    const lora = randomLora(targets, 2, 12);
    const feeds = { ...toHalfFeeds(unetFeeds(11)), ...branchFeeds(targets, [lora], [[1], [1]], 'float16') };
    const half = await runModel(rewritten, feeds);
    const upcast = upcastToFloat32(rewritten);
    expect(loraInputSpecs(upcast).every((s) => s.elemType === DataType.FLOAT)).toBe(true);
    const full = await runModel(upcast, { ...unetFeeds(11), ...branchFeeds(targets, [lora], [[1], [1]]) });
    expect(relError(half.out_sample.data, full.out_sample.data)).toBeLessThan(2e-2); // fp16 arithmetic
  });

  it('refuses to rewrite twice and rejects targets the graph does not have', async () => {
    const { model, targets, rewritten } = await setup(UNET, 'unet');
    expect(() => addLoraBranches(rewritten, targets)).toThrow(/already has LoRA branches/);
    const bogus: LoraTarget = { ...targets[0], modulePath: 'mid_block.attentions.0.proj_in' };
    expect(() => addLoraBranches(model, [bogus])).toThrow(/not a LoRA target/);
    const wrong: LoraTarget = { ...targets[0], inFeatures: 99 };
    expect(() => addLoraBranches(model, [wrong])).toThrow(/Gemm 4->8/);
  });
});
