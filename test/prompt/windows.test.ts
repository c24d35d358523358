import { describe, expect, it } from 'vitest';
import { applyEmphasis, promptWindows, type EmbeddingToken } from '../../src/engine/prompt/windows';
import { planChunks } from '../../src/engine/tokenizer';
import type { Tokenizer } from '../../src/engine/tokenizer';

/**
 * A word tokenizer over a fixed vocabulary: each word is one id, ',' is its own token. Window of
 * 7 ids (5 content tokens) so cutting shows on short prompts.
 */
function fakeTokenizer(maxLength = 7): Tokenizer {
  const vocab = new Map<string, number>([[',', 0]]);
  return {
    bos: 900,
    eos: 901,
    pad: 901,
    maxLength,
    format: 'tokenizer.json',
    encode: (text) =>
      text
        .toLowerCase()
        .replace(/,/g, ' , ')
        .split(/\s+/)
        .filter(Boolean)
        .map((w) => {
          if (!vocab.has(w)) vocab.set(w, vocab.size);
          return vocab.get(w) as number;
        }),
    idToToken: () => undefined,
  };
}

const content = (w: Int32Array) => [...w].slice(1, w.indexOf(901));

describe('promptWindows', () => {
  it('gives plain text the ids and weights of the plain prompt', () => {
    const tok = fakeTokenizer();
    const r = promptWindows(tok, 'a b c');
    expect(r.windows.map(content)).toEqual([tok.encode('a b c')]);
    expect([...r.weights[0]]).toEqual([1, 1, 1, 1, 1, 1, 1]);
  });

  it('carries weights to their tokens, BOS/EOS/padding at 1', () => {
    const tok = fakeTokenizer();
    const r = promptWindows(tok, 'a (b c:1.5) [d]');
    expect(r.windows.map(content)).toEqual([tok.encode('a b c d')]);
    expect([...r.weights[0]].map((w) => Math.round(w * 1000) / 1000)).toEqual([1, 1, 1.5, 1.5, 0.909, 1, 1]);
  });

  it('cuts weights with the same ranges as the ids across windows', () => {
    const tok = fakeTokenizer();
    const r = promptWindows(tok, 'a b c d e (f g:2)', { commaBacktrack: 0 });
    expect(r.windows.map(content)).toEqual([tok.encode('a b c d e'), tok.encode('f g')]);
    expect([...r.weights[1]]).toEqual([1, 2, 2, 1, 1, 1, 1]);
  });

  it('BREAK closes the window; a trailing BREAK adds none; BREAK BREAK leaves an empty one', () => {
    const tok = fakeTokenizer();
    expect(promptWindows(tok, 'a BREAK b').windows.map(content)).toEqual([tok.encode('a'), tok.encode('b')]);
    expect(promptWindows(tok, 'a BREAK').windows.map(content)).toEqual([tok.encode('a')]);
    expect(promptWindows(tok, 'BREAK a').windows.map(content)).toEqual([[], tok.encode('a')]);
    expect(promptWindows(tok, 'a BREAK BREAK b').windows.map(content)).toEqual([tok.encode('a'), [], tok.encode('b')]);
  });

  it('replaces an embedding name by its placeholder ids, kept in one window', () => {
    const tok = fakeTokenizer();
    const emb: EmbeddingToken = { name: 'My Emb', nameIds: tok.encode('my emb'), firstId: 500, vectors: 3 };
    const r = promptWindows(tok, 'a b (my emb:1.2) c', { embeddings: [emb], commaBacktrack: 0 });
    // a b + 3 vectors = 5 fit; c opens window 2
    expect(r.windows.map(content)).toEqual([[...tok.encode('a b'), 500, 501, 502], tok.encode('c')]);
    expect([...r.weights[0]].map((w) => Math.round(w * 10) / 10)).toEqual([1, 1, 1, 1.2, 1.2, 1.2, 1]);
    expect(r.embeddings).toEqual(['My Emb']);
    // three plain tokens + 3 vectors do not fit: the vectors move to the next window together
    const moved = promptWindows(tok, 'a b c my emb', { embeddings: [emb], commaBacktrack: 0 });
    expect(moved.windows.map(content)).toEqual([tok.encode('a b c'), [500, 501, 502]]);
  });

  it('prefers the longest embedding name that matches', () => {
    const tok = fakeTokenizer();
    const short: EmbeddingToken = { name: 'x', nameIds: tok.encode('x'), firstId: 500, vectors: 1 };
    const long: EmbeddingToken = { name: 'x y', nameIds: tok.encode('x y'), firstId: 501, vectors: 1 };
    expect(promptWindows(tok, 'x y x', { embeddings: [short, long] }).windows.map(content)).toEqual([[501, 500]]);
  });
});

describe('planChunks blocks', () => {
  it('keeps a block whole, moving it to the next window when it does not fit', () => {
    const ids = [1, 2, 3, 4, 5, 6];
    expect(planChunks(ids, { chunkLength: 5, commaId: undefined, blocks: new Map([[3, 3]]) })).toEqual([[0, 3], [3, 6]]);
    expect(planChunks(ids, { chunkLength: 5, commaId: undefined, blocks: new Map([[2, 3]]) })).toEqual([[0, 5], [5, 6]]);
  });
});

describe('applyEmphasis (A1111 weighting with the mean restored)', () => {
  it('leaves all-1 weights bit for bit', () => {
    const h = new Float32Array([0.1, -0.3, 0.7, 1e-8]);
    const copy = h.slice();
    applyEmphasis(h, new Float32Array([1, 1]));
    expect(h).toEqual(copy);
  });

  it('multiplies each token, then rescales to the original mean', () => {
    const h = new Float32Array([1, 2, 3, 4]); // tokens [1,2] and [3,4], mean 2.5
    applyEmphasis(h, new Float32Array([2, 1])); // -> [2,4,3,4], mean 3.25, times 2.5/3.25
    const k = 2.5 / 3.25;
    expect([...h].map((v) => Math.round(v * 1e5) / 1e5)).toEqual([2 * k, 4 * k, 3 * k, 4 * k].map((v) => Math.round(v * 1e5) / 1e5));
    expect(h.reduce((a, b) => a + b, 0) / 4).toBeCloseTo(2.5, 5);
  });
});
