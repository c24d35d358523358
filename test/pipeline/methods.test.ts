/**
 * The composition methods on a fake UNet (what they ask for, how they combine it), the registry,
 * and the real loop on the demo model (batched vs per-LoRA calls, step logs).
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ChordError } from '../../src/engine/errors';
import { openModel } from '../../src/engine/model/model';
import {
  activeLoras,
  Cmlora,
  Composite,
  dominanceWeights,
  findMethod,
  isRefreshStep,
  Merge,
  resolveMethodOptions,
  Switch,
  switchSlot,
  txt2img,
  unetRowsPerCall,
  type UnetCall,
  type UnetRequest,
} from '../../src/engine/pipeline';
import { resolveSettings } from '../../src/engine/pipeline/settings';
import { encodePairs } from '../../src/engine/pipeline/txt2img';
import { Regional } from '../../src/engine/pipeline/regional';
import { bandWeights, blendBands, gaussianLowPass, SpectralComposite } from '../../src/engine/pipeline/spectral-composite';
import { makeTmpDir, testModelDir } from './helpers';

/**
 * A fake UNet: configuration c's prediction is (sum of its weights) in every uncond value and
 * 10 x that in every cond value, so a combination shows which weights went in. Logs each call.
 */
function fakeUnet(log: UnetRequest[]): UnetCall {
  return async (request) => {
    log.push(request);
    const predictions = request.configs.map((c) => {
      const s = c.reduce((a, b) => a + b, 0);
      return { uncond: Float32Array.of(s, s), cond: Float32Array.of(10 * s, 10 * s) };
    });
    const deep = request.depth === 'fill' ? request.configs.map((c) => ({ data: Float32Array.from(c), dims: [2, c.length / 2] })) : undefined;
    return { predictions, deep };
  };
}

describe('Switch', () => {
  it('keeps the first LoRA tau + 1 steps, then switches every tau steps, cycling', () => {
    const slots = Array.from({ length: 18 }, (_, i) => switchSlot(i, 5, 3));
    expect(slots).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 0, 0]);
    expect(switchSlot(7, 1, 2)).toBe(0);
  });

  it('runs one LoRA alone per step, in its order; the prompt sees the first LoRA only', async () => {
    const log: UnetRequest[] = [];
    const m = new Switch([0.5, 2, 3], [2, 0, 1], 2);
    expect(m.promptWeights()).toEqual([0, 0, 3]);
    const steps = [];
    for (let i = 0; i < 7; i++) steps.push(await m.predict(i, 7, fakeUnet(log)));
    expect(steps.map((s) => s.active[0])).toEqual([2, 2, 2, 0, 0, 1, 1]);
    expect(log.map((r) => r.configs)).toEqual([
      [[0, 0, 3]], [[0, 0, 3]], [[0, 0, 3]], [[0.5, 0, 0]], [[0.5, 0, 0]], [[0, 2, 0]], [[0, 2, 0]],
    ]);
  });
});

describe('Composite', () => {
  it('evaluates every LoRA alone in one batched request and averages the halves', async () => {
    const log: UnetRequest[] = [];
    const m = new Composite([1, 2, 3], [0, 1, 2]);
    const out = await m.predict(0, 10, fakeUnet(log));
    expect(log).toHaveLength(1);
    expect(log[0].configs).toEqual([[1, 0, 0], [0, 2, 0], [0, 0, 3]]);
    expect([...out.prediction.uncond]).toEqual([2, 2]);
    expect([...out.prediction.cond]).toEqual([20, 20]);
    expect(m.promptWeights()).toEqual([1, 2, 3]);
  });
});

describe('CMLoRA', () => {
  it('refreshes every c1 steps, then c2, then c1 again, with boundaries as fractions of T', () => {
    const refresh = Array.from({ length: 20 }, (_, i) => i).filter((i) => isRefreshStep(i, 20, 2, 3));
    // [0, 7.5) every 2; [7.5, 17.5) every 3 from step 8; [17.5, 20) every 2 from step 18
    expect(refresh).toEqual([0, 2, 4, 6, 8, 11, 14, 17, 18]);
    expect(Array.from({ length: 8 }, (_, i) => isRefreshStep(i, 8, 1, 1)).every(Boolean)).toBe(true);
  });

  it('phase 1 runs H; phase 2 drops the first of H and adds L; no L means no phase 2', () => {
    expect(activeLoras(12, 20, [0, 1], [2])).toEqual([0, 1]);
    expect(activeLoras(13, 20, [0, 1], [2])).toEqual([1, 2]);
    expect(activeLoras(19, 20, [0, 1], [])).toEqual([0, 1]);
    expect(activeLoras(3, 20, [], [2, 3])).toEqual([2, 3]);
  });

  it('dominant weight coeff = n - 0.5 times the others; the weights sum to n', () => {
    for (const n of [1, 2, 3, 5]) {
      const w = dominanceWeights(n);
      expect(w.dominant / w.other).toBeCloseTo(n - 0.5, 12);
      expect(w.dominant + (n - 1) * w.other).toBeCloseTo(n, 12);
    }
  });

  it('full passes fill the caches, shallow passes read them, refreshes go round robin', async () => {
    const log: UnetRequest[] = [];
    const m = new Cmlora([1, 1, 1], [0, 1], [2], { c1: 2, c2: 3, cache: true });
    m.begin(10, true);
    const steps = [];
    for (let i = 0; i < 10; i++) steps.push(await m.predict(i, 10, fakeUnet(log)));
    // step 0: no caches: both H LoRAs run full ('fill'), LoRA 0 dominant
    expect(log[0]).toMatchObject({ depth: 'fill', configs: [[1, 0, 0], [0, 1, 0]] });
    expect(steps[0]).toMatchObject({ active: [0, 1], dominant: 0, refreshed: [0, 1] });
    // step 1: not a refresh step: both shallow from their caches
    expect(log[1].depth).toBe('shallow');
    expect(log[1].deep?.map((d) => [...d.data])).toEqual([[1, 0, 0], [0, 1, 0]]);
    expect(steps[1]).toMatchObject({ dominant: 0, refreshed: [] });
    // step 2: refresh step: the next in round robin (LoRA 1) runs full and becomes dominant
    expect(steps[2]).toMatchObject({ dominant: 1, refreshed: [1] });
    // phase 2 (step 7 > 0.6 T): LoRA 0 leaves, the background LoRA 2 enters with a full pass
    expect(steps[7].active).toEqual([1, 2]);
    expect(steps[7].refreshed).toContain(2);
    // the combination: weights (w_dom, w_non) over the mean of 2 -> (1.5 * 1 + 0.5 * 1) / 2 = 1
    expect([...steps[1].prediction.uncond]).toEqual([1, 1]);
    expect([...steps[1].prediction.cond]).toEqual([10, 10]);
  });

  it('with caching off, or a UNet that cannot be cut, every pass is full', async () => {
    for (const [cache, cut] of [[false, true], [true, false]]) {
      const log: UnetRequest[] = [];
      const m = new Cmlora([1, 1], [0, 1], [], { c1: 2, c2: 3, cache });
      m.begin(6, cut);
      for (let i = 0; i < 6; i++) await m.predict(i, 6, fakeUnet(log));
      expect(log.every((r) => (r.depth ?? 'full') === 'full')).toBe(true);
      expect(log.every((r) => r.configs.length === 2)).toBe(true);
    }
  });
});

describe('spectral composite (experimental)', () => {
  it('low-passes planes: a constant stays, a checkerboard (amplitude 1) flattens to near its mean', () => {
    expect([...gaussianLowPass(new Float32Array(32).fill(3), 4, 4, 1.5)].every((v) => Math.abs(v - 3) < 1e-6)).toBe(true);
    const board = Float32Array.from({ length: 64 }, (_, i) => ((i % 8) + Math.floor(i / 8)) % 2);
    const low = gaussianLowPass(board, 8, 8, 2);
    expect(Math.max(...low.slice(18, 22)) - Math.min(...low.slice(18, 22))).toBeLessThan(0.05);
    expect(Math.abs(low[27] - 0.5)).toBeLessThan(0.05);
    expect(gaussianLowPass(board, 8, 8, 0)).toEqual(board);
    expect(() => gaussianLowPass(new Float32Array(10), 4, 4, 1)).toThrow(RangeError);
  });

  it('band weights: H leads the high band, L the low band, each band sums to 1; mix 1 is Composite', async () => {
    const w = bandWeights([true, false], 0.25);
    expect(w.high).toEqual([0.8, 0.2]);
    expect(w.low).toEqual([0.2, 0.8]);
    const parts = [Float32Array.from({ length: 16 }, (_, i) => i), Float32Array.from({ length: 16 }, (_, i) => (i * 7) % 5)];
    const blended = blendBands(parts, bandWeights([true, false], 1), 4, 4, 1);
    parts[0].forEach((_, i) => expect(blended[i]).toBeCloseTo((parts[0][i] + parts[1][i]) / 2, 5));
    const log: UnetRequest[] = [];
    const m = new SpectralComposite([1, 1], [0, 1], new Set([0]), { mix: 0.25, cutoff: 0.25 });
    m.begin(4, false, [1, 1, 1, 2]);
    const out = await m.predict(0, 4, fakeUnet(log));
    expect(log[0].configs).toEqual([[1, 0], [0, 1]]);
    // constant predictions have no high band: the low band's weights decide, 0.2 x 1 + 0.8 x 1
    expect([...out.prediction.uncond].map((v) => Number(v.toFixed(5)))).toEqual([1, 1]);
  });
});

describe('CMLoRA order', () => {
  it('freq leads with H; reverse leads with L, so H enters in phase 2', async () => {
    const def = findMethod('cmlora');
    const options = resolveMethodOptions(def);
    const high = new Set([0, 1]);
    const freq = def.create({ weights: [1, 1, 1], order: [1, 0, 2], highFrequency: high }, options) as Cmlora;
    const reverse = def.create({ weights: [1, 1, 1], order: [2, 0, 1], highFrequency: high }, options) as Cmlora;
    const log: UnetRequest[] = [];
    freq.begin(10, false);
    reverse.begin(10, false);
    expect((await freq.predict(0, 10, fakeUnet(log))).active).toEqual([1, 0]);
    expect((await freq.predict(9, 10, fakeUnet(log))).active).toEqual([0, 2]);
    expect((await reverse.predict(0, 10, fakeUnet(log))).active).toEqual([2]);
    expect((await reverse.predict(9, 10, fakeUnet(log))).active).toEqual([0, 1]);
  });
});

describe('method registry', () => {
  it('names every method and completes options with defaults', () => {
    expect(findMethod('Switch').name).toBe('switch');
    expect(resolveMethodOptions(findMethod('switch'))).toEqual({ tau: 5 });
    expect(resolveMethodOptions(findMethod('cmlora'), { c1: 1 })).toEqual({ c1: 1, c2: 3, cache: true });
    expect(resolveMethodOptions(findMethod('merge'))).toEqual({});
  });

  it('refuses unknown methods, unknown options and bad values with one line', () => {
    const text = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as ChordError).userText();
      }
      return 'no error';
    };
    expect(text(() => findMethod('blend'))).toBe('Unknown composition method "blend". Choose one of: merge, switch, composite, cmlora, spectral, regional, regional-passes.');
    expect(() => resolveMethodOptions(findMethod('switch'), { c1: 2 })).toThrow(/no option "c1"/);
    expect(() => resolveMethodOptions(findMethod('switch'), { tau: 0 })).toThrow(/tau .* from 1 to 1000 \(got 0\)/);
    expect(() => resolveMethodOptions(findMethod('cmlora'), { cache: 1 })).toThrow(/true or false/);
  });

  it('sizes UNet batches by the attention memory of the latent', () => {
    expect(unetRowsPerCall(64, 64, 4096)).toBe(2);
    expect(unetRowsPerCall(32, 32, 4096)).toBeGreaterThanOrEqual(32);
    expect(unetRowsPerCall(16, 16, 4096) % 2).toBe(0);
  });
});

describe('methods on the demo model', () => {
  const tmp = makeTmpDir('chord-methods-');
  afterAll(tmp.cleanup);
  const MODEL = testModelDir();
  const loras = ['zorb', 'hat', 'hatching'].map((n) => join(MODEL, 'loras', `${n}.safetensors`));

  it('region prompts encode in one text-encoder batch, each row with its own LoRA weights, as one call each would', async () => {
    const model = await openModel(MODEL, { cacheDir: join(tmp.dir, 'cache'), provider: 'cpu' });
    try {
      await model.useLoras(loras);
      // the second request is two windows long (BREAK): its negative is padded to two as well
      const requests = [
        { prompt: 'zorb on the left', negative: 'blurry', weights: [1, 0, 0.5] },
        { prompt: 'hatz on the right BREAK (hatchy:1.3)', negative: '', weights: [0, 1, 0.5] },
        { prompt: 'gray background', negative: '', weights: [0, 0, 0] },
      ];
      const batched = await encodePairs(model, requests);
      expect(batched.map((t) => t.dims[1])).toEqual([77, 154, 77]);
      for (const [i, r] of requests.entries()) {
        const [alone] = await encodePairs(model, [r]);
        expect(alone.dims).toEqual(batched[i].dims);
        let maxDiff = 0;
        for (let j = 0; j < alone.data.length; j++) maxDiff = Math.max(maxDiff, Math.abs(alone.data[j] - batched[i].data[j]));
        expect(maxDiff).toBeLessThan(1e-5);
      }
      // and the rows' weights matter: the first prompt with the third's weights differs
      const [other] = await encodePairs(model, [{ ...requests[0], weights: [0, 0, 0] }]);
      expect(Math.max(...other.data.map((v, j) => Math.abs(v - batched[0].data[j])))).toBeGreaterThan(1e-3);
    } finally {
      await model.release();
    }
  }, 120_000);

  it('a regional image encodes its prompt and every region prompt in one text-encoder call; a warm-up step runs one pass per region (the halves leave no background)', async () => {
    const model = await openModel(MODEL, { cacheDir: join(tmp.dir, 'cache'), provider: 'cpu' });
    try {
      await model.useLoras(['zorb', 'quill'].map((n) => join(MODEL, 'loras', `${n}.safetensors`)));
      const calls: number[][] = [];
      const encodeText = model.encodeText.bind(model);
      model.encodeText = (ids, weights, rows) => {
        calls.push([ids.dims[0], ...(weights as readonly (readonly number[])[]).map((w) => w.length)]);
        return encodeText(ids, weights, rows);
      };
      const regions = [
        { box: { x0: 0, y0: 0, x1: 0.5, y1: 1 }, prompt: 'zorb on the left', negative: '' },
        { box: { x0: 0.5, y0: 0, x1: 1, y1: 1 }, prompt: 'quill on the right', negative: 'blurry' },
      ];
      const method = new Regional([1, 1], [0, 1], regions, { isolation: true, gate: true, reinit: false, norm: true });
      const settings = resolveSettings({ prompt: 'gray background', seed: 1, steps: 2, sampler: 'ddim', cfg: 5 }, model.folder);
      const plain = await txt2img(model, settings, { method });
      // 3 prompts x (negative, prompt) rows, each row with both LoRAs' weights
      expect(calls).toEqual([[6, 2, 2, 2, 2, 2, 2]]);
      expect(plain.steps.map((s) => s.full)).toEqual([1, 1]);
      // a warm-up step runs one pass per region (2 evaluations: the halves tile the image, so no
      // global pass), on the same encoding
      const warm = new Regional([1, 1], [0, 1], regions, { isolation: true, gate: true, reinit: false, norm: true, warmup: 1 });
      const warmed = await txt2img(model, settings, { method: warm });
      expect(calls).toHaveLength(2);
      expect(warmed.steps.map((s) => s.full)).toEqual([2, 1]);
      expect(Buffer.compare(Buffer.from(warmed.rgb), Buffer.from(plain.rgb))).not.toBe(0);
    } finally {
      await model.release();
    }
  }, 120_000);

  it('regional feeds are built once per layout: a new layout, or the same boxes given again, gives its own output', async () => {
    const model = await openModel(MODEL, { cacheDir: join(tmp.dir, 'cache'), provider: 'cpu' });
    try {
      await model.useLoras(['zorb', 'quill'].map((n) => join(MODEL, 'loras', `${n}.safetensors`)));
      await model.useRegional();
      const [c, h, w] = [model.folder.latentChannels, 8, 8];
      const sample = { data: Float32Array.from({ length: 2 * c * h * w }, (_, i) => Math.sin(i)), dims: [2, c, h, w] };
      const width = 64;
      const context = { data: Float32Array.from({ length: 2 * 3 * 77 * width }, (_, i) => Math.cos(i) * 0.5), dims: [2, 3 * 77, width] };
      const tokenOwner = Array.from({ length: 3 * 77 }, (_, t) => Math.floor(t / 77));
      const layout = (boxes: { x0: number; y0: number; x1: number; y1: number }[]) => ({ boxes, tokenOwner, loraRegion: [0, 1], isolation: true, gateLoras: true, norm: true });
      const leftRight = [{ x0: 0, y0: 0, x1: 0.5, y1: 1 }, { x0: 0.5, y0: 0, x1: 1, y1: 1 }];
      const topBottom = [{ x0: 0, y0: 0, x1: 1, y1: 0.5 }, { x0: 0, y0: 0.5, x1: 1, y1: 1 }];
      const run = async (l?: ReturnType<typeof layout>) => Buffer.from((await model.runUnet({ sample, timestep: 601, context, loras: [1, 1], regional: l })).eps.buffer);
      const a = layout(leftRight);
      const first = await run(a);
      expect((await run(a)).equals(first)).toBe(true);
      const other = await run(layout(topBottom));
      expect(other.equals(first)).toBe(false);
      expect((await run(layout(leftRight))).equals(first)).toBe(true);
      expect((await run(undefined)).equals(first)).toBe(false);
      expect((await run(layout(topBottom))).equals(other)).toBe(true);
    } finally {
      await model.release();
    }
  }, 120_000);

  it('Composite as one batched call equals one call per LoRA; the step log counts N full passes a step', async () => {
    const model = await openModel(MODEL, { cacheDir: join(tmp.dir, 'cache'), provider: 'cpu' });
    try {
      await model.useLoras(loras);
      const settings = resolveSettings({ prompt: 'zorb hatz hatchy', seed: 3, steps: 6, sampler: 'ddim', cfg: 5 }, model.folder);
      const method = new Composite([1, 1, 1], [0, 1, 2]);
      const batched = await txt2img(model, settings, { method, maxBatchRows: 6 });
      const single = await txt2img(model, settings, { method, maxBatchRows: 2 });
      let maxDiff = 0;
      for (let i = 0; i < batched.rgb.length; i++) maxDiff = Math.max(maxDiff, Math.abs(batched.rgb[i] - single.rgb[i]));
      // batched GEMMs may sum in another order: at most one 8-bit level apart
      expect(maxDiff).toBeLessThanOrEqual(1);
      expect(batched.steps.map((s) => [s.full, s.shallow])).toEqual(Array.from({ length: 6 }, () => [3, 0]));
      // and it is not Merge
      const merged = await txt2img(model, settings, { method: new Merge([1, 1, 1]) });
      expect(Buffer.compare(Buffer.from(merged.rgb), Buffer.from(batched.rgb))).not.toBe(0);
    } finally {
      await model.release();
    }
  }, 120_000);

  it('a shallow pass fed the deep feature of a full pass reproduces it; CMLoRA then runs mostly shallow passes', async () => {
    const model = await openModel(MODEL, { cacheDir: join(tmp.dir, 'cache'), provider: 'cpu' });
    try {
      await model.useLoras(loras);
      expect(await model.enableCachedPasses()).toBe(true);
      const [c, h, w] = [model.folder.latentChannels, 16, 16];
      const sample = { data: Float32Array.from({ length: 2 * c * h * w }, (_, i) => Math.sin(i)), dims: [2, c, h, w] };
      const width = 64;
      const context = { data: Float32Array.from({ length: 2 * 77 * width }, (_, i) => Math.cos(i) * 0.5), dims: [2, 77, width] };
      const rows = [[1, 0, 0], [0, 0.7, 0]];
      const full = await model.runUnet({ sample, timestep: 601, context, loras: rows, depth: 'fill' });
      expect(full.deepFeature?.dims[0]).toBe(2);
      const shallow = await model.runUnet({ sample, timestep: 601, context, loras: rows, depth: 'shallow', deepFeature: full.deepFeature });
      expect(Buffer.from(shallow.eps.buffer).equals(Buffer.from(full.eps.buffer))).toBe(true);
      const plain = await model.runUnet({ sample, timestep: 601, context, loras: rows });
      expect(Buffer.from(plain.eps.buffer).equals(Buffer.from(full.eps.buffer))).toBe(true);

      const settings = resolveSettings({ prompt: 'zorb hatz hatchy', seed: 3, steps: 10, sampler: 'dpmpp_2m', cfg: 5 }, model.folder);
      const cached = await txt2img(model, settings, { method: new Cmlora([1, 1, 1], [0, 1], [2], { c1: 2, c2: 3, cache: true }) });
      const uncached = await txt2img(model, settings, { method: new Cmlora([1, 1, 1], [0, 1], [2], { c1: 2, c2: 3, cache: false }) });
      const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
      expect(sum(cached.steps.map((s) => s.shallow))).toBeGreaterThan(sum(cached.steps.map((s) => s.full)));
      expect(sum(uncached.steps.map((s) => s.shallow))).toBe(0);
      // same schedule of active and dominant LoRAs; the images differ (the cache is an approximation)
      expect(cached.steps.map((s) => [s.active, s.dominant])).toEqual(uncached.steps.map((s) => [s.active, s.dominant]));
      expect(Buffer.compare(Buffer.from(cached.rgb), Buffer.from(uncached.rgb))).not.toBe(0);
    } finally {
      await model.release();
    }
  }, 120_000);
});
