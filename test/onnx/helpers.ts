/** Shared bits of the ONNX tests: fixtures, a seeded random source, running a model in memory. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { encodeModel, type ModelProto } from '../../src/engine/onnx/proto';
import { readModel } from '../../src/engine/onnx/io';
import { floatArrayToHalf } from '../../src/engine/half';
import { NoiseGenerator } from '../../src/engine/schedulers/noise';
import type { LoraTarget } from '../../src/engine/lora/types';

export const FIXTURES = fileURLToPath(new URL('../fixtures/onnx', import.meta.url));

export function fixture(name: string): string {
  return path.join(FIXTURES, name);
}

export async function loadFixture(name: string): Promise<ModelProto> {
  return readModel(fixture(name));
}

/** Seeded uniform [0, 1) test data, from the engine's own generator. */
export function rng(seed: number): () => number {
  const g = new NoiseGenerator(seed);
  return () => g.nextUniform();
}

/** Uniform values in [-scale, scale). */
export function randomArray(random: () => number, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (random() * 2 - 1) * scale;
  return out;
}

export type Feeds = Record<string, Tensor>;

export function f32(data: Float32Array, dims: number[]): Tensor {
  return new Tensor('float32', data, dims);
}

/** Runs an in-memory model (no external data) once and returns all outputs as float32 arrays. */
export async function runModel(model: ModelProto, feeds: Feeds): Promise<Record<string, { data: Float32Array; dims: readonly number[] }>> {
  const session = await InferenceSession.create(encodeModel(model));
  return runSession(session, feeds);
}

export async function runSession(session: InferenceSession, feeds: Feeds): Promise<Record<string, { data: Float32Array; dims: readonly number[] }>> {
  try {
    const out = await session.run(feeds);
    const result: Record<string, { data: Float32Array; dims: readonly number[] }> = {};
    for (const [name, t] of Object.entries(out)) result[name] = { data: toFloat32(t), dims: t.dims };
    return result;
  } finally {
    await session.release();
  }
}

function toFloat32(t: Tensor): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  if (t.type === 'float16') {
    const bits = t.data as Uint16Array;
    const out = new Float32Array(bits.length);
    for (let i = 0; i < bits.length; i++) out[i] = halfBitsToFloat(bits[i]);
    return out;
  }
  throw new Error(`unexpected output type ${t.type}`);
}

function halfBitsToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Largest |a - b| / (max |b| + tiny): one relative error figure for a whole tensor. */
export function relError(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let diff = 0;
  let mag = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    mag = Math.max(mag, Math.abs(b[i]));
  }
  return diff / (mag + 1e-12);
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** Inputs for tiny_unet.onnx: sample [b,4,8,8], timestep [b], encoder_hidden_states [b,3,6]. */
export function unetFeeds(seed: number, batch = 2): Feeds {
  const r = rng(seed);
  return {
    sample: f32(randomArray(r, batch * 4 * 8 * 8), [batch, 4, 8, 8]),
    timestep: f32(Float32Array.from({ length: batch }, (_, i) => 100 + 350 * i), [batch]),
    encoder_hidden_states: f32(randomArray(r, batch * 3 * 6), [batch, 3, 6]),
  };
}

/** Inputs for tiny_text_encoder*.onnx: input_ids [b,4] in a 16-token vocabulary. */
export function textFeeds(batch = 2): Feeds {
  const ids = BigInt64Array.from({ length: batch * 4 }, (_, i) => BigInt((i * 5 + 1) % 16));
  return { input_ids: new Tensor('int64', ids, [batch, 4]) };
}

// ---- LoRA test data ---------------------------------------------------------------------------

/** One module of a test LoRA in PyTorch/kohya layout: down [R, in(, kh, kw)], up [out, R]. */
export interface TestModule {
  target: LoraTarget;
  down: Float32Array;
  up: Float32Array;
}

export interface TestLora {
  rank: number;
  /** alpha / rank */
  scale: number;
  modules: Map<string, TestModule>;
}

function kernelSize(t: LoraTarget): number {
  return t.conv ? t.conv.kernel[0] * t.conv.kernel[1] : 1;
}

export function randomLora(targets: LoraTarget[], rank: number, seed: number, scale = 0.5): TestLora {
  const r = rng(seed);
  const modules = new Map<string, TestModule>();
  for (const t of targets) {
    modules.set(t.modulePath, {
      target: t,
      down: randomArray(r, rank * t.inFeatures * kernelSize(t), 0.5),
      up: randomArray(r, t.outFeatures * rank, 0.5),
    });
  }
  return { rank, scale, modules };
}

/** weight x scale x up @ down, in PyTorch weight layout [out, in(, kh, kw)]. */
export function loraDelta(lora: TestLora, modulePath: string, weight: number): { delta: Float32Array; shape: number[] } | undefined {
  const m = lora.modules.get(modulePath);
  if (!m) return undefined;
  const t = m.target;
  const cols = t.inFeatures * kernelSize(t);
  const delta = new Float32Array(t.outFeatures * cols);
  for (let o = 0; o < t.outFeatures; o++) {
    for (let r = 0; r < lora.rank; r++) {
      const u = m.up[o * lora.rank + r] * lora.scale * weight;
      for (let c = 0; c < cols; c++) delta[o * cols + c] += u * m.down[r * cols + c];
    }
  }
  const shape = t.conv ? [t.outFeatures, t.inFeatures, ...t.conv.kernel] : [t.outFeatures, t.inFeatures];
  return { delta, shape };
}

/** Sum of the weighted deltas of several LoRAs, as fuseDeltas takes them. */
export function fusedDeltas(targets: LoraTarget[], loras: TestLora[], weights: number[]): Map<string, { delta: Float32Array; shape: number[] }> {
  const out = new Map<string, { delta: Float32Array; shape: number[] }>();
  for (const t of targets) {
    let sum: { delta: Float32Array; shape: number[] } | undefined;
    loras.forEach((l, k) => {
      const d = loraDelta(l, t.modulePath, weights[k]);
      if (!d) return;
      if (!sum) sum = d;
      else for (let i = 0; i < d.delta.length; i++) sum.delta[i] += d.delta[i];
    });
    if (sum) out.set(t.modulePath, sum);
  }
  return out;
}

/**
 * Branch inputs for several LoRAs at once, in the layout the engine feeds: the gate [batch, R]
 * gives LoRA k a block of its rank (gates[b][k] x scale_k); each layer carries only the ranks of
 * the LoRAs that have a module there (rank 0 if none), and its slots name their gate columns.
 * `reversed` lists a layer's ranks in reverse order (with matching slots): the same branch.
 */
export function branchFeeds(
  targets: LoraTarget[],
  loras: TestLora[],
  gates: number[][],
  dtype: 'float32' | 'float16' = 'float32',
  options: { reversed?: boolean } = {},
): Feeds {
  const R = loras.reduce((s, l) => s + l.rank, 0);
  const starts = loras.map((_, k) => loras.slice(0, k).reduce((s, l) => s + l.rank, 0));
  const feeds: Feeds = {};
  const gate = new Float32Array(gates.length * R);
  gates.forEach((g, b) => loras.forEach((l, k) => gate.fill(g[k] * l.scale, b * R + starts[k], b * R + starts[k] + l.rank)));
  feeds['lora.gate'] = f32(gate, [gates.length, R]);
  const float = (data: Float32Array, dims: number[]) => (dtype === 'float32' ? f32(data, dims) : new Tensor('float16', floatArrayToHalf(data), dims));
  for (const t of targets) {
    // (LoRA, rank within it) of each of the layer's ranks
    const ranks: [number, number][] = [];
    loras.forEach((l, k) => {
      if (l.modules.has(t.modulePath)) for (let r = 0; r < l.rank; r++) ranks.push([k, r]);
    });
    if (options.reversed) ranks.reverse();
    const rank = ranks.length;
    const cols = t.inFeatures * kernelSize(t);
    const down = new Float32Array(rank * cols);
    const up = new Float32Array(t.outFeatures * rank);
    ranks.forEach(([k, r], j) => {
      const m = loras[k].modules.get(t.modulePath) as TestModule;
      if (t.conv) down.set(m.down.subarray(r * cols, (r + 1) * cols), j * cols);
      else for (let i = 0; i < t.inFeatures; i++) down[i * rank + j] = m.down[r * cols + i];
      // linear up input is [rank, out]; conv up input is [out, rank, 1, 1]
      for (let o = 0; o < t.outFeatures; o++) up[t.conv ? o * rank + j : j * t.outFeatures + o] = m.up[o * loras[k].rank + r];
    });
    feeds[`lora.down.${t.modulePath}`] = float(down, t.conv ? [rank, t.inFeatures, ...t.conv.kernel] : [t.inFeatures, rank]);
    feeds[`lora.up.${t.modulePath}`] = float(up, t.conv ? [t.outFeatures, rank, 1, 1] : [rank, t.outFeatures]);
    feeds[`lora.slots.${t.modulePath}`] = new Tensor('int32', Int32Array.from(ranks, ([k, r]) => starts[k] + r), [rank]);
  }
  return feeds;
}

/** Converts float32 feeds to float16 (for fp16 graphs). */
export function toHalfFeeds(feeds: Feeds, except: string[] = []): Feeds {
  const out: Feeds = {};
  for (const [k, v] of Object.entries(feeds)) {
    out[k] = v.type === 'float32' && !except.includes(k) ? new Tensor('float16', floatArrayToHalf(v.data as Float32Array), v.dims) : v;
  }
  return out;
}
