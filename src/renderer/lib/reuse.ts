/** Pure helpers for putting an image's settings back in the window (Reuse settings, a dropped PNG). */
import type { ImageSettings } from '../../shared/api';

/**
 * The indices of `settings.loras` in the order the stack should take: the order the method ran
 * them in when the image records one that lists every LoRA once (a compare cell's permutation,
 * CMLoRA's frequency order), else the order they are listed in.
 */
export function stackOrder(settings: Pick<ImageSettings, 'loras' | 'order'>): number[] {
  const n = settings.loras.length;
  const order = settings.order;
  const listed = Array.from({ length: n }, (_, k) => k);
  if (!order || order.length !== n) return listed;
  const seen = new Set(order);
  return seen.size === n && order.every((k) => Number.isInteger(k) && k >= 0 && k < n) ? [...order] : listed;
}
