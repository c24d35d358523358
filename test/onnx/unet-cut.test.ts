import { Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { floatArrayToHalf } from '../../src/engine/half';
import { loadLora } from '../../src/engine/lora/load';
import { addLoraBranches, loraInputSpecs } from '../../src/engine/onnx/branches';
import { readModel } from '../../src/engine/onnx/io';
import { DataType, graphOf, type ModelProto } from '../../src/engine/onnx/proto';
import { findLoraTargets } from '../../src/engine/onnx/targets';
import {
  DEEP_FEATURE,
  UNET_CUT_VERSION,
  blockNodeCounts,
  cutUnet,
  exposeDeepFeature,
  findUnetCut,
  shallowUnet,
  unetCutPart,
} from '../../src/engine/onnx/unet-cut';
import type { LoraTarget } from '../../src/engine/lora/types';
import { branchFeeds, relError, f32, loadFixture, randomArray, randomLora, rng, runModel, toHalfFeeds, unetFeeds, type Feeds, type TestLora } from './helpers';

const GLYPH_UNET = 'models/glyph-sd/unet/model.onnx';

/** Inputs for the embedded UNet: latents [b, 4, 16, 16], 77 context tokens of width 64. */
function glyphFeeds(seed: number, batch = 2): Feeds {
  const r = rng(seed);
  return {
    sample: f32(randomArray(r, batch * 4 * 16 * 16), [batch, 4, 16, 16]),
    timestep: f32(Float32Array.from({ length: batch }, () => 601), [batch]),
    encoder_hidden_states: f32(randomArray(r, batch * 77 * 64), [batch, 77, 64]),
  };
}

const names = (model: ModelProto, what: 'input' | 'output'): string[] => (graphOf(model)[what] ?? []).map((v) => v.name ?? '');

/**
 * Runs the full graph, then the shallow graph on the same feeds plus the full pass's deep feature.
 * Both are compared bit for bit: the shallow graph is the same nodes on the same inputs, and ONNX
 * Runtime's CPU kernels are deterministic for a given graph, so any difference would be a wrong cut.
 */
async function fullThenShallow(model: ModelProto, feeds: Feeds) {
  const { full, shallow } = cutUnet(model);
  const reference = await runModel(model, feeds);
  const f = await runModel(full, feeds);
  const s = await runModel(shallow, { ...feeds, [DEEP_FEATURE]: f32(f[DEEP_FEATURE].data, [...f[DEEP_FEATURE].dims]) });
  return { full, shallow, reference: reference.out_sample, fullOut: f.out_sample, deep: f[DEEP_FEATURE], shallowOut: s.out_sample };
}

/** The zorb LoRA in the test helpers' layout (all its UNet modules share one rank and alpha). */
async function zorb(targets: LoraTarget[]): Promise<TestLora> {
  const loaded = await loadLora('models/glyph-sd/loras/zorb.safetensors', targets);
  const byPath = new Map(targets.map((t) => [t.modulePath, t]));
  const unet = loaded.modules.filter((m) => m.part === 'unet');
  expect(unet.length).toBeGreaterThan(10);
  expect(new Set(unet.map((m) => `${m.rank}/${m.scale}`)).size).toBe(1);
  const modules = new Map(unet.map((m) => [m.modulePath, { target: byPath.get(m.modulePath) as LoraTarget, down: m.down, up: m.up }]));
  return { rank: unet[0].rank, scale: unet[0].scale, modules };
}

describe('findUnetCut', () => {
  it('finds the hidden state entering the last up block, not a skip or the shared time embedding', async () => {
    // the toy has no mid block: the feature comes from the down block's downsampler, next to the
    // shared SiLU(temb) that the same block hands to the up block
    expect(findUnetCut(await loadFixture('tiny_unet.onnx'))).toEqual({
      tensor: '/down_blocks.0/downsamplers.0/conv/Conv_output_0',
      elemType: DataType.FLOAT,
      lastUpBlock: 'up_blocks.0',
      source: 'down_blocks.0',
    });
    expect(findUnetCut(await readModel(GLYPH_UNET))).toEqual({
      tensor: '/up_blocks.1/upsamplers.0/conv/Conv_output_0',
      elemType: DataType.FLOAT,
      lastUpBlock: 'up_blocks.2',
      source: 'up_blocks.1',
    });
    expect(findUnetCut(await loadFixture('tiny_unet_fp16.onnx')).elemType).toBe(DataType.FLOAT16);
  });

  it('finds the same cut in a LoRA-rewritten graph, in each branch form', async () => {
    const model = await readModel(GLYPH_UNET);
    const targets = findLoraTargets(model, 'unet');
    for (const options of [{}, { convSum: 'fused' as const }, { rankAgnosticGate: true }]) {
      expect(findUnetCut(addLoraBranches(model, targets, options))).toEqual(findUnetCut(model));
    }
  });

  it('says clearly when a UNet has no recognisable up blocks', async () => {
    const model = await loadFixture('tiny_unet.onnx');
    const renamed = (rename: (name: string) => string): ModelProto => ({
      ...model,
      graph: { ...graphOf(model), node: (graphOf(model).node ?? []).map((n) => ({ ...n, name: rename(n.name ?? '') })) },
    });
    // an export with other block names, and one without scoped node names at all
    for (const odd of [renamed((n) => n.replace('/up_blocks.0/', '/decoder/')), renamed(() => 'Conv_7')]) {
      expect(() => findUnetCut(odd)).toThrow(expect.objectContaining({ code: 'ONNX_GRAPH', message: expect.stringMatching(/no nodes named after up blocks/) }));
      expect(() => cutUnet(odd)).toThrow(/cannot be cut out/);
    }
    // scoped, but conv_in unnamed: the feature cannot be told from the time embedding
    expect(() => findUnetCut(renamed((n) => n.replace('/conv_in/', '/stem/')))).toThrow(/no conv_in node/);
  });

  it('refuses a cut whose shallow graph would still run the blocks it skips', async () => {
    const model = await readModel(GLYPH_UNET);
    // the same graph, but the skip's transformer named as if it belonged to the second down block
    const moved: ModelProto = {
      ...model,
      graph: { ...graphOf(model), node: (graphOf(model).node ?? []).map((n) => ({ ...n, name: (n.name ?? '').replace('/down_blocks.0/attentions.0/', '/down_blocks.1/attentions.7/') })) },
    };
    expect(() => shallowUnet(moved)).toThrow(/would still run \d+ heavy nodes of the blocks it skips/);
  });

  it('refuses to cut a shallow graph again', async () => {
    const { shallow } = cutUnet(await loadFixture('tiny_unet.onnx'));
    expect(() => findUnetCut(shallow)).toThrow(/already the shallow part/);
  });
});

describe('cutUnet on the tiny UNet', () => {
  it('a shallow pass fed the full pass deep feature reproduces the full output bit for bit', async () => {
    const model = await loadFixture('tiny_unet.onnx');
    const r = await fullThenShallow(model, unetFeeds(11));
    expect(names(r.full, 'output')).toEqual(['out_sample', DEEP_FEATURE]);
    expect(names(r.shallow, 'input')).toEqual(['sample', 'timestep', 'encoder_hidden_states', DEEP_FEATURE]);
    expect(names(r.shallow, 'output')).toEqual(['out_sample']);
    expect(r.deep.dims).toEqual([2, 8, 4, 4]);
    expect(Array.from(r.fullOut.data)).toEqual(Array.from(r.reference.data));
    expect(Array.from(r.shallowOut.data)).toEqual(Array.from(r.fullOut.data));
    // the shallow graph really depends on the fed feature
    const other = await runModel(r.shallow, { ...unetFeeds(11), [DEEP_FEATURE]: f32(new Float32Array(r.deep.data.length), [...r.deep.dims]) });
    expect(Array.from(other.out_sample.data)).not.toEqual(Array.from(r.fullOut.data));
    // only SiLU(temb) of the down block stays, the exporter shares it with the up block
    expect(blockNodeCounts(r.shallow).get('down_blocks.0')).toBe(2);
    expect(blockNodeCounts(r.shallow).get('up_blocks.0')).toBe(blockNodeCounts(model).get('up_blocks.0'));
  });

  // ONNX Runtime's CPU provider runs most fp16 ops in fp32 between Casts and drops the Cast pairs
  // between two such ops, so inside the full graph the feature reaches the up block unrounded,
  // while the output (and so the fed input) is rounded to fp16: equal to within fp16 rounding,
  // not bit for bit (checked: the same holds with every graph optimisation disabled)
  it('works on fp16 graphs, to within fp16 rounding on the CPU', async () => {
    const model = await loadFixture('tiny_unet_fp16.onnx');
    const { full, shallow } = cutUnet(model);
    const half = toHalfFeeds(unetFeeds(12));
    const f = await runModel(full, half);
    // runModel hands outputs back as float32; fp16 -> fp32 -> fp16 is exact
    const deep = new Tensor('float16', floatArrayToHalf(f[DEEP_FEATURE].data), [...f[DEEP_FEATURE].dims]);
    const s = await runModel(shallow, { ...half, [DEEP_FEATURE]: deep });
    expect(graphOf(full).output?.[1].type?.tensorType?.elemType).toBe(DataType.FLOAT16);
    expect(relError(s.out_sample.data, f.out_sample.data)).toBeLessThan(2e-3);
  });

  it('keeps every input of a LoRA-rewritten graph, so one set of feeds serves both passes', async () => {
    const model = await loadFixture('tiny_unet.onnx');
    const targets = findLoraTargets(model, 'unet');
    const rewritten = addLoraBranches(model, targets);
    const feeds = { ...unetFeeds(13), ...branchFeeds(targets, [randomLora(targets, 2, 3)], [[1], [0.7]]) };
    const r = await fullThenShallow(rewritten, feeds);
    expect(names(r.shallow, 'input')).toEqual([...names(rewritten, 'input'), DEEP_FEATURE]);
    expect(loraInputSpecs(r.shallow)).toEqual(loraInputSpecs(rewritten));
    expect(Array.from(r.shallowOut.data)).toEqual(Array.from(r.fullOut.data));
  });

  it('marks both graphs with the cut version, and exposing twice changes nothing', async () => {
    const model = await loadFixture('tiny_unet.onnx');
    const { full, shallow } = cutUnet(model);
    expect(unetCutPart(full)).toBe('full');
    expect(unetCutPart(shallow)).toBe('shallow');
    expect(unetCutPart(model)).toBeUndefined();
    expect(JSON.stringify(full.metadataProps)).toContain(UNET_CUT_VERSION);
    expect(exposeDeepFeature(full)).toBe(full);
    // the shallow graph of the full graph is the shallow graph of the original
    expect(names(shallowUnet(full), 'output')).toEqual(['out_sample']);
    expect(graphOf(shallowUnet(full)).node?.length).toBe(graphOf(shallow).node?.length);
  });
});

describe('cutUnet on the embedded UNet', () => {
  it('keeps time embedding, conv_in, the first down block, the last up block and conv_out', async () => {
    const model = await readModel(GLYPH_UNET);
    const { shallow } = cutUnet(model);
    const before = blockNodeCounts(model);
    const after = blockNodeCounts(shallow);
    for (const gone of ['mid_block', 'down_blocks.1', 'down_blocks.2', 'up_blocks.0', 'up_blocks.1']) {
      expect(before.get(gone)).toBeGreaterThan(0);
      expect(after.has(gone)).toBe(false);
    }
    for (const kept of ['time_proj', 'time_embedding', 'conv_in', 'up_blocks.2', 'conv_norm_out', 'conv_out']) {
      expect(after.get(kept)).toBe(before.get(kept));
    }
    // the first down block feeds the skips; only its downsampler (one Conv) goes
    expect(after.get('down_blocks.0')).toBe((before.get('down_blocks.0') ?? 0) - 1);
    const nodes = graphOf(shallow).node ?? [];
    expect(nodes.some((n) => n.name?.startsWith('/down_blocks.0/downsamplers.0/'))).toBe(false);
    // no weights of the skipped blocks are carried
    expect(graphOf(shallow).initializer?.some((t) => /^(mid_block|up_blocks\.[01]|down_blocks\.[12])\./.test(t.name ?? ''))).toBe(false);
  });

  it('a shallow pass fed the full pass deep feature reproduces the full output bit for bit', async () => {
    const model = await readModel(GLYPH_UNET);
    const r = await fullThenShallow(model, glyphFeeds(21));
    expect(r.deep.dims).toEqual([2, 64, 16, 16]);
    expect(Array.from(r.fullOut.data)).toEqual(Array.from(r.reference.data));
    expect(Array.from(r.shallowOut.data)).toEqual(Array.from(r.fullOut.data));
  });

  it('does so with the zorb LoRA active in the LoRA-rewritten UNet', async () => {
    const model = await readModel(GLYPH_UNET);
    const targets = findLoraTargets(model, 'unet');
    const lora = await zorb(targets);
    const feeds = glyphFeeds(22);
    const on = { ...feeds, ...branchFeeds(targets, [lora], [[1], [1]]) };
    // the CPU form sums conv branches in FusedConv (com.microsoft)
    const fused = await fullThenShallow(addLoraBranches(model, targets, { convSum: 'fused' }), on);
    expect(Array.from(fused.shallowOut.data)).toEqual(Array.from(fused.fullOut.data));
    const rewritten = addLoraBranches(model, targets);
    const r = await fullThenShallow(rewritten, on);
    expect(Array.from(r.shallowOut.data)).toEqual(Array.from(r.fullOut.data));
    // the LoRA is really active, in the shallow part too: a LoRA-off deep feature + LoRA-on
    // shallow pass differs from both the LoRA-on and the LoRA-off full pass
    const off = await runModel(cutUnet(rewritten).full, { ...feeds, ...branchFeeds(targets, [lora], [[0], [0]]) });
    expect(Array.from(off.out_sample.data)).not.toEqual(Array.from(r.fullOut.data));
    const mixed = await runModel(r.shallow, { ...on, [DEEP_FEATURE]: f32(off[DEEP_FEATURE].data, [...off[DEEP_FEATURE].dims]) });
    expect(Array.from(mixed.out_sample.data)).not.toEqual(Array.from(r.fullOut.data));
    expect(Array.from(mixed.out_sample.data)).not.toEqual(Array.from(off.out_sample.data));
  });
});
