/**
 * Where a long prompt is cut into text-encoder windows, the way A1111 does it
 * (`modules/sd_hijack_clip.py`, `tokenize_line`): fill a window with up to
 * `chunkLength` (75) tokens; when the window is full and the next token is not a comma, and a comma
 * sits within the last `commaBacktrack` (20) tokens of the window, the tokens after that comma move to
 * the next window, so a phrase like "blue eyes" is not torn across two windows.
 *
 * The result is a list of [start, end) ranges into the token list: a weighting layer can cut its
 * per-token weights with the same ranges.
 */

export interface ChunkPlanOptions {
  /** content tokens per window (window length minus BOS and EOS): 75 for CLIP */
  chunkLength: number;
  /** id of a lone comma (`,</w>` in CLIP), or undefined to never move tokens */
  commaId: number | undefined;
  /** how far back from a full window a comma may be to move the tail after it; 0 turns it off (A1111 default 20) */
  commaBacktrack?: number;
  /**
   * Runs of tokens that must stay in one window (a textual-inversion embedding's vectors), by start
   * index -> length. A run that does not fit in the open window starts the next one (A1111).
   */
  blocks?: ReadonlyMap<number, number>;
}

export const DEFAULT_COMMA_BACKTRACK = 20;

export function planChunks(ids: readonly number[], opts: ChunkPlanOptions): Array<[number, number]> {
  const { chunkLength, commaId } = opts;
  const backtrack = opts.commaBacktrack ?? DEFAULT_COMMA_BACKTRACK;
  if (!(chunkLength >= 1)) throw new RangeError(`chunkLength must be at least 1, got ${chunkLength}`);
  const ranges: Array<[number, number]> = [];
  let start = 0; // first token of the open window
  let lastComma = -1; // index of the last comma within the open window, -1 if none
  for (let pos = 0; pos < ids.length; ) {
    let length = pos - start;
    if (ids[pos] === commaId) {
      // a comma arriving at a full window opens the next one (A1111 records it, then starts a new window)
      lastComma = length;
    } else if (backtrack > 0 && length === chunkLength && lastComma !== -1 && length - lastComma <= backtrack) {
      const cut = start + lastComma + 1;
      ranges.push([start, cut]);
      start = cut;
      lastComma = -1;
      length = pos - start;
    }
    if (length === chunkLength) {
      ranges.push([start, pos]);
      start = pos;
      lastComma = -1;
      length = 0;
    }
    const block = opts.blocks?.get(pos) ?? 1;
    if (block > chunkLength) throw new RangeError(`a block of ${block} tokens exceeds the window of ${chunkLength}`);
    if (length + block > chunkLength) {
      ranges.push([start, pos]);
      start = pos;
      lastComma = -1;
    }
    pos += block;
  }
  // the last, partly filled window; an empty prompt still gets one (empty) window
  if (start < ids.length || ranges.length === 0) ranges.push([start, ids.length]);
  return ranges;
}
