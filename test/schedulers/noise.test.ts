// Golden values: test/schedulers/reference.py re-implements the generator spec of
// src/engine/schedulers/noise.ts with Python integers and math.log/cos/sin. The raw uint32 outputs
// must match exactly; normals to float32 precision. If these change, every saved seed changes.
import { describe, expect, it } from 'vitest';
import { NoiseGenerator, randn } from '../../src/engine/schedulers';
import { expectClose } from './close';

describe('NoiseGenerator', () => {
  it.each([
    [0, [3809008728, 1133695204, 53579671, 2891528803]],
    [42, [2837322924, 544945897, 479756282, 3500138142]],
    [2 ** 32 + 7, [1905718179, 2070348997, 2751674165, 1887642793]],
  ])('seed %d: raw 32-bit stream', (seed, expected) => {
    const g = new NoiseGenerator(seed);
    expect([g.nextUint32(), g.nextUint32(), g.nextUint32(), g.nextUint32()]).toEqual(expected);
  });

  it.each([
    [0, [2.08120893487, 0.163465613627, 0.254130696022, 0.0392820233575, 1.32215939778]],
    [42, [1.12265918228, 0.949147435189, 0.404127856338, 0.0387374413085, 0.838237761171]],
    [2 ** 32 + 7, [-0.686801696148, -0.837396586648, -0.274221246512, 1.37356630028, -1.8927276575]],
  ])('seed %d: randn(5)', (seed, expected) => {
    expectClose(randn(seed, 5), expected, 1e-6, 1e-7);
  });

  it('an odd request drops the last sine, so the stream position depends only on the counts', () => {
    const g = new NoiseGenerator(42);
    g.randn(3);
    expectClose(g.randn(2), [0.838237761171, 1.88397686197], 1e-6, 1e-7);
  });

  it('source() continues the same stream', () => {
    const g = new NoiseGenerator(42);
    const next = g.source(2);
    expectClose(next(), [1.12265918228, 0.949147435189], 1e-6, 1e-7);
    expectClose(next(), [0.404127856338, 0.0387374413085], 1e-6, 1e-7);
  });

  it('is standard normal in bulk (mean, variance, tails) and differs between seeds', () => {
    const z = randn(1234, 100_000);
    let mean = 0;
    let sq = 0;
    let beyond2 = 0;
    for (const v of z) {
      mean += v;
      sq += v * v;
      if (Math.abs(v) > 2) beyond2++;
    }
    mean /= z.length;
    expect(Math.abs(mean)).toBeLessThan(0.015); // 4.7 standard errors
    expect(sq / z.length).toBeGreaterThan(0.98);
    expect(sq / z.length).toBeLessThan(1.02);
    expect(beyond2 / z.length).toBeGreaterThan(0.043); // P(|z| > 2) = 0.0455
    expect(beyond2 / z.length).toBeLessThan(0.048);
    expect(Array.from(randn(1235, 4))).not.toEqual(Array.from(z.subarray(0, 4)));
  });

  it('rejects seeds that are not whole numbers in range', () => {
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) {
      expect(() => new NoiseGenerator(bad)).toThrow(/seed must be a whole number/);
    }
  });
});
