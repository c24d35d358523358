/**
 * Several LoRAs as the inputs of one rewritten graph (architecture.md, "LoRA at run time").
 *
 * The graph computes y = xW + ((x down) * gate) up for every target layer, with one rank axis
 * shared by all layers. Each LoRA k gets a block of that axis, R_k wide (its largest rank in this
 * part); its layers fill their block of `down` and `up`, every other entry is zero. Concatenating
 * ranks this way sums the LoRAs. The file's alpha/rank scale is folded into `up`, so the gate
 * only carries what changes between passes: each LoRA's user weight (0 = off), per batch row.
 *
 * The down/up blocks are built once per set of LoRAs; a pass only builds the small gate.
 */
import { ChordError } from '../errors';
import type { LoraModule, ModelPart } from '../lora/types';
import type { Feed, InputInfo } from './session';

export const LORA_GATE = 'lora.gate';
export const LORA_DOWN_PREFIX = 'lora.down.';
export const LORA_UP_PREFIX = 'lora.up.';

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
}

/**
 * The branch layers of a rewritten graph, from its `lora.down.*` / `lora.up.*` inputs:
 *   linear: down [in, R], up [R, out];   conv: down [R, in, kh, kw], up [out, R, 1, 1].
 * A graph without a `lora.gate` input has no branches (an original graph): returns undefined.
 */
export function branchInputs(inputs: ReadonlyMap<string, InputInfo>, label: string): BranchInput[] | undefined {
  if (!inputs.has(LORA_GATE)) return undefined;
  const out: BranchInput[] = [];
  for (const info of inputs.values()) {
    if (!info.name.startsWith(LORA_DOWN_PREFIX)) continue;
    const modulePath = info.name.slice(LORA_DOWN_PREFIX.length);
    const up = inputs.get(LORA_UP_PREFIX + modulePath);
    const bad = () => new ChordError('MODEL_INVALID', `${label}: LoRA inputs of ${modulePath} have unexpected shapes.`, 'Delete the Chord cache folder so the graph is rewritten.');
    if (!up) throw bad();
    const d = info.shape;
    const u = up.shape;
    if (d.length === 2 && u.length === 2 && typeof d[0] === 'number' && typeof u[1] === 'number') {
      out.push({ modulePath, kind: 'linear', inFeatures: d[0], outFeatures: u[1], kernel: [1, 1] });
    } else if (d.length === 4 && u.length === 4 && typeof d[1] === 'number' && typeof d[2] === 'number' && typeof d[3] === 'number' && typeof u[0] === 'number') {
      out.push({ modulePath, kind: 'conv', inFeatures: d[1], outFeatures: u[0], kernel: [d[2], d[3]] });
    } else {
      throw bad();
    }
  }
  return out;
}

/** Where each LoRA sits on the shared rank axis. */
export interface RankBlock {
  start: number;
  width: number;
}

export class LoraStack {
  /** total rank R of the concatenation */
  readonly rank: number;
  readonly blocks: readonly RankBlock[];
  /** constant down/up inputs, by input name */
  private readonly constants: Record<string, Feed>;

  constructor(
    readonly part: ModelPart,
    branches: readonly BranchInput[],
    loras: readonly LoraForPart[],
  ) {
    const byPath = new Map(branches.map((b) => [b.modulePath, b]));
    const blocks: RankBlock[] = [];
    let start = 0;
    for (const lora of loras) {
      let width = 0;
      for (const m of lora.modules) if (m.part === part && byPath.has(m.modulePath)) width = Math.max(width, m.rank);
      blocks.push({ start, width });
      start += width;
    }
    this.rank = start;
    this.blocks = blocks;

    const R = this.rank;
    const constants: Record<string, Feed> = {};
    const downs = new Map<string, Float32Array>();
    const ups = new Map<string, Float32Array>();
    for (const b of branches) {
      const kernel = b.kernel[0] * b.kernel[1];
      downs.set(b.modulePath, new Float32Array(b.inFeatures * kernel * R));
      ups.set(b.modulePath, new Float32Array(R * b.outFeatures));
      constants[LORA_DOWN_PREFIX + b.modulePath] = {
        data: downs.get(b.modulePath) as Float32Array,
        dims: b.kind === 'linear' ? [b.inFeatures, R] : [R, b.inFeatures, b.kernel[0], b.kernel[1]],
      };
      constants[LORA_UP_PREFIX + b.modulePath] = {
        data: ups.get(b.modulePath) as Float32Array,
        dims: b.kind === 'linear' ? [R, b.outFeatures] : [b.outFeatures, R, 1, 1],
      };
    }
    loras.forEach((lora, k) => {
      for (const m of lora.modules) {
        if (m.part !== part) continue;
        const b = byPath.get(m.modulePath);
        if (!b) continue; // mapping was done against this graph's targets; a miss is a rewrite gap
        placeModule(m, b, blocks[k].start, R, downs.get(m.modulePath) as Float32Array, ups.get(m.modulePath) as Float32Array);
      }
    });
    this.constants = constants;
  }

  /**
   * All LoRA inputs for one pass: the constant blocks plus a gate [batch, R] whose block k holds
   * `weights[k]` in every row (0 turns LoRA k off for this pass).
   */
  feeds(weights: readonly number[], batch: number): Record<string, Feed> {
    if (weights.length !== this.blocks.length) {
      throw new RangeError(`LoRA weights for ${weights.length} LoRAs, stack has ${this.blocks.length}`);
    }
    const R = this.rank;
    const gate = new Float32Array(batch * R);
    for (let row = 0; row < batch; row++) {
      this.blocks.forEach((block, k) => gate.fill(weights[k], row * R + block.start, row * R + block.start + block.width));
    }
    return { ...this.constants, [LORA_GATE]: { data: gate, dims: [batch, R] } };
  }
}

/**
 * Writes one module into its block: down transposed to the graph's layout, up scaled by alpha/rank.
 * Ranks below the block width leave zero columns (a LoRA whose layers differ in rank).
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
