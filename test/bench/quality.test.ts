/**
 * The composition-quality bench: its evaluation set, its table, and a reduced run on the demo
 * model (a smoke test: no score threshold).
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runQuality, summarise, summaryMarkdown, type ImageResult } from '../../bench/quality/run';
import { compositions, sample } from '../../bench/quality/set';
import { CONCEPT_CATEGORY } from '../../bench/detectors/world';
import { openModel } from '../../src/engine';
import { makeTmpDir, testModelDir } from '../pipeline/helpers';

describe('evaluation set', () => {
  it('has the testbed counts: one character and one LoRA of each other chosen category', () => {
    expect([2, 3, 4, 5].map((n) => compositions(n).length)).toEqual([24, 72, 96, 48]);
    for (const set of compositions(4)) {
      const cats = set.map((c) => CONCEPT_CATEGORY[c]);
      expect(cats[0]).toBe('character');
      expect(new Set(cats).size).toBe(4);
    }
    expect(new Set(compositions(3).map((s) => s.join())).size).toBe(72);
  });

  it('samples evenly and deterministically', () => {
    const s = sample(2, 6);
    expect(s).toHaveLength(6);
    expect(new Set(s.map((x) => x[0]))).toEqual(new Set(['zorb', 'quill', 'mippet']));
    expect(sample(2, 6)).toEqual(s);
    expect(sample(5, 100)).toHaveLength(48);
  });
});

describe('summary', () => {
  it('averages scores, counts full successes and per-category hit rates', () => {
    const r = (variant: string, hits: Record<string, boolean>, full: number, shallow: number): ImageResult => ({
      variant,
      concepts: Object.keys(hits) as ImageResult['concepts'],
      seed: 0,
      hits,
      score: Object.values(hits).filter(Boolean).length / Object.keys(hits).length,
      ms: 100,
      full,
      shallow,
    });
    const rows = summarise([r('a', { zorb: true, hat: false }, 10, 0), r('a', { quill: true, sunset: true }, 10, 0), r('b', { zorb: false, hat: false }, 4, 12)], 10);
    expect(rows).toEqual([
      expect.objectContaining({ variant: 'a', n: 2, images: 2, meanScore: 0.75, allConcepts: 0.5, fullPerStep: 1, shallowPerStep: 0 }),
      expect.objectContaining({ variant: 'b', n: 2, images: 1, meanScore: 0, allConcepts: 0, fullPerStep: 0.4, shallowPerStep: 1.2 }),
    ]);
    expect(rows[0].category).toEqual({ character: 1, clothing: 0, style: undefined, background: 1, object: undefined });
    expect(summaryMarkdown(rows)).toContain('| 2 | a | 2 | 0.750 | 50% | 100% | 0% | – | 100% | – | 100 | 1.00 + 0.00 |');
  });
});

describe('reduced run on the demo model', () => {
  const tmp = makeTmpDir('chord-quality-');
  afterAll(tmp.cleanup);

  it('scores every method on a composition', async () => {
    const dir = testModelDir();
    const model = await openModel(dir, { cacheDir: join(tmp.dir, 'cache'), provider: 'cpu' });
    try {
      const variants = [{ label: 'merge', method: 'merge' }, { label: 'switch', method: 'switch' }, { label: 'composite', method: 'composite' }];
      const results = await runQuality(model, [['zorb', 'hat']], { modelDir: dir, steps: 4, sampler: 'ddim', cfg: 5, seeds: [0], variants });
      expect(results.map((r) => r.variant)).toEqual(['merge', 'switch', 'composite']);
      for (const r of results) {
        expect(Object.keys(r.hits)).toEqual(['zorb', 'hat']);
        expect(r.score).toBeGreaterThanOrEqual(0);
        expect(r.score).toBeLessThanOrEqual(1);
      }
      expect(results.map((r) => r.full)).toEqual([4, 4, 8]);
    } finally {
      await model.release();
    }
  }, 120_000);
});
