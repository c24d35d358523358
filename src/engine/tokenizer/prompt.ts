/**
 * Prompt text -> what the text encoder takes: fixed-length windows of ids. A prompt longer than one
 * window is split A1111-style (see chunk-plan.ts) and each window is encoded on its own; the
 * embeddings are then concatenated along the token axis.
 */
import { DEFAULT_COMMA_BACKTRACK, planChunks } from './chunk-plan';
import type { Tokenizer } from './types';

/** ids with BOS and EOS, no padding, no truncation (what `chord tokenize` shows) */
export function tokenizePrompt(tok: Tokenizer, text: string): number[] {
  return [tok.bos, ...tok.encode(text), tok.eos];
}

/** id of a lone comma, when the tokenizer has one token for it */
export function commaIdOf(tok: Tokenizer): number | undefined {
  const ids = tok.encode(',');
  return ids.length === 1 ? ids[0] : undefined;
}

export interface WindowOptions {
  /** A1111's "comma padding backtrack"; 0 cuts strictly every 75 tokens. Default 20. */
  commaBacktrack?: number;
}

/** One window: [BOS, content..., EOS, pad...], maxLength long. */
export function makeWindow(tok: Tokenizer, content: readonly number[]): Int32Array {
  const room = tok.maxLength - 2;
  if (content.length > room) throw new RangeError(`window content of ${content.length} tokens exceeds ${room}`);
  const w = new Int32Array(tok.maxLength).fill(tok.pad);
  w[0] = tok.bos;
  for (let i = 0; i < content.length; i++) w[1 + i] = content[i];
  w[1 + content.length] = tok.eos;
  return w;
}

/** The window of the empty prompt, [BOS, EOS, pad...]: what A1111 pads a shorter prompt with. */
export function emptyWindow(tok: Tokenizer): Int32Array {
  return makeWindow(tok, []);
}

/** Splits already-encoded ids (no BOS/EOS) into windows. */
export function windowsFromIds(tok: Tokenizer, ids: readonly number[], opts: WindowOptions = {}): Int32Array[] {
  const ranges = planChunks(ids, {
    chunkLength: tok.maxLength - 2,
    commaId: commaIdOf(tok),
    commaBacktrack: opts.commaBacktrack ?? DEFAULT_COMMA_BACKTRACK,
  });
  return ranges.map(([start, end]) => makeWindow(tok, ids.slice(start, end)));
}

/**
 * Prompt text -> one or more windows of tok.maxLength ids. Up to 75 content tokens give one window;
 * longer prompts give several, cut preferably after a comma (A1111). An empty prompt gives one
 * window [BOS, EOS, pad...].
 */
export function chunkForEncoder(tok: Tokenizer, text: string, opts: WindowOptions = {}): Int32Array[] {
  return windowsFromIds(tok, tok.encode(text), opts);
}

/**
 * Gives the positive and negative prompt the same number of windows, so both conditionings have
 * the same token length and can be batched: the shorter one gets empty-prompt windows appended,
 * as A1111 does ("pad prompt/negative prompt to be same length").
 */
export function padToSameWindowCount(
  tok: Tokenizer,
  positive: readonly Int32Array[],
  negative: readonly Int32Array[],
): { positive: Int32Array[]; negative: Int32Array[] } {
  const n = Math.max(positive.length, negative.length);
  const fill = (ws: readonly Int32Array[]) => [...ws, ...Array.from({ length: n - ws.length }, () => emptyWindow(tok))];
  return { positive: fill(positive), negative: fill(negative) };
}
