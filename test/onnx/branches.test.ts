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
  it('declares one float gate, and per target down/up with a rank of its own and int32 slots', async () => {
    const { rewritten, targets } = await setup(UNET, 'unet');
    const specs = loraInputSpecs(rewritten);
    expect(specs[0]).toEqual({ name: LORA_GATE_INPUT, modulePath: '', role: 'gate', elemType: DataType.FLOAT, dims: ['lora_batch', 'lora_total_rank'] });
    expect(specs).toHaveLength(1 + 3 * targets.length);
    const byName = new Map(specs.map((s) => [s.name, s]));
    const k = `down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k`;
    const rk = `lora_rank.${k}`;
    expect(byName.get(`lora.down.${k}`)?.dims).toEqual([6, rk]);
    expect(byName.get(`lora.up.${k}`)?.dims).toEqual([rk, 8]);
    expect(byName.get(`lora.slots.${k}`)).toEqual({ name: `lora.slots.${k}`, modulePath: k, role: 'slots', elemType: DataType.INT32, dims: [rk] });
    const conv = 'down_blocks.0.downsamplers.0.conv';
    expect(byName.get(`lora.down.${conv}`)?.dims).toEqual([`lora_rank.${conv}`, 8, 3, 3]);
    expect(byName.get(`lora.up.${conv}`)?.dims).toEqual([8, `lora_rank.${conv}`, 1, 1]);
    expect(byName.get('lora.down.time_embedding.linear_1')?.dims).toEqual([4, 'lora_rank.time_embedding.linear_1']);
    // every layer's rank is a dimension of its own
    expect(new Set(specs.filter((s) => s.role === 'slots').map((s) => s.dims[0])).size).toBe(targets.length);
    expect(LORA_REWRITE_VERSION).toBe('chord-lora-branches/3');
    expect(metadata(rewritten)['chord.rewrite']).toBe(LORA_REWRITE_VERSION);
    expect(rewrittenTargets(rewritten)).toEqual(targets);
  });

  it('each branch gathers its gate columns from the one shared gate with one Gather', async () => {
    for (const [file, part] of [[UNET, 'unet'], [TEXT, 'text_encoder']] as const) {
      const { rewritten } = await setup(file, part);
      const nodes = rewritten.graph?.node ?? [];
      const branches = nodes.filter((n) => n.name?.startsWith('lora/') && n.name.endsWith('/add'));
      const gathers = nodes.filter((n) => n.opType === 'Gather' && n.input?.[1]?.startsWith('lora.slots.'));
      expect(gathers).toHaveLength(branches.length);
      // the gate is shared: cast and reshaped once per layout, never per branch
      expect(nodes.filter((n) => n.input?.includes(LORA_GATE_INPUT) && n.opType !== 'Gather').length).toBeLessThanOrEqual(3);
    }
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
    // B covers only the attention layers: the other layers carry A's ranks alone
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

  it('a layer no LoRA touches runs at rank 0 and keeps its exact output', async () => {
    const { model, targets, rewritten } = await setup(TEXT, 'text_encoder');
    // only the final projection: the hidden states never pass through a branch with ranks
    const projection = targets.filter((t) => t.modulePath === 'text_projection');
    const lora = randomLora(projection, 3, 13);
    const feeds = branchFeeds(targets, [lora], [[1], [0.5]]);
    expect(feeds['lora.gate'].dims).toEqual([2, 3]);
    expect(feeds['lora.slots.text_projection'].dims).toEqual([3]);
    expect(feeds['lora.down.text_model.encoder.layers.0.mlp.fc1'].dims).toEqual([8, 0]);
    expect(feeds['lora.slots.text_model.encoder.layers.0.mlp.fc1'].dims).toEqual([0]);
    const branched = await runModel(rewritten, { ...textFeeds(2), ...feeds });
    const base = await runModel(model, textFeeds(2));
    expect(Array.from(branched.last_hidden_state.data)).toEqual(Array.from(base.last_hidden_state.data));
    expect(relError(base.text_embeds.data, branched.text_embeds.data)).toBeGreaterThan(1e-2);
  });

  it('LoRAs touching different layer subsets with different ranks equal the fused weights, per batch item too', async () => {
    const { model, targets, rewritten } = await setup(UNET, 'unet');
    const convs = randomLora(targets.filter((t) => t.op === 'Conv'), 2, 14); // LoCon-style layers only
    const attention = randomLora(targets.filter((t) => t.op === 'MatMul'), 3, 15, 0.25); // kohya-style
    const some = randomLora(targets.filter((_, i) => i % 3 === 0), 1, 16, 2); // a mix of both kinds
    const untouched = targets.filter((t) => !convs.modules.has(t.modulePath) && !attention.modules.has(t.modulePath) && !some.modules.has(t.modulePath));
    expect(untouched.length).toBeGreaterThan(0);
    const loras = [convs, attention, some];
    const weights = [0.7, -0.4, 1.2];
    const feeds = branchFeeds(targets, loras, [weights, weights]);
    expect(feeds['lora.gate'].dims).toEqual([2, 6]);
    for (const t of targets) {
      const rank = loras.reduce((s, l) => s + (l.modules.has(t.modulePath) ? l.rank : 0), 0);
      expect(feeds[`lora.slots.${t.modulePath}`].dims, t.modulePath).toEqual([rank]);
    }
    const all = await runModel(rewritten, { ...unetFeeds(11), ...feeds });
    const fused = await runModel(fuseDeltas(model, fusedDeltas(targets, loras, weights)), unetFeeds(11));
    expect(relError(all.out_sample.data, fused.out_sample.data)).toBeLessThan(1e-5);

    // item 0: the conv LoRA and the mixed one; item 1: the attention LoRA alone
    const split = await runBranched(rewritten, targets, 'unet', loras, [[0.7, 0, 1.2], [0, -0.4, 0]]);
    const first = await runModel(fuseDeltas(model, fusedDeltas(targets, [convs, some], [0.7, 1.2])), unetFeeds(11));
    const second = await runModel(fuseDeltas(model, fusedDeltas(targets, [attention], [-0.4])), unetFeeds(11));
    const half = split.out_sample.data.length / 2;
    expect(relError(split.out_sample.data.subarray(0, half), first.out_sample.data.subarray(0, half))).toBeLessThan(1e-5);
    expect(relError(split.out_sample.data.subarray(half), second.out_sample.data.subarray(half))).toBeLessThan(1e-5);
  });

  it('the slots decide which gate column each rank reads, whatever the order of the ranks', async () => {
    const { targets, rewritten } = await setup(UNET, 'unet');
    const a = randomLora(targets, 2, 17);
    const b = randomLora(targets.filter((t) => t.op !== 'Gemm'), 3, 18);
    const gates = [[1, 0.3], [-0.5, 2]];
    const inOrder = await runModel(rewritten, { ...unetFeeds(11), ...branchFeeds(targets, [a, b], gates) });
    const reversed = await runModel(rewritten, { ...unetFeeds(11), ...branchFeeds(targets, [a, b], gates, 'float32', { reversed: true }) });
    expect(relError(reversed.out_sample.data, inOrder.out_sample.data)).toBeLessThan(1e-6);
    // the same down/up with the slots of the other order read the wrong gate columns
    const wrong = { ...branchFeeds(targets, [a, b], gates, 'float32', { reversed: true }) };
    for (const t of targets) wrong[`lora.slots.${t.modulePath}`] = branchFeeds(targets, [a, b], gates)[`lora.slots.${t.modulePath}`];
    const mixed = await runModel(rewritten, { ...unetFeeds(11), ...wrong });
    expect(relError(mixed.out_sample.data, inOrder.out_sample.data)).toBeGreaterThan(1e-3);
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

  it('conv branches summed inside FusedConv (the CPU form) equal the fused weights, and rank 0 the original', async () => {
    const model = await loadFixture(UNET);
    const targets = findLoraTargets(model, 'unet');
    const rewritten = addLoraBranches(model, targets, { convSum: 'fused' });
    const nodes = rewritten.graph?.node ?? [];
    const convs = targets.filter((t) => t.op === 'Conv').length;
    expect(nodes.filter((n) => n.opType === 'FusedConv' && n.domain === 'com.microsoft')).toHaveLength(convs);
    expect(rewritten.opsetImport?.some((o) => o.domain === 'com.microsoft')).toBe(true);
    // the plain form has no contrib operator at all
    expect((addLoraBranches(model, targets).graph?.node ?? []).some((n) => n.domain)).toBe(false);

    const convLora = randomLora(targets.filter((t) => t.op === 'Conv'), 2, 21);
    const attention = randomLora(targets.filter((t) => t.op === 'MatMul'), 3, 22, 0.25);
    const weights = [0.9, -0.6];
    const branched = await runBranched(rewritten, targets, 'unet', [convLora, attention], [weights, [0.9, 0]]);
    const fused = await runModel(fuseDeltas(model, fusedDeltas(targets, [convLora, attention], weights)), inputsFor('unet'));
    const half = fused.out_sample.data.length / 2;
    expect(relError(branched.out_sample.data.subarray(0, half), fused.out_sample.data.subarray(0, half))).toBeLessThan(1e-5);
    const convOnly = await runModel(fuseDeltas(model, fusedDeltas(targets, [convLora], [0.9])), inputsFor('unet'));
    expect(relError(branched.out_sample.data.subarray(half), convOnly.out_sample.data.subarray(half))).toBeLessThan(1e-5);

    const zero = await runBranched(rewritten, targets, 'unet', [], [[], []]);
    const base = await runModel(model, inputsFor('unet'));
    expect(Array.from(zero.out_sample.data)).toEqual(Array.from(base.out_sample.data));
  });

  /** Another form of the text-encoder rewrite computes what the default one does, and rank 0 the original. */
  async function expectSameAsDefaultForm(variant: ModelProto, model: ModelProto, targets: LoraTarget[], seed: number): Promise<void> {
    const lora = randomLora(targets, 2, seed);
    const a = await runBranched(variant, targets, 'text_encoder', [lora], [[1], [0.5]]);
    const b = await runBranched(addLoraBranches(model, targets), targets, 'text_encoder', [lora], [[1], [0.5]]);
    expect(relError(a.last_hidden_state.data, b.last_hidden_state.data)).toBeLessThan(1e-6);
    expect(relError(a.text_embeds.data, b.text_embeds.data)).toBeLessThan(1e-6);
    const zero = await runBranched(variant, targets, 'text_encoder', [], [[], []]);
    const base = await runModel(model, textFeeds(2));
    expect(Array.from(zero.text_embeds.data)).toEqual(Array.from(base.text_embeds.data));
  }

  it('graphs older than opset 11 (no negative Flatten axis) get MatMul + Add branches that compute the same', async () => {
    const model = await loadFixture(TEXT);
    const targets = findLoraTargets(model, 'text_encoder');
    // rewritten as if the graph imported opset 10, then run with its real opset
    const old = addLoraBranches({ ...model, opsetImport: [{ domain: '', version: 10 }] }, targets);
    expect((old.graph?.node ?? []).some((n) => n.opType === 'Flatten')).toBe(false);
    expect((addLoraBranches(model, targets).graph?.node ?? []).some((n) => n.opType === 'Flatten')).toBe(true);
    await expectSameAsDefaultForm({ ...old, opsetImport: model.opsetImport }, model, targets, 23);
  });

  it('the rank-agnostic gate (for graphs without known ranks) computes the same', async () => {
    const model = await loadFixture(TEXT);
    const targets = findLoraTargets(model, 'text_encoder');
    const dynamic = addLoraBranches(model, targets, { rankAgnosticGate: true });
    expect((dynamic.graph?.node ?? []).some((n) => n.opType === 'ConstantOfShape')).toBe(true);
    await expectSameAsDefaultForm(dynamic, model, targets, 10);
  });

  it('gives fp16 graphs fp16 branch inputs, which upcast to float32 for CPU', async () => {
    const model = await loadFixture('tiny_unet_fp16.onnx');
    const targets = findLoraTargets(model, 'unet');
    const rewritten = addLoraBranches(model, targets);
    const specs = loraInputSpecs(rewritten);
    expect(specs[0].elemType).toBe(DataType.FLOAT);
    expect(specs.filter((s) => s.role === 'down' || s.role === 'up').every((s) => s.elemType === DataType.FLOAT16)).toBe(true);
    expect(specs.filter((s) => s.role === 'slots').every((s) => s.elemType === DataType.INT32)).toBe(true);

    const zero = await runModel(rewritten, { ...toHalfFeeds(unetFeeds(11)), ...branchFeeds(targets, [], [[], []], 'float16') });
    const original = await runModel(model, toHalfFeeds(unetFeeds(11)));
    expect(Array.from(zero.out_sample.data)).toEqual(Array.from(original.out_sample.data));

    const lora = randomLora(targets, 2, 12);
    const feeds = { ...toHalfFeeds(unetFeeds(11)), ...branchFeeds(targets, [lora], [[1], [1]], 'float16') };
    const half = await runModel(rewritten, feeds);
    const upcast = upcastToFloat32(rewritten);
    expect(loraInputSpecs(upcast).every((s) => s.elemType === (s.role === 'slots' ? DataType.INT32 : DataType.FLOAT))).toBe(true);
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
