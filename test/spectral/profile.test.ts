/** LoRA frequency profiles on the demo model: what they hold, and the on-disk cache. */
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isChordError } from '../../src/engine/errors';
import { inspectLora } from '../../src/engine/lora/metadata';
import { categoryFromMetadata, deltaHigh, LoraProfiler, profileLoras, resolveProfileSettings } from '../../src/engine/spectral';
import { makeTmpDir, testModelDir } from '../pipeline/helpers';

const MODEL = testModelDir();
const LORAS = join(MODEL, 'loras');
const tmp = makeTmpDir('chord-spectral-');
afterAll(() => tmp.cleanup());
const cacheDir = join(tmp.dir, 'cache');
const entries = () => readdirSync(join(cacheDir, 'spectral')).filter((f) => f.endsWith('.json'));
// small and quick: the numbers are not the point here
const settings = { steps: 3, seeds: 2 };

describe('LoraProfiler', () => {
  it('profiles a LoRA from its trigger words and caches it by model, file, prompt and settings', async () => {
    const first = await profileLoras(MODEL, [join(LORAS, 'hatching.safetensors')], { cacheDir, settings, provider: 'cpu', threshold: 0 });
    const p = first[0];
    expect(p.name).toBe('hatching');
    expect(p.prompt).toBe('hatchy');
    expect(p.cached).toBe(false);
    // 64 x 64: the farthest bin is 45.25 from (32, 32), rings 0..45; ring 0 (DC) is the maximum
    expect(p.radial).toHaveLength(46);
    expect(p.baseRadial).toHaveLength(46);
    expect(p.radial[0]).toBeCloseTo(1, 12);
    expect(p.baseRadial[0]).toBeCloseTo(1, 12);
    expect(p.dH).toBe(deltaHigh(p.radial, p.baseRadial));
    expect(p.class).toBe(p.dH > 0 ? 'H' : 'L');
    expect(entries()).toHaveLength(2); // the LoRA's and the base's

    // a new profiler (a new process) reads it back; the class follows its own threshold
    const again = await profileLoras(MODEL, [join(LORAS, 'hatching.safetensors')], { cacheDir, settings, provider: 'cpu', threshold: p.dH });
    expect(again[0].cached).toBe(true);
    expect(again[0].radial).toEqual(p.radial);
    expect(again[0].dH).toBe(p.dH);
    expect(again[0].class).toBe('L'); // not strictly above itself
    expect(entries()).toHaveLength(2);

    // other settings: other entries
    const oneSeed = await profileLoras(MODEL, [join(LORAS, 'hatching.safetensors')], { cacheDir, settings: { ...settings, seeds: 1 }, provider: 'cpu', threshold: 0 });
    expect(oneSeed[0].cached).toBe(false);
    expect(oneSeed[0].dH).not.toBe(p.dH);
    expect(entries()).toHaveLength(4);
  });

  it('a changed LoRA file is profiled again; the base images of its prompt are reused', async () => {
    const profiler = await LoraProfiler.open(MODEL, { cacheDir, settings, provider: 'cpu', threshold: 0 });
    try {
      const original = await profiler.profile(join(LORAS, 'sunset.safetensors'));
      const before = entries().length;
      // same weights and trigger word, one metadata letter changed: another sha256
      const copy = join(tmp.dir, 'sunset-edited.safetensors');
      copyFileSync(join(LORAS, 'sunset.safetensors'), copy);
      const bytes = readFileSync(copy);
      const at = bytes.indexOf('glyph world');
      expect(at).toBeGreaterThan(0);
      bytes[at] = 'G'.charCodeAt(0);
      writeFileSync(copy, bytes);
      const edited = await profiler.profile(copy);
      expect(edited.cached).toBe(false);
      expect(entries()).toHaveLength(before + 1);
      // the same weights on the same images: the same numbers
      expect(edited.dH).toBe(original.dH);
      expect(edited.radial).toEqual(original.radial);
    } finally {
      await profiler.close();
    }
  });

  it('a PEFT folder without trigger words is prompted with its name, or with the prompt given', async () => {
    const profiler = await LoraProfiler.open(MODEL, { cacheDir, settings: { steps: 2, seeds: 1 }, provider: 'cpu', threshold: 0 });
    try {
      const byName = await profiler.profile(join(LORAS, 'dots-peft'));
      expect(byName.name).toBe('dots-peft');
      expect(byName.prompt).toBe('dots-peft');
      const byPrompt = await profiler.profile(join(LORAS, 'dots-peft'), undefined, 'dotty');
      expect(byPrompt.prompt).toBe('dotty');
      expect(byPrompt.cached).toBe(false);
      expect(byPrompt.dH).not.toBe(byName.dH);
    } finally {
      await profiler.close();
    }
  });

  it('a damaged cache entry is made again', async () => {
    const [p] = await profileLoras(MODEL, [join(LORAS, 'hatching.safetensors')], { cacheDir, settings, provider: 'cpu', threshold: 0 });
    expect(p.cached).toBe(true);
    for (const f of entries()) writeFileSync(join(cacheDir, 'spectral', f), '{"version": 1, "radial": [1, "x"]}');
    const [q] = await profileLoras(MODEL, [join(LORAS, 'hatching.safetensors')], { cacheDir, settings, provider: 'cpu', threshold: 0 });
    expect(q.cached).toBe(false);
    expect(q.dH).toBe(p.dH);
  });

  it('bad settings and missing files are one-line ChordErrors', async () => {
    expect(() => resolveProfileSettings({ seeds: 0 })).toThrow('Profile seeds must be a whole number from 1 to 64 (got 0).');
    expect(() => resolveProfileSettings({ steps: 1.5 })).toThrow('Profile steps must be a whole number of at least 1 (got 1.5).');
    expect(() => resolveProfileSettings({ seed: -1 })).toThrow(/A seed must be a whole number/);
    await expect(LoraProfiler.open(MODEL, { cacheDir, threshold: Number.NaN })).rejects.toThrow('The frequency threshold must be a number (got NaN).');
    const e = await profileLoras(MODEL, [join(tmp.dir, 'missing.safetensors')], { cacheDir, settings }).catch((x: unknown) => x);
    expect(isChordError(e)).toBe(true);
  });
});

describe('the demo LoRAs', () => {
  it('carry their category in chord.category', async () => {
    const expected: Record<string, string> = {
      zorb: 'character',
      quill: 'character',
      mippet: 'character',
      hat: 'clothing',
      scarf: 'clothing',
      hatching: 'style',
      dots: 'style',
      sunset: 'background',
      meadow: 'background',
      ball: 'object',
      cube: 'object',
    };
    for (const [name, category] of Object.entries(expected)) {
      const info = await inspectLora(join(LORAS, `${name}.safetensors`), { hashes: false });
      expect(categoryFromMetadata(info.metadata), name).toBe(category);
    }
  });
});
