import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  chunkForEncoder,
  commaIdOf,
  emptyWindow,
  loadTokenizer,
  padToSameWindowCount,
  planChunks,
  tokenizePrompt,
  type Tokenizer,
} from '../../src/engine/tokenizer';

const SD15 = fileURLToPath(new URL('../fixtures/sd15-layout', import.meta.url));
const C = 0; // the comma id in the synthetic sequences below

describe('planChunks (A1111 window cutting)', () => {
  const plan = (ids: number[], chunkLength: number, commaBacktrack?: number) => planChunks(ids, { chunkLength, commaId: C, commaBacktrack });

  it('gives an empty prompt one empty window', () => {
    expect(plan([], 75)).toEqual([[0, 0]]);
  });

  it('fills a window up to chunkLength before opening the next', () => {
    expect(plan([1, 2, 3, 4, 5], 5)).toEqual([[0, 5]]);
    expect(plan([1, 2, 3, 4, 5, 6], 5)).toEqual([[0, 5], [5, 6]]);
    expect(plan([1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2], 5)).toEqual([[0, 5], [5, 10], [10, 11]]);
  });

  it('moves the tokens after the last comma to the next window when the comma is near the end', () => {
    // window full at "5", last comma at index 1: 5 - 1 = 4 tokens back
    expect(plan([1, C, 2, 3, 4, 5], 5, 4)).toEqual([[0, 2], [2, 6]]);
    expect(plan([1, C, 2, 3, 4, 5], 5, 3)).toEqual([[0, 5], [5, 6]]); // too far back: plain cut
    expect(plan([1, C, 2, 3, 4, 5], 5, 0)).toEqual([[0, 5], [5, 6]]); // backtracking off
  });

  it('opens the next window with a comma that arrives at a full window', () => {
    expect(plan([1, 2, C, 3, 4, C, 6], 5)).toEqual([[0, 5], [5, 7]]);
  });

  it('cuts a 75-token window after the comma when the phrase would be torn', () => {
    const ids = Array.from({ length: 80 }, (_, i) => (i === 70 ? C : 1 + (i % 9)));
    expect(plan(ids, 75)).toEqual([[0, 71], [71, 80]]);
    expect(plan(ids, 75, 0)).toEqual([[0, 75], [75, 80]]);
    // a comma 21 tokens back is out of A1111's default reach of 20
    const far = Array.from({ length: 80 }, (_, i) => (i === 54 ? C : 1 + (i % 9)));
    expect(plan(far, 75)).toEqual([[0, 75], [75, 80]]);
    const near = Array.from({ length: 80 }, (_, i) => (i === 55 ? C : 1 + (i % 9)));
    expect(plan(near, 75)).toEqual([[0, 56], [56, 80]]);
  });

  it('never moves anything without a comma id', () => {
    expect(planChunks([1, 0, 2, 3, 4, 5], { chunkLength: 5, commaId: undefined })).toEqual([[0, 5], [5, 6]]);
  });

  it('covers every token exactly once, in order, with windows of at most chunkLength', () => {
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let trial = 0; trial < 50; trial++) {
      const ids = Array.from({ length: Math.floor(rand() * 200) }, () => (rand() < 0.15 ? C : 1 + Math.floor(rand() * 9)));
      const ranges = planChunks(ids, { chunkLength: 7, commaId: C, commaBacktrack: 4 });
      let next = 0;
      for (const [s, e] of ranges) {
        expect(s).toBe(next);
        expect(e - s).toBeLessThanOrEqual(7);
        next = e;
      }
      expect(next).toBe(ids.length);
    }
  });
});

describe('windows for the text encoder (SD 1.5 tokenizer)', () => {
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await loadTokenizer(SD15);
  });
  const BOS = 49406;
  const EOS = 49407;

  it('uses the lone comma token of the vocabulary', () => {
    expect(commaIdOf(tok)).toBe(267);
  });

  it('makes one 77-id window [BOS, tokens, EOS, pad...] for a short prompt', () => {
    const [w, ...rest] = chunkForEncoder(tok, 'a photo of a cat');
    expect(rest).toEqual([]);
    expect(w).toBeInstanceOf(Int32Array);
    expect(Array.from(w)).toEqual([BOS, 320, 1125, 539, 320, 2368, EOS, ...new Array<number>(70).fill(EOS)]);
  });

  it('makes one window [BOS, EOS, pad...] for the empty prompt', () => {
    const ws = chunkForEncoder(tok, '');
    expect(ws.map((w) => Array.from(w))).toEqual([[BOS, ...new Array<number>(76).fill(EOS)]]);
    expect(Array.from(emptyWindow(tok))).toEqual(Array.from(ws[0]));
  });

  it('fits exactly 75 tokens in one window and opens a second for the 76th', () => {
    const cats = (n: number) => Array.from({ length: n }, () => 'cat').join(' ');
    const one = chunkForEncoder(tok, cats(75));
    expect(one.length).toBe(1);
    expect(one[0][75]).toBe(2368);
    expect(one[0][76]).toBe(EOS);
    const two = chunkForEncoder(tok, cats(76));
    expect(two.length).toBe(2);
    expect(Array.from(two[1].subarray(0, 3))).toEqual([BOS, 2368, EOS]);
  });

  // 107 tokens; the 76th falls inside "intricate embroidery on the dress", 3 tokens after a comma
  const LONG =
    'masterpiece, best quality, ultra-detailed, 8k uhd wallpaper, a beautiful young woman standing in a sunlit field of tall golden wheat at sunset, flowing white dress, long wavy auburn hair blowing in the wind, soft rim lighting, warm color palette, shallow depth of field, bokeh background, cinematic composition, highly detailed face, sharp focus, intricate embroidery on the dress, gentle smile, looking at the viewer, photorealistic, award winning photography, canon eos r5, 85mm lens, f1.8';
  const LONG_IDS = [
    12066, 267, 949, 3027, 267, 8118, 268, 12609, 267, 279, 330, 84, 4414, 10560, 267, 320, 1215, 1888, 2308, 2862, 530, 320, 968, 4350, 1570, 539,
    7771, 3878, 10303, 536, 3424, 267, 14922, 1579, 2595, 267, 1538, 31941, 14534, 2225, 12087, 530, 518, 3630, 267, 3773, 12199, 5799, 267, 3616,
    3140, 13901, 267, 23730, 10350, 539, 1570, 267, 647, 36983, 5994, 267, 25602, 17510, 267, 5302, 12609, 1710, 267, 8157, 4353, 267, 29616, 20823,
    525, 518, 2595, 267, 13577, 3490, 267, 1312, 536, 518, 15061, 267, 1153, 16157, 267, 2047, 2577, 2108, 267, 9310, 17805, 337, 276, 267, 279, 276,
    2848, 8666, 267, 325, 272, 269, 279,
  ];

  it('tokenizes a long prompt without truncation', () => {
    expect(tokenizePrompt(tok, LONG)).toEqual([BOS, ...LONG_IDS, EOS]);
  });

  it('splits a long prompt after the comma before the torn phrase', () => {
    const ws = chunkForEncoder(tok, LONG);
    expect(ws.length).toBe(2);
    // window 1: the 72 tokens up to "sharp focus ,"
    expect(Array.from(ws[0])).toEqual([BOS, ...LONG_IDS.slice(0, 72), EOS, EOS, EOS, EOS]);
    // window 2 starts with "intricate embroidery"
    expect(Array.from(ws[1])).toEqual([BOS, ...LONG_IDS.slice(72), EOS, ...new Array<number>(77 - 37).fill(EOS)]);
    expect(tok.idToToken(ws[1][1])).toBe('intricate</w>');
  });

  it('cuts strictly at 75 tokens with commaBacktrack 0', () => {
    const ws = chunkForEncoder(tok, LONG, { commaBacktrack: 0 });
    expect(Array.from(ws[0])).toEqual([BOS, ...LONG_IDS.slice(0, 75), EOS]);
    expect(Array.from(ws[1].subarray(0, 34))).toEqual([BOS, ...LONG_IDS.slice(75), EOS]);
  });

  it('pads the prompt with fewer windows with empty-prompt windows', () => {
    const pos = chunkForEncoder(tok, LONG);
    const neg = chunkForEncoder(tok, 'blurry, lowres');
    const both = padToSameWindowCount(tok, pos, neg);
    expect(both.positive).toEqual(pos);
    expect(both.negative.length).toBe(2);
    expect(both.negative[0]).toBe(neg[0]);
    expect(Array.from(both.negative[1])).toEqual(Array.from(emptyWindow(tok)));
    expect(neg.length).toBe(1); // inputs untouched
    const swapped = padToSameWindowCount(tok, neg, pos);
    expect(swapped.positive.length).toBe(2);
    expect(swapped.negative).toEqual(pos);
  });
});
