/**
 * Classifier-free guidance (Ho & Salimans 2022): push the conditional prediction away from the
 * unconditional one, eps = u + g (c - u). g = 1 gives c itself; g = 0 gives u.
 */
import type { NoisePrediction } from './composition';

export function guide({ uncond, cond }: NoisePrediction, scale: number): Float32Array {
  if (uncond.length !== cond.length) throw new RangeError(`guidance: halves differ in length (${uncond.length} vs ${cond.length})`);
  const eps = new Float32Array(cond.length);
  for (let i = 0; i < eps.length; i++) eps[i] = uncond[i] + scale * (cond[i] - uncond[i]);
  return eps;
}
