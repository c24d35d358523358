/**
 * Prompt text with A1111 syntax -> text-encoder windows plus a weight per position, the way A1111's
 * `tokenize_line` builds them:
 *   - each emphasis piece is tokenized on its own (a weight change is a word boundary);
 *   - an embedding's name, found as its token sequence inside a piece, becomes its vectors'
 *     placeholder ids, kept together in one window;
 *   - BREAK closes the open window (an empty one too); a trailing BREAK adds nothing;
 *   - windows are cut as for plain prompts (tokenizer/chunk-plan.ts), the weights with the same cuts.
 * BOS, EOS and padding positions weigh 1.
 */
import { makeWindow, commaIdOf } from '../tokenizer/prompt';
import { DEFAULT_COMMA_BACKTRACK, planChunks } from '../tokenizer/chunk-plan';
import type { Tokenizer } from '../tokenizer/types';
import { parseEmphasis } from './emphasis';

/** An embedding as the prompt sees it: the ids its name tokenizes to, and the ids standing for its vectors. */
export interface EmbeddingToken {
  name: string;
  /** tok.encode(name) */
  nameIds: readonly number[];
  /** placeholder id of the first vector; the others follow */
  firstId: number;
  /** number of vectors */
  vectors: number;
}

export interface WeightedWindows {
  /** maxLength ids each: [BOS, tokens..., EOS, pad...] */
  windows: Int32Array[];
  /** one weight per id of each window */
  weights: Float32Array[];
  /** names of the embeddings the prompt used, in order of first use */
  embeddings: string[];
}

export interface PromptWindowOptions {
  embeddings?: readonly EmbeddingToken[];
  commaBacktrack?: number;
}

interface Segment {
  ids: number[];
  weights: number[];
  blocks: Map<number, number>;
}

/** Replaces embedding names in one piece's ids; longest name first where several match. */
function substituteEmbeddings(ids: readonly number[], weight: number, byFirstId: Map<number, EmbeddingToken[]>, into: Segment, used: string[]): void {
  for (let p = 0; p < ids.length; ) {
    const match = byFirstId.get(ids[p])?.find((e) => e.nameIds.every((id, k) => ids[p + k] === id));
    if (!match) {
      into.ids.push(ids[p]);
      into.weights.push(weight);
      p++;
      continue;
    }
    into.blocks.set(into.ids.length, match.vectors);
    for (let k = 0; k < match.vectors; k++) {
      into.ids.push(match.firstId + k);
      into.weights.push(weight);
    }
    if (!used.includes(match.name)) used.push(match.name);
    p += match.nameIds.length;
  }
}

/** Ids with every embedding name replaced by its placeholder ids (what `chord tokenize` shows). */
export function replaceEmbeddingNames(ids: readonly number[], embeddings: readonly EmbeddingToken[]): number[] {
  const seg: Segment = { ids: [], weights: [], blocks: new Map() };
  substituteEmbeddings(ids, 1, byFirstIdOf(embeddings), seg, []);
  return seg.ids;
}

function byFirstIdOf(embeddings: readonly EmbeddingToken[]): Map<number, EmbeddingToken[]> {
  const byFirstId = new Map<number, EmbeddingToken[]>();
  for (const e of embeddings) {
    if (e.nameIds.length === 0) continue;
    const list = byFirstId.get(e.nameIds[0]) ?? [];
    list.push(e);
    list.sort((a, b) => b.nameIds.length - a.nameIds.length);
    byFirstId.set(e.nameIds[0], list);
  }
  return byFirstId;
}

export function promptWindows(tok: Tokenizer, prompt: string, opts: PromptWindowOptions = {}): WeightedWindows {
  const byFirstId = byFirstIdOf(opts.embeddings ?? []);
  const used: string[] = [];
  const segments: Segment[] = [{ ids: [], weights: [], blocks: new Map() }];
  for (const piece of parseEmphasis(prompt)) {
    if (piece.kind === 'break') {
      segments.push({ ids: [], weights: [], blocks: new Map() });
      continue;
    }
    substituteEmbeddings(tok.encode(piece.text), piece.weight, byFirstId, segments[segments.length - 1], used);
  }
  // A1111 closes a window at BREAK and opens one at the end only for leftover tokens
  if (segments.length > 1 && segments[segments.length - 1].ids.length === 0) segments.pop();

  const chunkLength = tok.maxLength - 2;
  const commaId = commaIdOf(tok);
  const out: WeightedWindows = { windows: [], weights: [], embeddings: used };
  for (const seg of segments) {
    const ranges = planChunks(seg.ids, { chunkLength, commaId, commaBacktrack: opts.commaBacktrack ?? DEFAULT_COMMA_BACKTRACK, blocks: seg.blocks });
    for (const [start, end] of ranges) {
      out.windows.push(makeWindow(tok, seg.ids.slice(start, end)));
      const w = new Float32Array(tok.maxLength).fill(1);
      w.set(seg.weights.slice(start, end), 1);
      out.weights.push(w);
    }
  }
  return out;
}

/** Whether every weight is 1 (then the encoder output is used as it is). */
export function isUnweighted(weights: Float32Array): boolean {
  return weights.every((w) => w === 1);
}

/**
 * A1111's emphasis on one window's hidden states [tokens, width]: each token's vector times its
 * weight, then everything rescaled so the mean over the window equals the mean before weighting.
 * All weights 1 leaves the data untouched (bit for bit). Works in place.
 */
export function applyEmphasis(hidden: Float32Array, weights: Float32Array): void {
  if (isUnweighted(weights)) return;
  const width = hidden.length / weights.length;
  if (!Number.isInteger(width)) throw new RangeError(`${hidden.length} values do not split into ${weights.length} tokens`);
  let before = 0;
  for (let i = 0; i < hidden.length; i++) before += hidden[i];
  let after = 0;
  for (let t = 0; t < weights.length; t++) {
    const w = weights[t];
    for (let i = t * width; i < (t + 1) * width; i++) {
      hidden[i] *= w;
      after += hidden[i];
    }
  }
  // A1111 divides the two means; the element counts cancel
  const k = before / after;
  if (!Number.isFinite(k)) return;
  for (let i = 0; i < hidden.length; i++) hidden[i] *= k;
}
