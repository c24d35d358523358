import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Tensor } from 'onnxruntime-node';
import { addLoraBranches } from '../../src/engine/onnx/branches';
import { exposeTensor } from '../../src/engine/onnx/cuts';
import { constantTensor, indexGraph } from '../../src/engine/onnx/graph';
import { readModel } from '../../src/engine/onnx/io';
import { graphOf, tensorDims, type NodeProto, type TensorProto } from '../../src/engine/onnx/proto';
import { addRegionalAttention, moduleLevel, REGIONAL_ATTN_MAP } from '../../src/engine/onnx/regional';
import { findLoraTargets } from '../../src/engine/onnx/targets';
import { levelSize, rasterSpan, regionalFeeds, regionIds, type RegionalLayout } from '../../src/engine/model/regional-pass';
import { branchFeeds, f32, loadFixture, randomLora, runModel, toHalfFeeds, unetFeeds, type Feeds } from './helpers';

const GLYPH_UNET = fileURLToPath(new URL('../../models/glyph-sd/unet/model.onnx', import.meta.url));

function toTensors(feeds: Record<string, { data: Float32Array | Int32Array | Uint16Array; dims: readonly number[] }>): Feeds {
  const out: Feeds = {};
  for (const [k, v] of Object.entries(feeds)) out[k] = new Tensor(v.data instanceof Int32Array ? 'int32' : 'float32', v.data, v.dims as number[]);
  return out;
}

/** tiny_unet: one transformer block in down_blocks.0 (two heads), latent 8 x 8, 3 context tokens */
const SHAPE = { h: 8, w: 8, tokens: 3, blocks: [], totalRank: 0 };

/** Two boxes on the fixture (the left half, the lower right quarter), its 3 tokens one per slot; isolation and norm off. */
const TWO_BOXES: RegionalLayout = {
  boxes: [{ x0: 0, y0: 0, x1: 0.5, y1: 1 }, { x0: 0.5, y0: 0.5, x1: 1, y1: 1 }],
  tokenOwner: [0, 1, 2],
  loraRegion: [],
  isolation: false,
  gateLoras: true,
};

describe('regional attention rewrite', () => {
  it('biases attn1 and attn2 of every transformer block and gates every spatial LoRA branch', async () => {
    const model = await loadFixture('tiny_unet.onnx');
    const { info } = addRegionalAttention(model);
    expect(info.selfAttention).toBe(1);
    expect(info.crossAttention).toBe(1);
    expect(info.mapLevels).toEqual([0]);
    expect(info.spaceLevels).toEqual([]);
    const targets = findLoraTargets(model, 'unet');
    const lora = addRegionalAttention(addLoraBranches(model, targets)).info;
    expect(lora.tokenGated).toBe(2);
    // every other branch but the time-embedding linears (no positions) has a space mask
    const spatial = targets.filter((t) => !/attn2\.to_[kv]$/.test(t.modulePath) && (t.op === 'Conv' || /\.attentions\./.test(t.modulePath)));
    expect(lora.spaceGated).toBe(spatial.length);
    expect(lora.spaceLevels.length).toBeGreaterThan(1);
  });

  it('maps diffusers module paths to resolution levels', () => {
    expect(moduleLevel('down_blocks.1.attentions.0.transformer_blocks.0.attn1', 3)).toBe(1);
    expect(moduleLevel('down_blocks.1.downsamplers.0.conv', 3)).toBe(2);
    expect(moduleLevel('mid_block.attentions.0.proj_in', 3)).toBe(2);
    expect(moduleLevel('up_blocks.1.resnets.0.conv1', 3)).toBe(1);
    expect(moduleLevel('up_blocks.1.upsamplers.0.conv', 3)).toBe(0);
    expect(moduleLevel('conv_out', 3)).toBe(0);
    expect(moduleLevel('time_embedding.linear_1', 3)).toBeUndefined();
  });

  it('rasterises box edges with ceil / floor per level', () => {
    expect(levelSize(64, 0)).toBe(64);
    expect(levelSize(9, 2)).toBe(3);
    expect(rasterSpan(0.5, 1, 8)).toEqual([4, 8]);
    expect(rasterSpan(0.3, 0.7, 8)).toEqual([3, 5]);
    const ids = regionIds([{ x0: 0, y0: 0, x1: 0.5, y1: 1 }, { x0: 0.5, y0: 0, x1: 1, y1: 0.5 }], 2, 4);
    expect([...ids]).toEqual([1, 1, 2, 2, 1, 1, 0, 0]);
  });

  it('is bit-identical to the original graph with no regions', async () => {
    const model = await loadFixture('tiny_unet.onnx');
    const { model: regional, info } = addRegionalAttention(model, { attentionMap: true });
    const base = await runModel(model, unetFeeds(3));
    const out = await runModel(regional, { ...unetFeeds(3), ...toTensors(regionalFeeds(info, undefined, SHAPE)) });
    const name = Object.keys(base)[0];
    expect(out[name].data).toEqual(base[name].data);
  });

  it('is bit-identical to the LoRA graph with no regions (LoRA active, masks of ones)', async () => {
    const model = await loadFixture('tiny_unet.onnx');
    const targets = findLoraTargets(model, 'unet');
    const withLora = addLoraBranches(model, targets);
    const { model: regional, info } = addRegionalAttention(withLora);
    const loras = [randomLora(targets, 2, 5)];
    const feeds = { ...unetFeeds(4), ...branchFeeds(targets, loras, [[1], [0.5]]) };
    const base = await runModel(withLora, feeds);
    const shape = { ...SHAPE, blocks: [{ start: 0, width: 2 }], totalRank: 2 };
    const out = await runModel(regional, { ...feeds, ...toTensors(regionalFeeds(info, undefined, shape)) });
    const name = Object.keys(base)[0];
    expect(out[name].data).toEqual(base[name].data);
  });

  it('builds the cross and self biases from the small region map', async () => {
    const model = await loadFixture('tiny_unet.onnx');
    const { model: regional, info } = addRegionalAttention(model);
    const exposed = exposeTensor(exposeTensor(regional, 'regional.cross_bias.0'), 'regional.self_bias.0');
    const layout: RegionalLayout = { ...TWO_BOXES, isolation: true };
    const out = await runModel(exposed, { ...unetFeeds(1), ...toTensors(regionalFeeds(info, layout, SHAPE)) });
    const ids = regionIds(layout.boxes, 8, 8);
    const cross = out['regional.cross_bias.0'];
    const self = out['regional.self_bias.0'];
    expect(cross.dims).toEqual([1, 64, 3]);
    expect(self.dims).toEqual([1, 64, 64]);
    for (let q = 0; q < 64; q++) {
      for (let t = 0; t < 3; t++) expect(cross.data[q * 3 + t]).toBe(ids[q] === t ? 0 : -1e4);
      for (let k = 0; k < 64; k++) {
        const apart = ids[q] > 0 && ids[k] > 0 && ids[q] !== ids[k];
        expect(Math.abs(self.data[q * 64 + k])).toBe(apart ? 1e4 : 0);
      }
    }
  });

  it("group normalisation per region: each box from its own and the background's positions, the background from its own; off when fed 0", async () => {
    const model = await loadFixture('tiny_unet.onnx');
    // the fixture has one down block: its coarsest level, where the engine rewrites group
    // normalisations, is the latent's own, which holds all six
    expect(addRegionalAttention(model, { normLevels: [1] }).info.regionNorms).toBe(0);
    const { model: regional, info } = addRegionalAttention(model);
    expect(info.regionNorms).toBe(6);
    // the first resnet norm: its input x [N, C, 8, 8] and the normalised output (before the affine part)
    const index = indexGraph(graphOf(model));
    const norm = index.nodes.find((n) => n.opType === 'InstanceNormalization') as NodeProto;
    const x = index.producer.get(norm.input?.[0] ?? '')?.input?.[0] ?? '';
    const normed = index.consumers.get(norm.output?.[0] ?? '')?.[0].output?.[0] ?? '';
    const groups = tensorDims(constantTensor(index, norm.input?.[1] ?? '') as TensorProto)[0];
    const exposed = exposeTensor(exposeTensor(regional, x), normed);
    const layout: RegionalLayout = { ...TWO_BOXES, norm: true };
    const feeds = unetFeeds(7);
    const on = await runModel(exposed, { ...feeds, ...toTensors(regionalFeeds(info, layout, SHAPE)) });
    const off = await runModel(exposed, { ...feeds, ...toTensors(regionalFeeds(info, { ...layout, norm: false }, SHAPE)) });
    const plain = await runModel(exposeTensor(model, normed), feeds);
    expect(off[normed].data).toEqual(plain[normed].data);
    // the reference: per batch row, group and slot (background, box 1, box 2), mean and variance
    // over the group's channels at the slot's positions and, for a box, the background's
    const ids = regionIds(layout.boxes, 8, 8);
    const [N, C] = on[x].dims;
    const perGroup = C / groups;
    const xs = on[x].data;
    let worst = 0;
    for (let n = 0; n < N; n++) {
      for (let g = 0; g < groups; g++) {
        for (let slot = 0; slot < 3; slot++) {
          const at: number[] = [];
          const from: number[] = [];
          for (let c = g * perGroup; c < (g + 1) * perGroup; c++) {
            for (let q = 0; q < 64; q++) {
              if (ids[q] === slot) at.push((n * C + c) * 64 + q);
              if (ids[q] === slot || ids[q] === 0) from.push((n * C + c) * 64 + q);
            }
          }
          const mean = from.reduce((a, i) => a + xs[i], 0) / from.length;
          const variance = from.reduce((a, i) => a + (xs[i] - mean) ** 2, 0) / from.length;
          for (const i of at) worst = Math.max(worst, Math.abs(on[normed].data[i] - (xs[i] - mean) / Math.sqrt(variance + 1e-5)));
        }
      }
    }
    expect(worst).toBeLessThan(1e-4);
    expect(on[normed].data).not.toEqual(off[normed].data);
    // no boxes: one slot, the whole image: the exporter's normalisation up to rounding
    const single = await runModel(exposed, { ...feeds, ...toTensors(regionalFeeds(info, { ...layout, boxes: [], tokenOwner: [0, 0, 0] }, SHAPE)) });
    single[normed].data.forEach((v, i) => expect(Math.abs(v - plain[normed].data[i])).toBeLessThan(1e-4));
  });

  it('fp16 graphs: the per-region statistics run in float32 between casts; fed 0 the graph is unchanged', async () => {
    const model = await loadFixture('tiny_unet_fp16.onnx');
    const { model: regional, info } = addRegionalAttention(model, { normLevels: [0] });
    expect(info.regionNorms).toBe(6);
    const feeds = toHalfFeeds(unetFeeds(8));
    const layout: RegionalLayout = { boxes: [{ x0: 0, y0: 0, x1: 0.5, y1: 1 }], tokenOwner: [0, 1, 1], loraRegion: [], isolation: false, gateLoras: true, norm: true };
    const plain = await runModel(model, feeds);
    const off = await runModel(regional, { ...feeds, ...toTensors(regionalFeeds(info, undefined, SHAPE)) });
    const on = await runModel(regional, { ...feeds, ...toTensors(regionalFeeds(info, layout, SHAPE)) });
    const name = Object.keys(plain)[0];
    expect(off[name].data).toEqual(plain[name].data);
    expect(on[name].data.every(Number.isFinite)).toBe(true);
    expect(on[name].data).not.toEqual(off[name].data);
  });

  for (const form of ['folded into the gate columns', 'a mask per branch (dynamic gate shape)'] as const) {
    it(`a regional LoRA gated out everywhere is the LoRA switched off; ungated it acts (${form})`, async () => {
      const model = await loadFixture('tiny_unet.onnx');
      const targets = findLoraTargets(model, 'unet');
      const folded = form === 'folded into the gate columns';
      const { model: regional, info } = addRegionalAttention(addLoraBranches(model, targets, { rankAgnosticGate: !folded }));
      const names = (graphOf(regional).node ?? []).map((n) => n.name ?? '');
      // folded: the gate times the mask once per level and layout, no mask node per branch
      const perBranch = names.filter((n) => /\/(space|token)_mask$/.test(n)).length;
      if (folded) {
        expect(perBranch).toBe(0);
        expect(names.filter((n) => /^regional\.gate_(space|tokens)/.test(n)).length).toBeGreaterThan(0);
      } else {
        // the dynamic-gate linears keep a mask each; convs still read a [B, R, 1, 1] gate view
        expect(perBranch).toBeGreaterThan(0);
      }
      // a LoRA on every layer with positions or tokens (the time-embedding linears have neither and stay global)
      const positional = targets.filter((t) => t.op === 'Conv' || /\.attentions\./.test(t.modulePath));
      const loras = [randomLora(positional, 2, 9)];
      const shape = { ...SHAPE, blocks: [{ start: 0, width: 2 }], totalRank: 2 };
      // region 0 gets no token and (at 8 x 8 and coarser) no position: its LoRA must vanish from every layer
      const layout: RegionalLayout = { boxes: [{ x0: 0, y0: 0, x1: 0.01, y1: 0.01 }], tokenOwner: [0, 0, 0], loraRegion: [0], isolation: false, gateLoras: true };
      const run = (weight: number, l: RegionalLayout) => runModel(regional, { ...unetFeeds(6), ...branchFeeds(targets, loras, [[weight], [weight]]), ...toTensors(regionalFeeds(info, l, shape)) });
      const gated = await run(1, layout);
      const off = await run(0, layout);
      const ungated = await run(1, { ...layout, gateLoras: false, tokenOwner: [1, 1, 1] });
      const name = Object.keys(off)[0];
      expect(gated[name].data).toEqual(off[name].data);
      expect(ungated[name].data).not.toEqual(off[name].data);
    });
  }

  it('the folded and the per-branch LoRA masks give the same outputs for a box', async () => {
    const model = await loadFixture('tiny_unet.onnx');
    const targets = findLoraTargets(model, 'unet');
    const positional = targets.filter((t) => t.op === 'Conv' || /\.attentions\./.test(t.modulePath));
    const loras = [randomLora(positional, 2, 5), randomLora(positional, 3, 6)];
    const shape = { ...SHAPE, blocks: [{ start: 0, width: 2 }, { start: 2, width: 3 }], totalRank: 5 };
    // the first LoRA bound to the left half (token 1), the second global
    const layout: RegionalLayout = { boxes: [{ x0: 0, y0: 0, x1: 0.5, y1: 1 }], tokenOwner: [0, 1, 0], loraRegion: [0, -1], isolation: true, gateLoras: true };
    const outputs = [];
    for (const [rankAgnosticGate, l] of [[false, layout], [true, layout], [false, { ...layout, gateLoras: false }]] as const) {
      const { model: regional, info } = addRegionalAttention(addLoraBranches(model, targets, { rankAgnosticGate }));
      outputs.push(await runModel(regional, { ...unetFeeds(6), ...branchFeeds(targets, loras, [[1, 0.7], [1, 0.7]]), ...toTensors(regionalFeeds(info, l, shape)) }));
    }
    const name = Object.keys(outputs[0])[0];
    const [a, b, ungated] = outputs.map((o) => o[name].data as Float32Array);
    const maxDiff = (x: Float32Array, y: Float32Array) => Math.max(...x.map((v, i) => Math.abs(v - y[i])));
    expect(maxDiff(a, b)).toBeLessThan(1e-5);
    // and the box gate matters on this input
    expect(maxDiff(a, ungated)).toBeGreaterThan(1e-3);
  });

  it('the embedded UNet: biases every attention layer, exposes the coarsest cross-attention map, unchanged without regions', async () => {
    const model = await readModel(GLYPH_UNET);
    const { model: regional, info } = addRegionalAttention(model, { attentionMap: true });
    expect(info.selfAttention).toBe(7);
    expect(info.crossAttention).toBe(7);
    expect(info.attentionMapLevel).toBe(1);
    // 30 GroupNorms; the 20 at the two coarsest levels (down_blocks.1 and .2, mid_block, up_blocks.0 and .1) work per region
    expect(info.regionNorms).toBe(20);
    expect(addRegionalAttention(model, { normLevels: [0, 1, 2] }).info.regionNorms).toBe(30);
    const r = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.8);
    const feeds: Feeds = {
      sample: f32(r(2 * 4 * 16 * 16), [2, 4, 16, 16]),
      timestep: f32(Float32Array.of(500, 500), [2]),
      encoder_hidden_states: f32(r(2 * 77 * 64), [2, 77, 64]),
    };
    const base = await runModel(model, feeds);
    const shape = { h: 16, w: 16, tokens: 77, blocks: [], totalRank: 0 };
    const out = await runModel(regional, { ...feeds, ...toTensors(regionalFeeds(info, undefined, shape)) });
    const name = Object.keys(base)[0];
    expect(out[name].data).toEqual(base[name].data);
    expect(out[REGIONAL_ATTN_MAP].dims).toEqual([2, 64, 77]);
    // probabilities averaged: each position's row sums to 1
    const row = out[REGIONAL_ATTN_MAP].data.slice(0, 77).reduce((a, b) => a + b, 0);
    expect(row).toBeCloseTo(1, 4);
  });
});
