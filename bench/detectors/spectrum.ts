/**
 * Spectral peaks of the two style textures. Both repeat every 6 px (world.STYLE_PERIOD):
 * hatching is 2 px stripes along x + y = const, so its power sits at frequency (f, f) only;
 * halftone dots are a square lattice, so theirs sits at (f, 0) and (0, f) (and at both
 * diagonals equally). Shapes and backgrounds put their power at low frequencies, and their
 * straight edges spread it smoothly along lines; a texture makes a narrow peak. So a style is
 * measured as the power near its frequency over the power a few bins either side along the same
 * direction (peak over flank), plus the texture's amplitude in grey levels. The spectrum is
 * taken of the image minus its row-median (texture.ts), which keeps the textures and drops most
 * of the shapes and backgrounds, including the quill's hem (3 px teeth, also 6 px apart).
 */
import FFT from 'fft.js';
import type { RgbImage } from './image';
import { medianRow } from './texture';

/** Directions in the (kx, ky) frequency plane. */
export type Direction = 'x' | 'y' | 'diag' | 'anti';
const STEP: Record<Direction, [number, number]> = { x: [1, 0], y: [0, 1], diag: [1, 1], anti: [1, -1] };

export interface Peak {
  /** frequency index along the direction (period = size / k pixels per axis) */
  k: number;
  /** texture amplitude in grey levels (peak-to-mean of a sinusoid with that power) */
  amplitude: number;
  /** power at the peak over the mean power of the flanks along the same direction */
  ratio: number;
}

export interface StylePeaks {
  size: number;
  peaks: Record<Direction, Peak>;
}

/** Periods searched, in pixels: the world's 6 with room for a generated texture's drift. */
const PERIOD_MIN = 5.4;
const PERIOD_MAX = 6.9;

const ffts = new Map<number, FFT>();
function fftOf(n: number): FFT {
  let f = ffts.get(n);
  if (!f) {
    f = new FFT(n);
    ffts.set(n, f);
  }
  return f;
}

/**
 * Power spectrum of the luminance of the central n x n crop (n a power of two), mean removed
 * and Hann-windowed so the image border does not smear power along the axes.
 * Returned row-major as power[ky * n + kx].
 */
export function powerSpectrum(img: RgbImage, n: number, minus?: RgbImage): Float64Array {
  const ox = (img.width - n) >> 1;
  const oy = (img.height - n) >> 1;
  const lum = new Float64Array(n * n);
  let mean = 0;
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const i = ((y + oy) * img.width + (x + ox)) * 3;
      let v = 0.299 * img.data[i] + 0.587 * img.data[i + 1] + 0.114 * img.data[i + 2];
      if (minus) v -= 0.299 * minus.data[i] + 0.587 * minus.data[i + 1] + 0.114 * minus.data[i + 2];
      lum[y * n + x] = v;
      mean += v;
    }
  }
  mean /= n * n;
  const hann = Float64Array.from({ length: n }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n));
  const f = fftOf(n);
  // rows, then columns, of the complex 2D transform
  const rows = new Float64Array(n * n * 2);
  const row = new Float64Array(n);
  const rowOut = new Float64Array(n * 2);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) row[x] = (lum[y * n + x] - mean) * hann[x] * hann[y];
    f.realTransform(rowOut, row);
    f.completeSpectrum(rowOut);
    rows.set(rowOut, y * n * 2);
  }
  const col = new Float64Array(n * 2);
  const colOut = new Float64Array(n * 2);
  const power = new Float64Array(n * n);
  for (let kx = 0; kx < n; kx++) {
    for (let y = 0; y < n; y++) {
      col[2 * y] = rows[y * n * 2 + 2 * kx];
      col[2 * y + 1] = rows[y * n * 2 + 2 * kx + 1];
    }
    f.transform(colOut, col);
    for (let ky = 0; ky < n; ky++) power[ky * n + kx] = colOut[2 * ky] ** 2 + colOut[2 * ky + 1] ** 2;
  }
  return power;
}

/** Power summed over the 3 x 3 bins around (kx, ky), indices wrapped. */
function boxPower(power: Float64Array, n: number, kx: number, ky: number): number {
  let s = 0;
  for (let dy = -1; dy <= 1; dy++) {
    for (let dx = -1; dx <= 1; dx++) {
      const x = (((kx + dx) % n) + n) % n;
      const y = (((ky + dy) % n) + n) % n;
      s += power[y * n + x];
    }
  }
  return s;
}

/** The strongest peak along one direction within the style's period band. */
export function peakAlong(power: Float64Array, n: number, dir: Direction): Peak {
  const [sx, sy] = STEP[dir];
  const along = (k: number): number => boxPower(power, n, k * sx, k * sy);
  const kMin = Math.ceil(n / PERIOD_MAX);
  const kMax = Math.floor(n / PERIOD_MIN);
  let k = kMin;
  for (let j = kMin + 1; j <= kMax; j++) if (along(j) > along(k)) k = j;
  // flanks: 3..5 bins either side, clear of the 3 x 3 box and of the leakage of a period that
  // falls between two bins
  let flank = 0;
  let count = 0;
  for (const d of [-5, -4, -3, 3, 4, 5]) {
    const j = k + d;
    if (j < 2 || j >= n / 2) continue;
    flank += along(j);
    count++;
  }
  const peak = along(k);
  // a sinusoid of amplitude A under a 2D Hann window has |X| = A n^2 / 8 at each of its two bins
  const amplitude = (8 * Math.sqrt(peak)) / (n * n);
  return { k, amplitude, ratio: peak / Math.max(flank / Math.max(count, 1), 1e-9) };
}

export function stylePeaks(img: RgbImage): StylePeaks {
  let n = 1;
  while (n * 2 <= Math.min(img.width, img.height, 256)) n *= 2;
  const power = powerSpectrum(img, n, medianRow(img));
  const peaks = {} as Record<Direction, Peak>;
  for (const d of Object.keys(STEP) as Direction[]) peaks[d] = peakAlong(power, n, d);
  return { size: n, peaks };
}
