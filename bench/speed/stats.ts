/**
 * Small statistics for timings taken on a shared, noisy machine: medians (not means, one
 * disturbed repetition must not move the result), spreads, and comparisons of configurations
 * measured in alternation (ABAB), paired repetition by repetition so that slow drifts of the
 * background load cancel.
 */

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** (max - min) / median: the whole range of the repetitions relative to their median. */
export function relativeSpread(values: readonly number[]): number {
  const m = median(values);
  return m === 0 ? 0 : (Math.max(...values) - Math.min(...values)) / m;
}

export interface Comparison {
  /** median over repetitions of candidate[i] / baseline[i] - 1 */
  delta: number;
  /** smallest and largest per-repetition delta */
  min: number;
  max: number;
  pairs: number;
}

/**
 * Candidate vs baseline, repetition by repetition (the i-th values were measured next to each
 * other). Unequal lengths pair the common prefix.
 */
export function pairedComparison(baseline: readonly number[], candidate: readonly number[]): Comparison {
  const n = Math.min(baseline.length, candidate.length);
  if (n === 0) throw new RangeError('nothing to compare');
  const deltas: number[] = [];
  for (let i = 0; i < n; i++) deltas.push(candidate[i] / baseline[i] - 1);
  return { delta: median(deltas), min: Math.min(...deltas), max: Math.max(...deltas), pairs: n };
}

export interface Plan {
  reps: number;
  steps: number;
}

/**
 * Repetitions and steps that fit `availableMs`, given the time of one step of every
 * configuration together. Steps per block go down first (to 1), then repetitions (to 2, the least
 * that still pairs twice); counts the user gave are never changed.
 */
export function fitPlan(wanted: Plan, fixed: { reps: boolean; steps: boolean }, msPerRound: number, availableMs: number): Plan {
  const plan = { ...wanted };
  const cost = () => plan.reps * plan.steps * msPerRound;
  while (cost() > availableMs && !fixed.steps && plan.steps > 1) plan.steps--;
  while (cost() > availableMs && !fixed.reps && plan.reps > 2) plan.reps--;
  return plan;
}

/**
 * The order of the configurations in each repetition: forward in even repetitions, reversed in
 * odd ones (ABBA...), so that no configuration always runs first or right after a switch of
 * process.
 */
export function interleavedOrder<T>(configs: readonly T[], reps: number): T[][] {
  const out: T[][] = [];
  for (let r = 0; r < reps; r++) out.push(r % 2 === 0 ? [...configs] : [...configs].reverse());
  return out;
}
