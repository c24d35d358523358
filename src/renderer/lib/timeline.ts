/**
 * The step timeline's numbers (pure): per LoRA and step what the method did, and the image's cost
 * in UNet-pass equivalents next to Merge's for the same steps. A pass is one UNet evaluation of the
 * CFG row pair, as the engine's step log counts them; a shallow (cached) pass costs the model's
 * measured share of a full one (`ImageStepLog.shallowCost`).
 */
import type { ImageStepLog } from '../../shared/api';

export interface TimelineCell {
  active: boolean;
  dominant: boolean;
  refreshed: boolean;
}

export interface Timeline {
  /** rows[lora][step] */
  rows: TimelineCell[][];
  steps: number;
  full: number;
  shallow: number;
  refreshes: number;
  /** full + shallow x shallowCost */
  cost: number;
  /** Merge: one full pass per step */
  mergeCost: number;
}

export function timeline(log: ImageStepLog, loras: number): Timeline {
  const rows = Array.from({ length: loras }, (_, k) =>
    log.steps.map((s) => ({ active: s.active.includes(k), dominant: s.dominant === k, refreshed: s.refreshed.includes(k) })),
  );
  const full = log.steps.reduce((n, s) => n + s.full, 0);
  const shallow = log.steps.reduce((n, s) => n + s.shallow, 0);
  return {
    rows,
    steps: log.steps.length,
    full,
    shallow,
    refreshes: log.steps.reduce((n, s) => n + s.refreshed.length, 0),
    cost: full + shallow * log.shallowCost,
    mergeCost: log.steps.length,
  };
}

/** What a cell means, in words (screen readers, tooltips). */
export function cellText(c: TimelineCell): string {
  if (!c.active) return 'off';
  return ['active', ...(c.dominant ? ['dominant'] : []), ...(c.refreshed ? ['cache refreshed'] : [])].join(', ');
}

/** 8.36 -> "8.4", 6 -> "6". */
export function passes(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}
