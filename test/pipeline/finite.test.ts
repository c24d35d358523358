/**
 * Non-finite numbers in the denoising loop stop the generation with an error naming the step,
 * instead of a black image: the pure checks on tiny arrays, then the loop on the test model with
 * a composition method that returns a broken prediction at a chosen step.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChordError } from '../../src/engine/errors';
import { openModel, type Model } from '../../src/engine/model/model';
import type { CompositionMethod, MethodStep, NoisePrediction, UnetCall } from '../../src/engine/pipeline/composition';
import { assertFiniteImage, assertFiniteStep } from '../../src/engine/pipeline/finite';
import { resolveSettings } from '../../src/engine/pipeline/settings';
import { txt2img } from '../../src/engine/pipeline/txt2img';
import { firstNonFinite, nonFiniteName } from '../../src/engine/tensor';
import { makeTmpDir, testModelDir } from './helpers';

describe('finite checks (pure)', () => {
  it('firstNonFinite finds the first NaN or infinity, -1 when there is none', () => {
    expect(firstNonFinite(Float32Array.of(0, -3.5, 1e38, -0))).toBe(-1);
    expect(firstNonFinite(new Float32Array(0))).toBe(-1);
    expect(firstNonFinite(Float32Array.of(1, Number.NaN, Number.POSITIVE_INFINITY))).toBe(1);
    expect(firstNonFinite(Float32Array.of(1, 2, Number.NEGATIVE_INFINITY))).toBe(2);
    expect(firstNonFinite([Number.POSITIVE_INFINITY])).toBe(0);
    expect([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY].map(nonFiniteName)).toEqual(['NaN', '+Infinity', '-Infinity']);
  });

  it('assertFiniteStep passes finite arrays and names the step and the value otherwise', () => {
    expect(() => assertFiniteStep(1, 20, 'latent', Float32Array.of(1, 2), Float32Array.of(3))).not.toThrow();
    let error: unknown;
    try {
      assertFiniteStep(7, 20, 'noise prediction', Float32Array.of(1), Float32Array.of(0, Number.NaN));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ChordError);
    expect((error as ChordError).code).toBe('RUNTIME');
    expect((error as ChordError).message).toBe('Step 7 of 20 gave a noise prediction with NaN values; stopped instead of writing a black image.');
    expect((error as ChordError).userText()).not.toContain('\n');
  });

  it('assertFiniteImage passes a finite image and names the non-finite value otherwise', () => {
    expect(() => assertFiniteImage(Float32Array.of(-1, 0, 1))).not.toThrow();
    expect(() => assertFiniteImage(Float32Array.of(0, Number.NEGATIVE_INFINITY))).toThrow(
      /^The VAE decoder gave -Infinity values; stopped instead of writing a black image\.$/,
    );
  });
});

/** Merge of no LoRAs, except that from step `from` (0-based) on the prediction is replaced. */
class BrokenAt implements CompositionMethod {
  readonly name = 'merge';
  readonly options = {};
  readonly order = [];
  readonly wantsCachedPasses = false;
  calls = 0;
  constructor(
    private readonly from: number,
    private readonly broken: (p: NoisePrediction) => NoisePrediction,
  ) {}
  promptWeights(): number[] {
    return [];
  }
  begin(): void {}
  async predict(step: number, _total: number, unet: UnetCall): Promise<MethodStep> {
    this.calls++;
    const p = (await unet({ configs: [[]] })).predictions[0];
    return { prediction: step >= this.from ? this.broken(p) : p, active: [] };
  }
}

describe('the denoising loop on the test model', () => {
  const tmp = makeTmpDir();
  let model: Model;
  beforeAll(async () => {
    model = await openModel(testModelDir(), { provider: 'cpu', cacheDir: join(tmp.dir, 'cache') });
  });
  afterAll(async () => {
    await model.release();
    tmp.cleanup();
  });

  const run = async (method: CompositionMethod): Promise<unknown> => {
    const settings = resolveSettings({ prompt: 'a red circle', steps: 4, seed: 3 }, model.folder);
    return txt2img(model, settings, { method }).then(
      (r) => r,
      (e: unknown) => e,
    );
  };

  it('a NaN in the prediction at step 2 stops there, naming step 2', async () => {
    const method = new BrokenAt(1, ({ uncond, cond }) => {
      const c = cond.slice();
      c[10] = Number.NaN;
      return { uncond, cond: c };
    });
    const e = await run(method);
    expect(e).toBeInstanceOf(ChordError);
    expect((e as ChordError).message).toBe('Step 2 of 4 gave a noise prediction with NaN values; stopped instead of writing a black image.');
    expect(method.calls).toBe(2);
  });

  it('a finite prediction whose guidance overflows float32 stops at the latent check', async () => {
    // cond - uncond = 6e38 is beyond float32: eps and then the latent are infinite
    const method = new BrokenAt(2, ({ uncond, cond }) => ({ uncond: uncond.map(() => -3e38), cond: cond.map(() => 3e38) }));
    const e = await run(method);
    expect(e).toBeInstanceOf(ChordError);
    expect((e as ChordError).message).toMatch(/^Step 3 of 4 gave a latent with [+-]Infinity values;/);
  });

  it('a VAE decoder that gives NaN (an fp16 overflow) stops the run before any pixels are made', async () => {
    // the real model, except that its decoder's output is NaN
    const broken = Object.create(model, {
      decodeLatents: { value: async () => ({ data: new Float32Array(3 * 64 * 64).fill(Number.NaN), dims: [1, 3, 64, 64] }) },
    }) as Model;
    const settings = resolveSettings({ prompt: 'a red circle', steps: 2, seed: 3 }, model.folder);
    const e = await txt2img(broken, settings).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(ChordError);
    expect((e as ChordError).message).toBe('The VAE decoder gave NaN values; stopped instead of writing a black image.');
  });

  it('an unbroken run still gives an image', async () => {
    const r = await run(new BrokenAt(99, (p) => p));
    expect(r).toMatchObject({ width: 64, height: 64 });
  });
});
