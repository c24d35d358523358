/**
 * Scoring the detectors against the calibration set's ground truth: per concept, the true-positive
 * rate on images with it and the false-positive rate on images without it; for the base world,
 * how often shapes, backgrounds and whole captions are read right. Used by
 * bench/calibrate-detectors.ts (the table in docs/detectors.md) and by the detector tests.
 */
import { checkCaption, detectBackground, detectShapes } from './base';
import type { CalibrationItem } from './calibration-set';
import { detectors } from './concepts';
import { degrade, type Degradation } from './degrade';
import type { RgbImage } from './image';
import { CONCEPT_NAMES, type ConceptName } from './world';

/** The calibration targets every detector must meet. */
export const TARGET_TPR = 0.95;
export const TARGET_FPR = 0.05;

export interface ConceptStats {
  tp: number;
  fn: number;
  fp: number;
  tn: number;
  /** files the detector got wrong, for inspection */
  misses: string[];
  falseHits: string[];
}

export interface BaseStats {
  /** requested shapes in base scenes */
  shapes: number;
  /** found with the right colour at the right position */
  placed: number;
  /** of those, with the right kind (circle / square / triangle) */
  kindRight: number;
  /** detected shapes that were not requested */
  extra: number;
  scenes: number;
  backgroundRight: number;
  captionRespected: number;
}

export interface CalibrationResult {
  concepts: Record<ConceptName, ConceptStats>;
  base: BaseStats;
}

export const tpr = (s: ConceptStats): number => s.tp / Math.max(1, s.tp + s.fn);
export const fpr = (s: ConceptStats): number => s.fp / Math.max(1, s.fp + s.tn);

/** The image as rendered, or degraded with a per-image seed (its index in the set). */
export function variantImages(items: CalibrationItem[], degradation?: Degradation): RgbImage[] {
  return items.map((it, i) => (degradation ? degrade(it.image, i + 1, degradation) : it.image));
}

export function evaluate(items: CalibrationItem[], images: RgbImage[], concepts = CONCEPT_NAMES): CalibrationResult {
  const stats = {} as Record<ConceptName, ConceptStats>;
  for (const c of concepts) {
    const s: ConceptStats = { tp: 0, fn: 0, fp: 0, tn: 0, misses: [], falseHits: [] };
    items.forEach((it, i) => {
      const hit = detectors[c](images[i]).hit;
      if (it.concepts.includes(c)) {
        if (hit) s.tp++;
        else {
          s.fn++;
          s.misses.push(it.file);
        }
      } else if (hit) {
        s.fp++;
        s.falseHits.push(it.file);
      } else s.tn++;
    });
    stats[c] = s;
  }
  const base: BaseStats = { shapes: 0, placed: 0, kindRight: 0, extra: 0, scenes: 0, backgroundRight: 0, captionRespected: 0 };
  items.forEach((it, i) => {
    if (it.group !== 'base') return;
    const found = detectShapes(images[i]);
    base.scenes++;
    for (const t of it.base.shapes) {
      base.shapes++;
      const at = found.find((f) => f.colour === t.colour && f.pos === t.pos);
      if (at) {
        base.placed++;
        if (at.shape === t.shape) base.kindRight++;
      }
    }
    base.extra += found.filter((f) => !it.base.shapes.some((t) => t.colour === f.colour && t.pos === f.pos)).length;
    if (detectBackground(images[i]) === it.base.background) base.backgroundRight++;
    if (checkCaption(images[i], it.base).respected) base.captionRespected++;
  });
  return { concepts: stats, base };
}

