/**
 * The frequency profile of an image, as CMLoRA measures it (docs/spectral.md): grayscale, centred
 * 2-D FFT magnitude, log(|F| + 1e-8), the mean over integer-radius rings around the centre,
 * divided by its maximum; then one number, the mean of that profile over the high band
 * (radii >= 0.2 x the largest radius). Pure functions on plain arrays.
 */
import { ChordError } from '../errors';
import { fftMagnitude, fftShift } from './fft2d';

/** Added to |F| before the log so that empty bins give a finite value. */
export const LOG_EPSILON = 1e-8;
/** The high band starts at this fraction of the largest radius. */
export const HIGH_BAND_START = 0.2;

export type FrequencyClass = 'H' | 'L';

/** Grayscale as the mean of R, G and B (0..255) of interleaved 8-bit RGB, row-major. */
export function grayscale(rgb: Uint8Array, width: number, height: number): Float64Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ChordError('BAD_ARGUMENT', `An image must be at least 1 x 1 pixels (got ${width} x ${height}).`);
  }
  if (rgb.length !== width * height * 3) {
    throw new ChordError('BAD_ARGUMENT', `An RGB image of ${width} x ${height} has ${width * height * 3} bytes, not ${rgb.length}.`);
  }
  const out = new Float64Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = (rgb[3 * i] + rgb[3 * i + 1] + rgb[3 * i + 2]) / 3;
  return out;
}

/** log(|F| + 1e-8) of the 2-D FFT of `values`, zero frequency moved to (floor(w/2), floor(h/2)). */
export function logMagnitudeSpectrum(values: ArrayLike<number>, width: number, height: number): Float64Array {
  const centred = fftShift(fftMagnitude(values, width, height), width, height);
  return centred.map((m) => Math.log(m + LOG_EPSILON));
}

/**
 * Mean of `values` (width x height, row-major) over each ring of integer radius r around the
 * centre (floor(w/2), floor(h/2)): a pixel at distance d belongs to ring floor(d). Index r of the
 * result is ring r, up to the farthest pixel's ring. No ring is empty: walking pixel by pixel
 * from the centre to the farthest one changes the distance by at most 1 per step.
 */
export function radialMean(values: ArrayLike<number>, width: number, height: number): number[] {
  const cx = Math.floor(width / 2);
  const cy = Math.floor(height / 2);
  const farthest = Math.floor(Math.hypot(Math.max(cx, width - 1 - cx), Math.max(cy, height - 1 - cy)));
  const sums = new Float64Array(farthest + 1);
  const counts = new Float64Array(farthest + 1);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const r = Math.floor(Math.hypot(x - cx, y - cy));
      sums[r] += values[y * width + x];
      counts[r]++;
    }
  }
  return Array.from(sums, (s, r) => s / counts[r]);
}

/**
 * A profile divided by its maximum, so that images of different brightness and size compare.
 * The maximum is the DC ring for any image with some brightness; a profile whose maximum is not
 * positive (an all-black image: every bin is log 1e-8) is returned as it is, because dividing by a
 * negative number would turn its shape upside down.
 */
export function normalizeToMax(profile: readonly number[]): number[] {
  const max = Math.max(...profile);
  return max > 0 ? profile.map((v) => v / max) : [...profile];
}

/** The radial profile of an 8-bit RGB image: grayscale, log spectrum, ring means, / max. */
export function radialProfile(rgb: Uint8Array, width: number, height: number): number[] {
  const gray = grayscale(rgb, width, height);
  return normalizeToMax(radialMean(logMagnitudeSpectrum(gray, width, height), width, height));
}

/**
 * Mean of the profile over radii r >= 0.2 x the largest radius (the last index). A profile of one
 * ring (a 1 x 1 image) has only r = 0, which is then the band.
 */
export function highFrequencyStatistic(profile: readonly number[]): number {
  if (profile.length === 0) throw new ChordError('BAD_ARGUMENT', 'A radial profile needs at least one ring.');
  const start = Math.ceil(HIGH_BAND_START * (profile.length - 1) - 1e-9);
  const band = profile.slice(start);
  return band.reduce((a, b) => a + b, 0) / band.length;
}

/** dH = statistic(LoRA image) - statistic(base image). */
export function deltaHigh(loraProfile: readonly number[], baseProfile: readonly number[]): number {
  return highFrequencyStatistic(loraProfile) - highFrequencyStatistic(baseProfile);
}

/** 'H' when dH is above the threshold, else 'L'. */
export function frequencyClass(dH: number, threshold: number): FrequencyClass {
  return dH > threshold ? 'H' : 'L';
}
