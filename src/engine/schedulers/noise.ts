/**
 * Seeded Gaussian noise, so that (seed, settings) always reproduces the same image on any machine.
 *
 * Generator (a fixed spec: changing it changes every saved seed's image, so tests pin its output):
 * - seed: a whole number 0 <= seed <= 2^53 - 1, split into 32-bit halves lo, hi;
 * - state: z = lo XOR fmix32(hi); four times z += 0x9E3779B9 (mod 2^32), s[i] = fmix32(z)
 *   (fmix32 is MurmurHash3's finaliser, a bijection, so at most one word is 0 and the state is
 *   never all zero);
 * - stream: xoshiro128** (Blackman & Vigna 2018) 32-bit outputs;
 * - uniform in [0, 1): 53 bits from two outputs, (a >>> 5) * 2^26 + (b >>> 6), divided by 2^53;
 * - normals: Box-Muller on pairs (u1 = 1 - uniform in (0, 1], u2 = uniform):
 *   r = sqrt(-2 ln u1), giving r cos(2 pi u2) then r sin(2 pi u2). A request for an odd count
 *   drops the last sine, so each `randn(count)` consumes 4 * ceil(count / 2) outputs.
 *
 * This is not torch's Philox generator: the same seed gives a different image here than in
 * diffusers or A1111. Math.cos/sin/log are V8's own (fdlibm-derived) code, identical across
 * platforms for one Node/Electron version.
 */
import { ChordError } from '../errors';
import type { NoiseSource } from './types';

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

const TWO_POW_32 = 4294967296;
const TWO_POW_26 = 67108864;
const TWO_POW_53 = 9007199254740992;

export function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new ChordError('BAD_ARGUMENT', `A seed must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER} (got ${seed}).`);
  }
}

export class NoiseGenerator {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(readonly seed: number) {
    checkSeed(seed);
    const lo = seed >>> 0;
    const hi = Math.floor(seed / TWO_POW_32) >>> 0;
    let z = (lo ^ fmix32(hi)) >>> 0;
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      z = (z + 0x9e3779b9) >>> 0;
      words.push(fmix32(z));
    }
    [this.s0, this.s1, this.s2, this.s3] = words;
  }

  /** Next raw 32-bit output (unsigned). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  nextUniform(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * TWO_POW_26 + b) / TWO_POW_53;
  }

  /** `count` standard-normal samples, continuing the stream. */
  randn(count: number): Float32Array {
    if (!Number.isInteger(count) || count < 0) {
      throw new ChordError('BAD_ARGUMENT', `Noise size must be a whole number (got ${count}).`);
    }
    const out = new Float32Array(count);
    for (let i = 0; i < count; i += 2) {
      const u1 = 1 - this.nextUniform();
      const u2 = this.nextUniform();
      const r = Math.sqrt(-2 * Math.log(u1));
      const theta = 2 * Math.PI * u2;
      out[i] = r * Math.cos(theta);
      if (i + 1 < count) out[i + 1] = r * Math.sin(theta);
    }
    return out;
  }

  /** A `NoiseSource` for `step()`: each call draws the next `count` normals of this stream. */
  source(count: number): NoiseSource {
    return () => this.randn(count);
  }
}

/** `count` standard-normal samples from a fresh generator seeded with `seed`. */
export function randn(seed: number, count: number): Float32Array {
  return new NoiseGenerator(seed).randn(count);
}
