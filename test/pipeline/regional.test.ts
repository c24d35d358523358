/** Regional composition: region checks, context layout, latent re-initialisation, both methods' calls. */
import { describe, expect, it } from 'vitest';
import type { UnetRequest, UnetResult } from '../../src/engine/pipeline/composition';
import { checkRegions, concatContexts, MAX_REGIONS, matchMoments, moveWindow, Regional, RegionalPasses, regionMasks, type RegionSpec } from '../../src/engine/pipeline/regional';
import { describeMethods, findMethod, presetOptions, recordedMethodOptions, resolveMethodOptions } from '../../src/engine/pipeline/methods';

const box = (x0: number, y0: number, x1: number, y1: number) => ({ x0, y0, x1, y1 });
const region = (b: ReturnType<typeof box>, prompt = 'p'): RegionSpec => ({ box: b, prompt, negative: '' });
const LEFT = region(box(0, 0, 0.5, 1), 'zorb on the left');
const RIGHT = region(box(0.5, 0, 1, 1), 'quill on the right');

describe('checkRegions', () => {
  it('accepts touching boxes and refuses overlaps, boxes outside the image, no area, too many', () => {
    expect(() => checkRegions([LEFT, RIGHT])).not.toThrow();
    const bad: [RegionSpec[], RegExp][] = [
      [[], /needs at least one region/],
      [[LEFT, region(box(0.4, 0, 1, 1))], /^Regions 1 and 2 overlap \(0,0,0.5,1 and 0.4,0,1,1\)\.$/],
      [[region(box(0, 0, 1.2, 1))], /^Region 1: its box 0,0,1.2,1 leaves the image\.$/],
      [[region(box(-0.1, 0, 1, 1))], /leaves the image/],
      [[region(box(0.5, 0, 0.5, 1))], /^Region 1: its box 0.5,0,0.5,1 has no area\.$/],
      [[region(box(0, 0, Number.NaN, 1))], /must be four numbers/],
      [Array.from({ length: MAX_REGIONS + 1 }, (_, i) => region(box(i / 10, 0, (i + 1) / 10, 1))), /9 regions given; at most 8/],
    ];
    for (const [regions, message] of bad) expect(() => checkRegions(regions)).toThrow(message);
  });
});

describe('region helpers', () => {
  it('concatenates contexts along the tokens, row by row', () => {
    const a = { data: Float32Array.of(1, 2, 3, 4), dims: [2, 1, 2] };
    const b = { data: Float32Array.of(5, 6, 7, 8, 9, 10, 11, 12), dims: [2, 2, 2] };
    const c = concatContexts([a, b]);
    expect(c.dims).toEqual([2, 3, 2]);
    expect([...c.data]).toEqual([1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12]);
  });

  it('moves a window of noise into a box as a permutation (no value lost or duplicated)', () => {
    const C = 2;
    const h = 4;
    const w = 6;
    const latent = Float32Array.from({ length: C * h * w }, (_, i) => i);
    const moved = Float32Array.from(latent);
    // box = columns 3..5, window = columns 1..3 (overlapping): shift by -2
    moveWindow(moved, { C, h, w }, { y0: 0, y1: 4, x0: 3, x1: 6 }, 0, -2);
    expect([...moved].sort((p, q) => p - q)).toEqual([...latent]);
    for (let c = 0; c < C; c++) for (let y = 0; y < h; y++) for (let x = 3; x < 6; x++) expect(moved[(c * h + y) * w + x]).toBe(latent[(c * h + y) * w + x - 2]);
    const same = Float32Array.from(latent);
    moveWindow(same, { C, h, w }, { y0: 0, y1: 4, x0: 3, x1: 6 }, 0, 0);
    expect(same).toEqual(latent);
  });

  it('restores mean and std', () => {
    const x = Float32Array.of(1, 2, 3, 4);
    const out = matchMoments(x, Float32Array.of(10, 10, 20, 20));
    const mean = out.reduce((a, b) => a + b, 0) / 4;
    expect(mean).toBeCloseTo(15, 5);
    expect(Math.sqrt(out.reduce((a, b) => a + (b - mean) ** 2, 0) / 4)).toBeCloseTo(5, 4);
  });

  it('latent masks: background plus one per box, summing to one everywhere', () => {
    const masks = regionMasks([box(0, 0, 0.5, 0.5), box(0.5, 0.5, 1, 1)], 4, 4);
    expect(masks).toHaveLength(3);
    for (let q = 0; q < 16; q++) expect(masks[0][q] + masks[1][q] + masks[2][q]).toBe(1);
    expect([...masks[1]]).toEqual([1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });
});

/** A stand-in UnetCall: each configuration predicts (uncond, cond) filled with its index + 1 (and 10x). */
function recordingUnet(plane: number, calls: UnetRequest[]) {
  return async (request: UnetRequest): Promise<UnetResult> => {
    calls.push(request);
    return { predictions: request.configs.map((_, j) => ({ uncond: new Float32Array(plane).fill(j + 1), cond: new Float32Array(plane).fill(10 * (j + 1)) })) };
  };
}

const context = (seq: number, value: number) => ({ data: new Float32Array(2 * seq * 3).fill(value), dims: [2, seq, 3] });

function setup(regions: number) {
  return {
    context: context(77, 0),
    prompts: Array.from({ length: regions }, (_, r) => context(77, r + 1)),
    latents: new Float32Array(4 * 4 * 4),
    latentDims: [1, 4, 4, 4],
    timestep: 999,
    modelInput: (x: Float32Array) => x,
    model: { useRegional: async () => undefined, runUnet: async () => ({ eps: new Float32Array(0) }) },
  };
}

describe('Regional', () => {
  it('encodes each region with its own and the global LoRAs, then runs one CFG pass per step with the whole layout', async () => {
    // LoRA 0 global, 1 bound to region 0, 2 to region 1
    const method = new Regional([0.8, 1, 0.5], [-1, 0, 1], [LEFT, RIGHT], { isolation: true, gate: true, reinit: false, norm: true });
    expect(method.promptWeights()).toEqual([0.8, 0, 0]);
    // each region's prompt and negative, for the loop to encode with the image's prompt in one call
    expect(method.prompts().map((r) => [r.prompt, r.negative, [...r.weights]])).toEqual([
      [LEFT.prompt, LEFT.negative, [0.8, 1, 0]],
      [RIGHT.prompt, RIGHT.negative, [0.8, 0, 0.5]],
    ]);
    method.begin();
    await expect(method.prepare(setup(1))).rejects.toThrow(/1 encoded region prompts for 2 regions/);
    expect(await method.prepare(setup(2))).toBeUndefined();
    const calls: UnetRequest[] = [];
    const step = await method.predict(0, 10, recordingUnet(16, calls));
    expect(calls).toHaveLength(1);
    expect(calls[0].configs).toEqual([[0.8, 1, 0.5]]);
    const regional = calls[0].regional;
    expect(regional?.context.dims).toEqual([2, 3 * 77, 3]);
    expect(regional?.layout.tokenOwner.slice(76, 78)).toEqual([0, 1]);
    expect(regional?.layout.tokenOwner[3 * 77 - 1]).toBe(2);
    expect(regional?.layout).toMatchObject({ loraRegion: [-1, 0, 1], isolation: true, gateLoras: true });
    expect(step.active).toEqual([0, 1, 2]);
    expect(method.options).toEqual({ isolation: true, gate: true, reinit: false, norm: true, warmup: 0 });
  });

  it('with a warm-up, runs its first steps as per-region passes, then one pass per step', async () => {
    const method = new Regional([1, 1], [0, 1], [LEFT, RIGHT], { isolation: true, gate: true, reinit: false, norm: true, warmup: 2 });
    expect(method.options.warmup).toBe(2);
    for (let image = 0; image < 2; image++) {
      method.begin();
      await method.prepare(setup(2));
      const calls: UnetRequest[] = [];
      const steps = [];
      for (let i = 0; i < 4; i++) steps.push(await method.predict(i, 4, recordingUnet(4 * 16, calls)));
      // steps 0 and 1: one pass per region, each with its own context (the halves tile the image,
      // so the global prompt's pass would weigh nothing and is not run)
      expect(calls.map((c) => c.configs.length)).toEqual([2, 2, 1, 1]);
      expect(calls[0].configs).toEqual([[1, 0], [0, 1]]);
      expect(calls[0].contexts?.map((c) => c.data[0])).toEqual([1, 2]);
      expect(calls[0].regional).toBeUndefined();
      // combined by the boxes: left columns from region 0's pass (1), right from region 1's (2)
      expect([...steps[0].prediction.uncond.subarray(0, 4)]).toEqual([1, 1, 2, 2]);
      // then the whole layout in one pass
      expect(calls[2].configs).toEqual([[1, 1]]);
      expect(calls[2].regional?.context.dims).toEqual([2, 3 * 77, 3]);
    }
    // the registry's option, recorded; images made before it have none and remake without it
    const def = findMethod('regional');
    expect(resolveMethodOptions(def, { warmup: 4 }).warmup).toBe(4);
    expect(() => resolveMethodOptions(def, { warmup: -1 })).toThrow(/warmup/);
    expect(recordedMethodOptions('regional', { isolation: true, gate: true, reinit: true, norm: true }).warmup).toBe(0);
  });

  it('has two presets: the defaults, and placement first (warm-up 4, no isolation, no re-initialisation)', () => {
    const def = findMethod('regional');
    expect(presetOptions(def, 'one-pass')).toEqual(resolveMethodOptions(def));
    expect(presetOptions(def, ' Placement ')).toEqual({ isolation: false, gate: true, reinit: false, norm: true, warmup: 4 });
    expect(() => presetOptions(def, 'fast')).toThrow(/^The Regional method has no preset "fast"\.$/);
    expect(() => presetOptions(findMethod('merge'), 'placement')).toThrow(/no preset/);
    // the app gets every option of each preset, so that choosing one resets the others
    const described = describeMethods().find((m) => m.name === 'regional');
    expect(described?.presets.map((p) => [p.name, p.options])).toEqual([
      ['one-pass', { isolation: true, gate: true, reinit: true, norm: true, warmup: 0 }],
      ['placement', { isolation: false, gate: true, reinit: false, norm: true, warmup: 4 }],
    ]);
    expect(describeMethods().filter((m) => m.presets.length > 0).map((m) => m.name)).toEqual(['regional']);
  });

  it('is in the registry with its switches, and refuses bad regions when made', () => {
    const def = findMethod('regional');
    expect(resolveMethodOptions(def, { reinit: false })).toEqual({ isolation: true, gate: true, reinit: false, norm: true, warmup: 0 });
    // records made before per-region normalisation existed leave it out: --from remakes them without it
    expect(recordedMethodOptions('regional', { isolation: true, gate: true, reinit: true })).toEqual({ isolation: true, gate: true, reinit: true, norm: false, warmup: 0 });
    expect(recordedMethodOptions('regional', { isolation: true, gate: true, reinit: true, norm: true }).norm).toBe(true);
    expect(() => def.create({ weights: [], order: [], regions: [] }, resolveMethodOptions(def))).toThrow(/at least one region/);
  });
});

describe('RegionalPasses', () => {
  it('one pass for the global prompt and one per region, each with its own context, combined by the boxes', async () => {
    const top = region(box(0.25, 0, 0.75, 0.5), 'zorb at the top');
    const bottom = region(box(0.25, 0.5, 0.75, 1), 'quill at the bottom');
    const method = new RegionalPasses([1, 1], [0, 1], [top, bottom]);
    expect(method.prompts().map((r) => [...r.weights])).toEqual([[1, 0], [0, 1]]);
    await method.prepare(setup(2));
    const calls: UnetRequest[] = [];
    const step = await method.predict(0, 10, recordingUnet(4 * 16, calls));
    expect(calls[0].configs).toEqual([[0, 0], [1, 0], [0, 1]]);
    expect(calls[0].contexts?.map((c) => c.data[0])).toEqual([0, 1, 2]);
    // 4 x 4 latent (channels 16 apart): columns 1-2 of rows 0-1 from region 0's pass (prediction
    // 2), of rows 2-3 from region 1's (prediction 3), columns 0 and 3 from the global pass (1)
    expect([...step.prediction.uncond.subarray(0, 4)]).toEqual([1, 2, 2, 1]);
    expect([...step.prediction.uncond.subarray(12, 16)]).toEqual([1, 3, 3, 1]);
    expect([...step.prediction.cond.subarray(16 * 3, 16 * 3 + 4)]).toEqual([10, 20, 20, 10]);
  });

  it('runs no global pass when the boxes cover the whole latent (its mask is empty)', async () => {
    const method = new RegionalPasses([1, 1], [0, 1], [LEFT, RIGHT]);
    await method.prepare(setup(2));
    const calls: UnetRequest[] = [];
    const step = await method.predict(0, 10, recordingUnet(4 * 16, calls));
    expect(calls[0].configs).toEqual([[1, 0], [0, 1]]);
    expect(calls[0].contexts?.map((c) => c.data[0])).toEqual([1, 2]);
    // columns 0-1 from region 0's pass (now prediction 1), columns 2-3 from region 1's (2)
    expect([...step.prediction.uncond.subarray(0, 4)]).toEqual([1, 1, 2, 2]);
    expect([...step.prediction.cond.subarray(16 * 3, 16 * 3 + 4)]).toEqual([10, 10, 20, 20]);
  });
});
