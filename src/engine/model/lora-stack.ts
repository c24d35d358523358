/**
 * Several LoRAs as the inputs of one rewritten graph (docs/runtime-lora.md, "Feeding it").
 *
 * The graph computes y = xW + ((x down_P) * gate[:, slots_P]) up_P for every target layer P
 * (onnx/branches.ts). The shared gate [batch, R] gives each LoRA k a block of R_k columns (its
 * largest rank in this part). Each layer carries only the ranks of the LoRAs that touch it, one
 * after another, and its slots name the gate column of each of them; a layer no LoRA touches has
 * rank 0 and costs no arithmetic. Concatenating ranks this way sums the LoRAs. The file's
 * alpha/rank scale is folded into `up`, so the gate only carries what changes between passes:
 * each LoRA's user weight (0 = off), per batch row.
 *
 * Down, up and slots are built once per set of LoRAs (for an fp16 graph, converted to half once
 * here); a pass only builds the small gate.
 */
import { ChordError } from '../errors';
import type { LoraModule, ModelPart } from '../lora/types';
import { toHalf } from '../tensor';
import type { Feed, InputInfo } from './session';

export const LORA_GATE = 'lora.gate';
export const LORA_DOWN_PREFIX = 'lora.down.';
export const LORA_UP_PREFIX = 'lora.up.';
export const LORA_SLOTS_PREFIX = 'lora.slots.';

/** One LoRA's modules for one model part. */
export interface LoraForPart {
  modules: readonly LoraModule[];
}

/** A target layer as the rewritten graph declares it, read from its input shapes. */
export interface BranchInput {
  modulePath: string;
  kind: 'linear' | 'conv';
  inFeatures: number;
  outFeatures: number;
  /** conv only */
  kernel: [number, number];
  /** element type of down/up: an fp16 graph takes them in half precision */
  type: 'float32' | 'float16';
}

/**
 * The branch layers of a rewritten graph, from its `lora.down.*` / `lora.up.*` / `lora.slots.*`
 * inputs:  linear: down [in, r], up [r, out];   conv: down [r, in, kh, kw], up [out, r, 1, 1];
 * slots [r] int32. A graph without a `lora.gate` input has no branches (an original graph):
 * returns undefined.
 */
export function branchInputs(inputs: ReadonlyMap<string, InputInfo>, label: string): BranchInput[] | undefined {
  if (!inputs.has(LORA_GATE)) return undefined;
  const out: BranchInput[] = [];
  for (const info of inputs.values()) {
    if (!info.name.startsWith(LORA_DOWN_PREFIX)) continue;
    const modulePath = info.name.slice(LORA_DOWN_PREFIX.length);
    const up = inputs.get(LORA_UP_PREFIX + modulePath);
    const slots = inputs.get(LORA_SLOTS_PREFIX + modulePath);
    const bad = () => new ChordError('MODEL_INVALID', `${label}: LoRA inputs of ${modulePath} have unexpected shapes.`, 'Delete the Chord cache folder so the graph is rewritten.');
    if (!up || !slots || slots.type !== 'int32' || slots.shape.length !== 1) throw bad();
    if (info.type !== up.type || (info.type !== 'float32' && info.type !== 'float16')) throw bad();
    const type = info.type;
    const d = info.shape;
    const u = up.shape;
    if (d.length === 2 && u.length === 2 && typeof d[0] === 'number' && typeof u[1] === 'number') {
      out.push({ modulePath, kind: 'linear', inFeatures: d[0], outFeatures: u[1], kernel: [1, 1], type });
    } else if (d.length === 4 && u.length === 4 && typeof d[1] === 'number' && typeof d[2] === 'number' && typeof d[3] === 'number' && typeof u[0] === 'number') {
      out.push({ modulePath, kind: 'conv', inFeatures: d[1], outFeatures: u[0], kernel: [d[2], d[3]], type });
    } else {
      throw bad();
    }
  }
  return out;
}

/** Where each LoRA sits on the shared gate. */
export interface RankBlock {
  start: number;
  width: number;
}

export class LoraStack {
  /** width R of the shared gate: every LoRA's block side by side */
  readonly totalRank: number;
  readonly blocks: readonly RankBlock[];
  /** rank of each layer: the sum of the ranks of the LoRAs that touch it (0 for none) */
  readonly layerRanks: ReadonlyMap<string, number>;
  /** constant down/up/slots inputs, by input name */
  private readonly constants: Record<string, Feed>;

  constructor(
    readonly part: ModelPart,
    branches: readonly BranchInput[],
    loras: readonly LoraForPart[],
  ) {
    const byPath = new Map(branches.map((b) => [b.modulePath, b]));
    // the modules of each layer, in LoRA order
    const touching = new Map<string, { lora: number; module: LoraModule }[]>(branches.map((b) => [b.modulePath, []]));
    const blocks: RankBlock[] = [];
    let start = 0;
    loras.forEach((lora, k) => {
      let width = 0;
      for (const m of lora.modules) {
        // mapping was done against this graph's targets; a miss is a rewrite gap
        if (m.part !== part || !byPath.has(m.modulePath)) continue;
        width = Math.max(width, m.rank);
        touching.get(m.modulePath)?.push({ lora: k, module: m });
      }
      blocks.push({ start, width });
      start += width;
    });
    this.totalRank = start;
    this.blocks = blocks;

    const constants: Record<string, Feed> = {};
    const layerRanks = new Map<string, number>();
    for (const b of branches) {
      const modules = touching.get(b.modulePath) ?? [];
      const layer = layerInputs(b, modules, blocks);
      layerRanks.set(b.modulePath, layer.rank);
      const half = (a: Float32Array): Float32Array | Uint16Array => (b.type === 'float16' ? toHalf(a) : a);
      constants[LORA_DOWN_PREFIX + b.modulePath] = { data: half(layer.down), dims: layer.downDims };
      constants[LORA_UP_PREFIX + b.modulePath] = { data: half(layer.up), dims: layer.upDims };
      constants[LORA_SLOTS_PREFIX + b.modulePath] = { data: layer.slots, dims: [layer.rank] };
    }
    this.layerRanks = layerRanks;
    this.constants = constants;
  }

  /**
   * All LoRA inputs for one pass: the constant down/up/slots plus a gate [batch, R] whose block k
   * holds `weights[k]` in every row (0 turns LoRA k off for this pass).
   */
  feeds(weights: readonly number[], batch: number): Record<string, Feed> {
    return this.rowFeeds(Array.from({ length: batch }, () => weights));
  }

  /**
   * All LoRA inputs for one pass whose batch rows have LoRA weights of their own: row i of the
   * gate holds `rows[i]`. This is what lets several LoRA configurations (Composite's "each LoRA
   * alone") run as one batched UNet call.
   */
  rowFeeds(rows: readonly (readonly number[])[]): Record<string, Feed> {
    const R = this.totalRank;
    const gate = new Float32Array(rows.length * R);
    rows.forEach((weights, row) => {
      if (weights.length !== this.blocks.length) {
        throw new RangeError(`LoRA weights for ${weights.length} LoRAs, stack has ${this.blocks.length}`);
      }
      this.blocks.forEach((block, k) => gate.fill(weights[k], row * R + block.start, row * R + block.start + block.width));
    });
    return { ...this.constants, [LORA_GATE]: { data: gate, dims: [rows.length, R] } };
  }
}

/** One layer's down, up and slots, float32, in the graph's layout. */
export interface LayerInputs {
  rank: number;
  down: Float32Array;
  downDims: number[];
  up: Float32Array;
  upDims: number[];
  /** the gate column of each of the layer's ranks */
  slots: Int32Array;
}

/**
 * The ranks of the modules touching one layer, one after another (rank 0 if none); module j's
 * rank r reads gate column `blocks[lora].start + r`.
 */
export function layerInputs(b: BranchInput, modules: readonly { lora: number; module: LoraModule }[], blocks: readonly RankBlock[]): LayerInputs {
  const rank = modules.reduce((sum, m) => sum + m.module.rank, 0);
  const down = new Float32Array(b.inFeatures * b.kernel[0] * b.kernel[1] * rank);
  const up = new Float32Array(rank * b.outFeatures);
  const slots = new Int32Array(rank);
  let column = 0;
  for (const { lora, module } of modules) {
    placeModule(module, b, column, rank, down, up);
    for (let r = 0; r < module.rank; r++) slots[column + r] = blocks[lora].start + r;
    column += module.rank;
  }
  const linear = b.kind === 'linear';
  return {
    rank,
    down,
    downDims: linear ? [b.inFeatures, rank] : [rank, b.inFeatures, b.kernel[0], b.kernel[1]],
    up,
    upDims: linear ? [rank, b.outFeatures] : [b.outFeatures, rank, 1, 1],
    slots,
  };
}

/**
 * Writes one module into columns [start, start + m.rank) of a layer of rank R: down transposed to
 * the graph's layout, up scaled by alpha/rank.
 */
export function placeModule(m: LoraModule, b: BranchInput, start: number, R: number, down: Float32Array, up: Float32Array): void {
  const kernel = b.kernel[0] * b.kernel[1];
  const cols = b.inFeatures * kernel;
  if (m.down.length !== m.rank * cols || m.up.length !== b.outFeatures * m.rank) {
    throw new ChordError('LORA_INVALID', `LoRA module ${m.modulePath} does not fit the layer (rank ${m.rank}, layer ${b.inFeatures} -> ${b.outFeatures}).`);
  }
  for (let r = 0; r < m.rank; r++) {
    const slot = start + r;
    if (b.kind === 'linear') {
      // file down [rank, in] -> graph down [in, R]
      for (let i = 0; i < b.inFeatures; i++) down[i * R + slot] = m.down[r * cols + i];
      // file up [out, rank] -> graph up [R, out]
      for (let o = 0; o < b.outFeatures; o++) up[slot * b.outFeatures + o] = m.up[o * m.rank + r] * m.scale;
    } else {
      // file down [rank, in, kh, kw] -> graph down [R, in, kh, kw]: same row layout
      down.set(m.down.subarray(r * cols, (r + 1) * cols), slot * cols);
      // file up [out, rank, 1, 1] -> graph up [out, R, 1, 1]
      for (let o = 0; o < b.outFeatures; o++) up[o * R + slot] = m.up[o * m.rank + r] * m.scale;
    }
  }
}
