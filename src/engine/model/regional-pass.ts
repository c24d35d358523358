/**
 * Regional attention as a graph pass (onnx/regional.ts) and its bind: the region maps, token
 * owners, isolation strength and LoRA masks a regional UNet call feeds (docs/regional.md).
 *
 * A call without a layout gets neutral feeds (every position and token global, isolation 0, masks
 * of ones): exactly the outputs of the graph without the pass.
 */
import { addRegionalAttention, regionalMapInput, regionalSpaceInput, REGIONAL_ISOLATION, REGIONAL_NORM, REGIONAL_TOKEN_GATE, REGIONAL_TOKENS, REGION_BLOCK, REGIONAL_REWRITE_VERSION, type RegionalInfo } from '../onnx/regional';
import type { GraphPass } from './graph-passes';
import type { RankBlock } from './lora-stack';
import type { Feed } from './session';

export { REGIONAL_ATTN_MAP, type RegionalInfo } from '../onnx/regional';

/** The UNet with region biases, LoRA masks and the attention-map output. */
export const REGIONAL_PASS: GraphPass = {
  key: 'regional',
  version: REGIONAL_REWRITE_VERSION,
  rewrite(model, part) {
    if (part !== 'unet') throw new RangeError('regional attention is a UNet pass');
    return addRegionalAttention(model, { attentionMap: true });
  },
};

/** A box in image fractions from the top-left: x0 < x1, y0 < y1, all in [0, 1]. */
export interface RegionBox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** What one regional UNet call binds. */
export interface RegionalLayout {
  boxes: readonly RegionBox[];
  /** per context token (the context's sequence length): 0 = global prompt, r + 1 = region r */
  tokenOwner: readonly number[] | Int32Array;
  /** per LoRA of the stack: -1 = global (whole image, all tokens), r = bound to region r */
  loraRegion: readonly number[];
  /** self-attention isolation between boxes */
  isolation: boolean;
  /** a regional LoRA's spatial layers act only inside its box (else everywhere) */
  gateLoras: boolean;
  /** group normalisations take their statistics per region (and the background from its own) */
  norm?: boolean;
}

/** Level l's size: level 0 is the latent, each level halves rounding up (stride-2 conv, pad 1). */
export function levelSize(latent: number, level: number): number {
  let n = latent;
  for (let i = 0; i < level; i++) n = Math.ceil(n / 2);
  return n;
}

/** The rows (or columns) of a box edge pair at size n: ceil(start n) .. floor(end n), end exclusive. */
export function rasterSpan(start: number, end: number, n: number): [number, number] {
  return [Math.ceil(start * n - 1e-9), Math.floor(end * n + 1e-9)];
}

/** [h, w] one-hot: 0 outside every box, r + 1 inside box r (boxes do not overlap). */
export function regionIds(boxes: readonly RegionBox[], h: number, w: number): Int32Array {
  const ids = new Int32Array(h * w);
  boxes.forEach((b, r) => {
    const [y0, y1] = rasterSpan(b.y0, b.y1, h);
    const [x0, x1] = rasterSpan(b.x0, b.x1, w);
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) ids[y * w + x] = r + 1;
  });
  return ids;
}

export interface RegionalShape {
  /** latent height and width */
  h: number;
  w: number;
  /** the context's sequence length */
  tokens: number;
  /** the UNet LoRA gate's blocks and width (no LoRAs: none, 0) */
  blocks: readonly RankBlock[];
  totalRank: number;
}

/** The feeds of the regional pass for one call (shared by every batch row). */
export function regionalFeeds(info: RegionalInfo, layout: RegionalLayout | undefined, shape: RegionalShape): Record<string, Feed> {
  const R = layout?.boxes.length ?? 0;
  const slots = R + 1;
  const feeds: Record<string, Feed> = {};
  for (const level of info.mapLevels) {
    const h = levelSize(shape.h, level);
    const w = levelSize(shape.w, level);
    const ids = layout ? regionIds(layout.boxes, h, w) : new Int32Array(h * w);
    const map = new Float32Array(h * w * slots);
    ids.forEach((id, q) => (map[q * slots + id] = 1));
    feeds[regionalMapInput(level)] = { data: map, dims: [1, h * w, slots] };
  }
  const owners = new Float32Array(shape.tokens * slots);
  for (let t = 0; t < shape.tokens; t++) owners[t * slots + (layout ? layout.tokenOwner[t] : 0)] = 1;
  feeds[REGIONAL_TOKENS] = { data: owners, dims: [1, shape.tokens, slots] };
  feeds[REGIONAL_ISOLATION] = { data: Float32Array.of(layout?.isolation ? -REGION_BLOCK : 0), dims: [1] };
  if (info.regionNorms > 0) feeds[REGIONAL_NORM] = { data: Float32Array.of(layout?.norm ? 1 : 0), dims: [1] };

  const W = shape.totalRank;
  // the region each gate column belongs to (-1: a global LoRA's column)
  const columnRegion = new Int32Array(W).fill(-1);
  if (layout) shape.blocks.forEach((b, k) => columnRegion.fill(layout.loraRegion[k] ?? -1, b.start, b.start + b.width));
  for (const level of info.spaceLevels) {
    const h = levelSize(shape.h, level);
    const w = levelSize(shape.w, level);
    const ids = layout ? regionIds(layout.boxes, h, w) : new Int32Array(h * w);
    const space = new Float32Array(W * h * w).fill(1);
    if (layout?.gateLoras) {
      for (let c = 0; c < W; c++) {
        const r = columnRegion[c];
        if (r < 0) continue;
        for (let q = 0; q < h * w; q++) space[c * h * w + q] = ids[q] === r + 1 ? 1 : 0;
      }
    }
    feeds[regionalSpaceInput(level)] = { data: space, dims: [1, W, h, w] };
  }
  if (info.tokenGated > 0) {
    const gate = new Float32Array(shape.tokens * W).fill(1);
    if (layout) {
      for (let t = 0; t < shape.tokens; t++) {
        for (let c = 0; c < W; c++) if (columnRegion[c] >= 0) gate[t * W + c] = layout.tokenOwner[t] === columnRegion[c] + 1 ? 1 : 0;
      }
    }
    feeds[REGIONAL_TOKEN_GATE] = { data: gate, dims: [1, shape.tokens, W] };
  }
  return feeds;
}
