/** The spectrum maths on images small enough to check by hand. */
import { describe, expect, it } from 'vitest';
import { dft, fftMagnitude, fftShift } from '../../src/engine/spectral/fft2d';
import {
  deltaHigh,
  frequencyClass,
  grayscale,
  highFrequencyStatistic,
  logMagnitudeSpectrum,
  normalizeToMax,
  radialMean,
  radialProfile,
} from '../../src/engine/spectral/spectrum';

const L = Math.log(1e-8); // log of an empty bin

/** Naive O(n^2) DFT, the definition. */
function naiveDft(data: Float64Array): Float64Array {
  const n = data.length / 2;
  const out = new Float64Array(2 * n);
  for (let k = 0; k < n; k++) {
    for (let j = 0; j < n; j++) {
      const a = (-2 * Math.PI * j * k) / n;
      out[2 * k] += data[2 * j] * Math.cos(a) - data[2 * j + 1] * Math.sin(a);
      out[2 * k + 1] += data[2 * j] * Math.sin(a) + data[2 * j + 1] * Math.cos(a);
    }
  }
  return out;
}

/** A gray RGB image from a function of (x, y). */
function rgbOf(width: number, height: number, f: (x: number, y: number) => number): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out.fill(Math.round(f(x, y)), 3 * (y * width + x), 3 * (y * width + x) + 3);
  return out;
}

describe('dft', () => {
  it.each([1, 2, 3, 5, 6, 8, 12, 17])('matches the definition at length %i (fft.js or Bluestein)', (n) => {
    const data = Float64Array.from({ length: 2 * n }, (_, i) => Math.sin(1.7 * i + 0.3) * 10);
    const fast = dft(data);
    const slow = naiveDft(data);
    for (let i = 0; i < 2 * n; i++) expect(fast[i]).toBeCloseTo(slow[i], 9);
  });

  it('does not change its input', () => {
    const data = Float64Array.from([1, 0, 2, 0, 3, 0]);
    dft(data);
    expect([...data]).toEqual([1, 0, 2, 0, 3, 0]);
  });
});

describe('fftShift', () => {
  it('moves bin (0, 0) to (floor(w/2), floor(h/2)), odd and even sides', () => {
    // 3 x 2, values = their index: numpy.fft.fftshift([[0, 1, 2], [3, 4, 5]]) = [[5, 3, 4], [2, 0, 1]]
    expect([...fftShift([0, 1, 2, 3, 4, 5], 3, 2)]).toEqual([5, 3, 4, 2, 0, 1]);
    const v = new Float64Array(4 * 4);
    v[0] = 1;
    expect(fftShift(v, 4, 4)[2 * 4 + 2]).toBe(1);
  });
});

describe('fftMagnitude', () => {
  it('rows then columns: a constant has only the DC term, on a non-power-of-two grid too', () => {
    const m = fftMagnitude(new Array(6 * 5).fill(2), 6, 5);
    expect(m[0]).toBeCloseTo(60, 9);
    for (let i = 1; i < m.length; i++) expect(m[i]).toBeLessThan(1e-9);
  });

  it('a cosine along y of 3 cycles over 6 rows lands at ky = 3 (Nyquist), kx = 0', () => {
    const w = 4;
    const h = 6;
    const values = Array.from({ length: w * h }, (_, i) => Math.cos((2 * Math.PI * 3 * Math.floor(i / w)) / h));
    const m = fftMagnitude(values, w, h);
    expect(m[3 * w]).toBeCloseTo(w * h, 9);
    expect(m.reduce((a, b) => a + b, 0)).toBeCloseTo(w * h, 6);
  });
});

describe('grayscale', () => {
  it('is the mean of R, G and B', () => {
    expect([...grayscale(Uint8Array.from([255, 0, 0, 30, 60, 90]), 2, 1)]).toEqual([85, 60]);
  });

  it('rejects a buffer of the wrong size in one line', () => {
    expect(() => grayscale(new Uint8Array(5), 1, 2)).toThrow('An RGB image of 1 x 2 has 6 bytes, not 5.');
  });
});

describe('radialMean', () => {
  it('averages integer-radius rings around (floor(w/2), floor(h/2))', () => {
    // 3 x 3, centre (1, 1): ring 0 = the centre, ring 1 = the 8 others (distances 1 and 1.41)
    expect(radialMean([1, 1, 1, 1, 9, 1, 1, 1, 1], 3, 3)).toEqual([9, 1]);
    // 4 x 1, centre (2, 0): distances 2, 1, 0, 1
    expect(radialMean([10, 4, 7, 6], 4, 1)).toEqual([7, 5, 10]);
  });
});

describe('radial profile and statistic', () => {
  it('a constant image: DC alone at ring 0, every other ring empty', () => {
    // 4 x 4 of 100: |F(0,0)| = 1600, all other bins 0 -> log 1e-8
    const p = radialProfile(rgbOf(4, 4, () => 100), 4, 4);
    const d = Math.log(1600);
    expect(p).toHaveLength(3); // farthest pixel (0, 0) is 2.83 from (2, 2): rings 0..2
    expect(p[0]).toBe(1);
    expect(p[1]).toBeCloseTo(L / d, 9);
    expect(p[2]).toBeCloseTo(L / d, 9);
    // largest radius 2: the band is r >= 0.4, rings 1 and 2
    expect(highFrequencyStatistic(p)).toBeCloseTo(L / d, 9);
  });

  it('a single cosine puts its two peaks on ring 2', () => {
    // 8 x 8, 100 + 50 cos(2 pi 2x / 8): DC 6400, |F(+-2, 0)| = 50 * 64 / 2 = 1600
    const s = logMagnitudeSpectrum(grayscale(rgbOf(8, 8, (x) => 100 + 50 * Math.cos((2 * Math.PI * 2 * x) / 8)), 8, 8), 8, 8);
    expect(s[4 * 8 + 2]).toBeCloseTo(Math.log(1600), 9);
    expect(s[4 * 8 + 6]).toBeCloseTo(Math.log(1600), 9);
    const rings = radialMean(s, 8, 8);
    // ring 2 holds the 16 pixels at distances 2, 2.24 and 2.83 from (4, 4)
    expect(rings[2]).toBeCloseTo((2 * Math.log(1600) + 14 * L) / 16, 9);
    expect(rings[0]).toBeCloseTo(Math.log(6400), 9);
    for (const r of [1, 3, 4, 5]) expect(rings[r]).toBeCloseTo(L, 9);
  });

  it('a checkerboard puts its energy in the corner, the last ring, and scores higher than a constant', () => {
    // 4 x 4, 100 +- 50: DC 1600, Nyquist (2, 2) = 50 * 16 = 800, shifted to (0, 0)
    const board = radialProfile(rgbOf(4, 4, (x, y) => ((x + y) % 2 === 0 ? 150 : 50)), 4, 4);
    const d = Math.log(1600);
    // ring 1: 8 pixels, all empty; ring 2: 7 pixels, one of them the Nyquist bin
    expect(board[1]).toBeCloseTo(L / d, 9);
    expect(board[2]).toBeCloseTo((Math.log(800) + 6 * L) / (7 * d), 9);
    const flat = radialProfile(rgbOf(4, 4, () => 100), 4, 4);
    const dH = deltaHigh(board, flat);
    expect(dH).toBeCloseTo(((Math.log(800) - L) / (7 * d)) / 2, 9);
    expect(frequencyClass(dH, 0)).toBe('H');
    expect(frequencyClass(-dH, 0)).toBe('L');
  });

  it('the band starts at ceil(0.2 x largest radius), without float error (0.2 x 15 = 3.0000000000000004)', () => {
    const p = Array.from({ length: 16 }, (_, r) => r);
    expect(highFrequencyStatistic(p)).toBe(9); // mean of 3..15
    expect(highFrequencyStatistic([4])).toBe(4);
    expect(() => highFrequencyStatistic([])).toThrow('A radial profile needs at least one ring.');
  });

  it('normalises by a positive maximum only', () => {
    expect(normalizeToMax([2, 1, -1])).toEqual([1, 0.5, -0.5]);
    expect(normalizeToMax([-3, -6])).toEqual([-3, -6]);
  });

  it('a class is H only strictly above the threshold', () => {
    expect(frequencyClass(0.01, 0.01)).toBe('L');
    expect(frequencyClass(0.0101, 0.01)).toBe('H');
  });
});
