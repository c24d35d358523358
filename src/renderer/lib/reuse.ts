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

/**
 * One sentence when an image was made by another engine version than the one running: the same
 * settings and seed may then make a different image (docs/image-metadata.md lists what changed).
 * Empty when the versions match or either is unknown (A1111 images carry none).
 */
export function engineNote(madeBy: string | undefined, running: string | undefined): string {
  if (!madeBy || !running || madeBy === running) return '';
  return `It was made by Chord's engine ${madeBy} and this is ${running}: the same seed may make a different image.`;
}
