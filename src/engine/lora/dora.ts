/**
 * DoRA (weight-decomposed LoRA): W' = m * (W + dW) / ||W + dW||, the norm taken per output row
 * (axis 'out': PEFT's lora_magnitude_vector, LyCORIS dora_scale [out, 1, ...]) or per input column
 * (axis 'in': LyCORIS with wd_on_out = False, dora_scale [1, in, ...]). The result depends on the
 * base weight W, so a DoRA module can only be merged exactly once W is known: the graph side
 * calls `doraExactDelta` with the base weight and merges `userWeight * (W' - W)`.
 */
import { ChordError } from '../errors';
import type { LoraDelta } from './types';

/**
 * The exact DoRA delta W' - W for a base weight `base` in PyTorch layout (same shape as
 * `delta.shape`). `delta.delta` holds dW (already scaled by alpha / rank).
 */
export function doraExactDelta(base: Float32Array, delta: LoraDelta): Float32Array {
  const dora = delta.dora;
  if (!dora) throw new ChordError('BAD_ARGUMENT', `${delta.modulePath} is not a DoRA module.`);
  const n = delta.delta.length;
  if (base.length !== n) {
    throw new ChordError('LORA_INVALID', `DoRA module ${delta.modulePath}: base weight has ${base.length} values, expected ${n}.`);
  }
  const out = delta.shape[0];
  const cols = n / out; // in * kh * kw
  const kernel = delta.shape.slice(2).reduce((a, b) => a * b, 1);
  const inC = cols / kernel;
  const merged = new Float32Array(n);
  for (let i = 0; i < n; i++) merged[i] = base[i] + delta.delta[i];
  const result = new Float32Array(n);
  if (dora.axis === 'out') {
    if (dora.magnitude.length !== out) throw new ChordError('LORA_INVALID', `DoRA module ${delta.modulePath}: magnitude has ${dora.magnitude.length} values, expected ${out}.`);
    for (let o = 0; o < out; o++) {
      let sq = 0;
      for (let c = 0; c < cols; c++) sq += merged[o * cols + c] ** 2;
      const f = dora.magnitude[o] / (Math.sqrt(sq) || 1);
      for (let c = 0; c < cols; c++) result[o * cols + c] = merged[o * cols + c] * f - base[o * cols + c];
    }
  } else {
    if (dora.magnitude.length !== inC) throw new ChordError('LORA_INVALID', `DoRA module ${delta.modulePath}: magnitude has ${dora.magnitude.length} values, expected ${inC}.`);
    // column i gathers every (o, i, kh, kw)
    const sq = new Float64Array(inC);
    for (let o = 0; o < out; o++) for (let c = 0; c < cols; c++) sq[Math.floor(c / kernel)] += merged[o * cols + c] ** 2;
    for (let o = 0; o < out; o++) {
      for (let c = 0; c < cols; c++) {
        const i = Math.floor(c / kernel);
        const f = dora.magnitude[i] / (Math.sqrt(sq[i]) || 1);
        result[o * cols + c] = merged[o * cols + c] * f - base[o * cols + c];
      }
    }
  }
  return result;
}
