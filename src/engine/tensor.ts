/**
 * The one tensor helper module of the engine: flat typed arrays with a shape, and the few
 * whole-array operations the pipeline needs. Everything is row-major (C order), like ONNX.
 * Functions return new arrays and never modify their inputs.
 */
import { floatArrayToHalf, halfArrayToFloat } from './half';

/** A shape, outermost dimension first. */
export type Dims = readonly number[];

/** Data a model input or output can hold, as the engine sees it. */
export interface FloatTensor {
  data: Float32Array;
  dims: Dims;
}

export interface IntTensor {
  data: Int32Array;
  dims: Dims;
}

/** Number of elements of a shape. */
export function sizeOf(dims: Dims): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/**
 * float32 -> IEEE half bits. Node 20 has no Float16Array, so fp16 model inputs are fed as the raw
 * 16-bit patterns (ONNX Runtime's `float16` tensors take a Uint16Array).
 */
export function toHalf(values: Float32Array): Uint16Array {
  return floatArrayToHalf(values);
}

/** IEEE half bits -> float32 (fp16 model outputs). */
export function fromHalf(bits: Uint16Array): Float32Array {
  return halfArrayToFloat(bits);
}

/** The arrays one after another: along axis 0 when they share the inner dimensions. */
export function concat(parts: readonly Float32Array[]): Float32Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Float32Array(n);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** `count` copies of `a` stacked along a new outer axis (a batch of identical samples). */
export function repeat(a: Float32Array, count: number): Float32Array {
  const out = new Float32Array(a.length * count);
  for (let i = 0; i < count; i++) out.set(a, i * a.length);
  return out;
}

/** Item `index` of a batch whose items are `itemSize` long: a view, not a copy. */
export function batchItem(a: Float32Array, itemSize: number, index: number): Float32Array {
  return a.subarray(index * itemSize, (index + 1) * itemSize);
}

/** a * s, elementwise. */
export function scale(a: Float32Array, s: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] * s;
  return out;
}

/** Elementwise mean of equally long arrays. */
export function mean(arrays: readonly Float32Array[]): Float32Array {
  if (arrays.length === 0) throw new RangeError('mean of no arrays');
  const out = new Float32Array(arrays[0].length);
  for (const a of arrays) {
    if (a.length !== out.length) throw new RangeError(`mean: lengths differ (${a.length} vs ${out.length})`);
    for (let i = 0; i < a.length; i++) out[i] += a[i];
  }
  const inv = 1 / arrays.length;
  for (let i = 0; i < out.length; i++) out[i] *= inv;
  return out;
}

/**
 * A [channels, height, width] image with values in [-1, 1] (what the VAE decoder gives) ->
 * interleaved 8-bit RGB rows [height, width, 3]. Values are clamped, then rounded to nearest.
 */
export function planarToRgbBytes(chw: Float32Array, width: number, height: number): Uint8Array {
  const plane = width * height;
  if (chw.length < 3 * plane) throw new RangeError(`image has ${chw.length} values, expected ${3 * plane}`);
  const rgb = new Uint8Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    const src = c * plane;
    for (let p = 0; p < plane; p++) {
      const v = (chw[src + p] + 1) * 127.5;
      rgb[p * 3 + c] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
    }
  }
  return rgb;
}

/**
 * Index of the first NaN or infinite value, or -1 when every value is finite. One pass, no
 * allocation: cheap enough to run on every latent and every noise prediction.
 */
export function firstNonFinite(a: ArrayLike<number>): number {
  for (let i = 0; i < a.length; i++) {
    // v - v is 0 for every finite v and NaN for NaN and +-Infinity
    const v = a[i];
    if (v - v !== 0) return i;
  }
  return -1;
}

/** How a non-finite value reads in a message: "NaN", "+Infinity" or "-Infinity". */
export function nonFiniteName(v: number): string {
  return Number.isNaN(v) ? 'NaN' : v > 0 ? '+Infinity' : '-Infinity';
}
