/**
 * Safetensors element types and their conversion to Float32Array.
 * All multi-byte values in a safetensors file are little-endian.
 */
import { floatToHalf, halfToFloat } from '../half';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_SIZE: Readonly<Record<SafetensorsDtype, number>> = {
  F64: 8,
  I64: 8,
  F32: 4,
  I32: 4,
  F16: 2,
  BF16: 2,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export function isSafetensorsDtype(s: unknown): s is SafetensorsDtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZE, s);
}

/** IEEE 754 half <-> float: the engine's one implementation (see ../half). */
export { halfToFloat as f16ToF32, floatToHalf as f32ToF16 } from '../half';

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** float -> bfloat16 (top 16 bits of the f32), round to nearest even. */
export function f32ToBf16(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff)) return ((x >>> 16) | 0x40) & 0xffff; // keep NaN a NaN
  const rounded = x + 0x7fff + ((x >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

/**
 * Decode little-endian tensor bytes of `dtype` into a new Float32Array.
 * `bytes` must hold exactly n * DTYPE_SIZE[dtype] bytes. I64 values beyond 2^53 lose precision
 * (they are weights or indices turned into floats, never used as exact integers here).
 */
export function decodeToFloat32(bytes: Uint8Array, dtype: SafetensorsDtype): Float32Array {
  const size = DTYPE_SIZE[dtype];
  const n = bytes.byteLength / size;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      break;
    case 'BF16': {
      // bf16 is the top half of an f32: shift it back into place
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = view.getUint16(i * 2, true) << 16;
      break;
    }
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
      break;
    case 'I64':
      for (let i = 0; i < n; i++) out[i] = Number(view.getBigInt64(i * 8, true));
      break;
    case 'I32':
      for (let i = 0; i < n; i++) out[i] = view.getInt32(i * 4, true);
      break;
    case 'I16':
      for (let i = 0; i < n; i++) out[i] = view.getInt16(i * 2, true);
      break;
    case 'I8':
      for (let i = 0; i < n; i++) out[i] = view.getInt8(i);
      break;
    case 'U8':
      for (let i = 0; i < n; i++) out[i] = bytes[i];
      break;
    case 'BOOL':
      for (let i = 0; i < n; i++) out[i] = bytes[i] ? 1 : 0;
      break;
  }
  return out;
}

/**
 * Encode float values as little-endian bytes of `dtype` (the writer's conversion).
 * Integer dtypes round to nearest and must be in range; BOOL writes 1 for non-zero.
 */
export function encodeFromFloat32(values: ArrayLike<number>, dtype: SafetensorsDtype): Uint8Array {
  const size = DTYPE_SIZE[dtype];
  const n = values.length;
  const bytes = new Uint8Array(n * size);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    switch (dtype) {
      case 'F32': view.setFloat32(i * 4, v, true); break;
      case 'F16': view.setUint16(i * 2, floatToHalf(v), true); break;
      case 'BF16': view.setUint16(i * 2, f32ToBf16(v), true); break;
      case 'F64': view.setFloat64(i * 8, v, true); break;
      case 'I64': view.setBigInt64(i * 8, BigInt(Math.round(v)), true); break;
      case 'I32': view.setInt32(i * 4, Math.round(v), true); break;
      case 'I16': view.setInt16(i * 2, Math.round(v), true); break;
      case 'I8': view.setInt8(i, Math.round(v)); break;
      case 'U8': view.setUint8(i, Math.round(v)); break;
      case 'BOOL': view.setUint8(i, v ? 1 : 0); break;
    }
  }
  return bytes;
}
