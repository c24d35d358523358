/**
 * Degrades a clean render the way a small diffusion model departs from it: slightly blurred
 * edges, colours off by a few tens of levels, a little noise. The detectors are calibrated on
 * these as well as on clean renders. Seeded, so a calibration run is repeatable.
 */
import type { RgbImage } from './image';

export interface Degradation {
  /** Gaussian blur sigma in pixels */
  blurSigma: number;
  /** per-image, per-channel colour offset drawn uniformly from [-jitter, jitter] */
  jitter: number;
  /** per-pixel Gaussian noise sigma in levels */
  noise: number;
}

export const DEFAULT_DEGRADATION: Degradation = { blurSigma: 0.75, jitter: 20, noise: 3 };

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(next: () => number): number {
  const u = Math.max(next(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
}

/** Separable Gaussian blur (radius 2 sigma, clamped edges), in float. */
export function blur(src: Float32Array, w: number, h: number, sigma: number): Float32Array {
  if (sigma <= 0) return src;
  const r = Math.max(1, Math.ceil(2 * sigma));
  const kernel = Float32Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const ksum = kernel.reduce((a, b) => a + b, 0);
  for (let i = 0; i < kernel.length; i++) kernel[i] /= ksum;
  const pass = (from: Float32Array, horizontal: boolean): Float32Array => {
    const out = new Float32Array(from.length);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let c = 0; c < 3; c++) {
          let s = 0;
          for (let k = -r; k <= r; k++) {
            const xx = horizontal ? Math.min(w - 1, Math.max(0, x + k)) : x;
            const yy = horizontal ? y : Math.min(h - 1, Math.max(0, y + k));
            s += kernel[k + r] * from[(yy * w + xx) * 3 + c];
          }
          out[(y * w + x) * 3 + c] = s;
        }
      }
    }
    return out;
  };
  return pass(pass(src, true), false);
}

export function degrade(img: RgbImage, seed: number, d: Degradation = DEFAULT_DEGRADATION): RgbImage {
  const next = rng(seed);
  const f = blur(Float32Array.from(img.data), img.width, img.height, d.blurSigma);
  const offset = [0, 1, 2].map(() => (next() * 2 - 1) * d.jitter);
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < f.length; i++) {
    const v = f[i] + offset[i % 3] + (d.noise > 0 ? gaussian(next) * d.noise : 0);
    out[i] = Math.min(255, Math.max(0, Math.round(v)));
  }
  return { data: out, width: img.width, height: img.height };
}
