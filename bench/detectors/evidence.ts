/**
 * Turning measurements into one score. Each detector checks a few conditions, each a measured
 * value against a threshold; the weakest condition decides. A condition's margin m is
 * measured / threshold (or threshold / measured for upper bounds), so m >= 1 passes, and the
 * score is m / (1 + m) of the weakest: 0.5 exactly at the threshold, towards 1 with margin.
 */

export interface Detection {
  hit: boolean;
  /** 0..1; 0.5 is the decision threshold */
  score: number;
  /** the condition with the smallest margin (why it missed, or what almost made it miss) */
  weakest?: string;
}

export const MISS: Detection = { hit: false, score: 0, weakest: 'no candidate' };

/** Margin of `value >= min`. */
export const atLeast = (value: number, min: number): number => Math.max(value, 0) / min;
/** Margin of `value <= max`. */
export const atMost = (value: number, max: number): number => max / Math.max(value, 1e-9);
/** Margin of `min <= value <= max`. */
export const within = (value: number, min: number, max: number): number =>
  Math.min(atLeast(value, min), atMost(value, max));

/** Conditions by name, each a margin (>= 1 passes). */
export function decide(margins: Record<string, number>): Detection {
  let weakest = '';
  let m = Infinity;
  for (const [name, v] of Object.entries(margins)) {
    if (v < m) {
      m = v;
      weakest = name;
    }
  }
  const score = Number.isFinite(m) ? m / (1 + m) : 1;
  return { hit: m >= 1, score, weakest };
}

/** The best of several candidates (blobs, positions): the one with the highest score. */
export function best(detections: Detection[]): Detection {
  if (detections.length === 0) return MISS;
  return detections.reduce((a, b) => (b.score > a.score ? b : a));
}
