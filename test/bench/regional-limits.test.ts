/** The regional bench's limit studies (bench/regional-limits.ts): their estimate and tables, and a reduced run on the demo model. */
import { describe, expect, it, afterAll } from 'vitest';
import { ceilingMarkdown, HALVES, pairEstimate, runCeiling } from '../../bench/regional/ceiling';
import { insideBox } from '../../bench/regional/run';
import { LONE_BOXES, loneMarkdown } from '../../bench/regional/lone';
import { openModel } from '../../src/engine';
import { join } from 'node:path';
import { makeTmpDir, testModelDir } from '../pipeline/helpers';

describe('ceiling estimate', () => {
  it('is the mean over ordered pairs of the product of the rates alone', () => {
    expect(pairEstimate({ zorb: 1, quill: 1, mippet: 1 })).toBe(1);
    // pairs: zq 0.05, zm 0.08, qm 0.4, each twice
    expect(pairEstimate({ zorb: 0.1, quill: 0.5, mippet: 0.8 })).toBeCloseTo((0.05 + 0.08 + 0.4) / 3, 10);
    expect(pairEstimate({ zorb: 0, quill: 1, mippet: 1 })).toBeCloseTo(1 / 3, 10);
  });

  it('asks for each character in the four halves, and locates on the 64 x 64 grid', () => {
    expect(HALVES).toHaveLength(4);
    expect(insideBox(HALVES[0], 10, 40)).toBe(true);
    expect(insideBox(HALVES[0], 40, 40)).toBe(false);
    // the top half ends at row 32
    expect(insideBox(HALVES[2], 40, 31)).toBe(true);
    expect(insideBox(HALVES[2], 40, 32)).toBe(false);
  });

  it('tabulates each global choice with its rates, its detection and the estimate', () => {
    const md = ceilingMarkdown([
      { global: undefined, found: { zorb: 8, quill: 8, mippet: 4 }, images: 8, globalHits: 0 },
      { global: 'sunset', found: { zorb: 0, quill: 4, mippet: 8 }, images: 8, globalHits: 24 },
    ]);
    expect(md.split('\n')[2]).toBe('| none | 100% | 100% | 50% | 83% | – | 67% |');
    expect(md.split('\n')[3]).toBe('| sunset | 0% | 50% | 100% | 50% | 100% | 17% |');
  });
});

describe('one character, one box', () => {
  it('tabulates each box with its place words and each method found rate, per character', () => {
    const box = LONE_BOXES[2].box;
    expect(LONE_BOXES[2].label).toBe('framed top');
    const md = loneMarkdown([
      { method: 'regional', label: 'framed top', box, found: { zorb: 0, quill: 1, mippet: 2 }, images: 8 },
      { method: 'regional-passes', label: 'framed top', box, found: { zorb: 8, quill: 8, mippet: 8 }, images: 8 },
    ]);
    expect(md.split('\n')[2]).toBe('| framed top [0.25, 0, 0.75, 0.5] | at the top | 13% (0/8 1/8 2/8) | 100% (8/8 8/8 8/8) |');
  });
});

describe('on the demo model', () => {
  const tmp = makeTmpDir('chord-ceiling-');
  afterAll(tmp.cleanup);

  it('finds each character alone in the half it was asked for, without a global LoRA', async () => {
    const dir = testModelDir();
    const model = await openModel(dir, { cacheDir: join(tmp.dir, 'cache'), provider: 'cpu' });
    try {
      const [row] = await runCeiling(model, [undefined], { modelDir: dir, steps: 20, sampler: 'ddim', cfg: 5, seeds: [0] });
      expect(row.images).toBe(4);
      // 99% of 96 such images in the committed run; one seed: at least 3 of 4 halves each
      for (const c of ['zorb', 'quill', 'mippet'] as const) expect(row.found[c]).toBeGreaterThanOrEqual(3);
    } finally {
      await model.release();
    }
  }, 120_000);
});
