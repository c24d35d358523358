/**
 * Runs the composition-quality evaluation: each method on each composition and seed, through the
 * engine's own method registry and ordering, scored by the calibrated concept detectors.
 */
import { join } from 'node:path';
import { type LoadedLora, type Model, resolveSettings, txt2img } from '../../src/engine';
import { resolveOrder } from '../../src/engine/host/ordering';
import { findMethod, resolveMethodOptions } from '../../src/engine/pipeline/methods';
import { detectors } from '../detectors/concepts';
import type { RgbImage } from '../detectors/image';
import { CONCEPT_CATEGORY, CONCEPT_TRIGGER, type ConceptName } from '../detectors/world';

/** One column of the tables: a registry method with options and an order rule. */
export interface MethodVariant {
  label: string;
  method: string;
  options?: Record<string, number | boolean>;
  /** default: the method's own */
  order?: string;
  /** most batch rows per UNet call (2: Composite one LoRA per call) */
  maxBatchRows?: number;
}

export const DEFAULT_VARIANTS: readonly MethodVariant[] = [
  { label: 'merge', method: 'merge' },
  { label: 'switch', method: 'switch' },
  { label: 'composite', method: 'composite' },
  { label: 'cmlora', method: 'cmlora' },
  { label: 'cmlora reverse', method: 'cmlora', order: 'reverse' },
  { label: 'spectral', method: 'spectral' },
];

export interface QualityOptions {
  modelDir: string;
  steps: number;
  sampler: string;
  cfg: number;
  seeds: readonly number[];
  variants: readonly MethodVariant[];
  onImage?: (row: ImageResult, image: RgbImage) => void;
}

export interface ImageResult {
  variant: string;
  concepts: ConceptName[];
  seed: number;
  /** per requested concept */
  hits: Record<string, boolean>;
  score: number;
  ms: number;
  /** UNet evaluations of one CFG row pair, whole image */
  full: number;
  shallow: number;
}

/** Every variant on every composition and seed. */
export async function runQuality(model: Model, sets: readonly ConceptName[][], o: QualityOptions): Promise<ImageResult[]> {
  const results: ImageResult[] = [];
  for (const concepts of sets) {
    const loaded: LoadedLora[] = await model.useLoras(concepts.map((c) => join(o.modelDir, 'loras', `${c}.safetensors`)));
    const prompt = concepts.map((c) => CONCEPT_TRIGGER[c]).join(' ');
    for (const variant of o.variants) {
      const definition = findMethod(variant.method);
      const ordering = await resolveOrder(variant.order ?? definition.defaultOrder, loaded, { needsClasses: definition.needsFrequencyClasses, model });
      const method = definition.create({ weights: loaded.map(() => 1), order: ordering.order, highFrequency: ordering.highFrequency }, resolveMethodOptions(definition, variant.options));
      for (const seed of o.seeds) {
        const settings = resolveSettings({ prompt, seed, steps: o.steps, sampler: o.sampler, cfg: o.cfg }, model.folder);
        const t = performance.now();
        const r = await txt2img(model, settings, { method, maxBatchRows: variant.maxBatchRows });
        const ms = performance.now() - t;
        const image: RgbImage = { data: r.rgb, width: r.width, height: r.height };
        const hits = Object.fromEntries(concepts.map((c) => [c, detectors[c](image).hit]));
        const row: ImageResult = {
          variant: variant.label,
          concepts,
          seed,
          hits,
          score: Object.values(hits).filter(Boolean).length / concepts.length,
          ms,
          full: r.steps.reduce((a, s) => a + s.full, 0),
          shallow: r.steps.reduce((a, s) => a + s.shallow, 0),
        };
        results.push(row);
        o.onImage?.(row, image);
      }
    }
  }
  return results;
}

export interface SummaryRow {
  variant: string;
  n: number;
  images: number;
  meanScore: number;
  allConcepts: number;
  /** hit rate per category over the images that asked for it */
  category: Record<string, number | undefined>;
  msPerImage: number;
  /** UNet evaluations of one CFG row pair per step */
  fullPerStep: number;
  shallowPerStep: number;
}

const CATEGORIES = ['character', 'clothing', 'style', 'background', 'object'] as const;

/** Per variant and N: the ComposLoRA table. */
export function summarise(results: readonly ImageResult[], steps: number): SummaryRow[] {
  const rows: SummaryRow[] = [];
  const keys = [...new Set(results.map((r) => `${r.concepts.length}\u0000${r.variant}`))];
  for (const key of keys) {
    const [n, variant] = key.split('\u0000');
    const rs = results.filter((r) => r.variant === variant && r.concepts.length === Number(n));
    const category: Record<string, number | undefined> = {};
    for (const cat of CATEGORIES) {
      const asked = rs.flatMap((r) => r.concepts.filter((c) => CONCEPT_CATEGORY[c] === cat).map((c) => r.hits[c]));
      category[cat] = asked.length ? asked.filter(Boolean).length / asked.length : undefined;
    }
    rows.push({
      variant,
      n: Number(n),
      images: rs.length,
      meanScore: rs.reduce((a, r) => a + r.score, 0) / rs.length,
      allConcepts: rs.filter((r) => r.score === 1).length / rs.length,
      category,
      msPerImage: rs.reduce((a, r) => a + r.ms, 0) / rs.length,
      fullPerStep: rs.reduce((a, r) => a + r.full, 0) / rs.length / steps,
      shallowPerStep: rs.reduce((a, r) => a + r.shallow, 0) / rs.length / steps,
    });
  }
  return rows.sort((a, b) => a.n - b.n);
}

const pct = (x: number | undefined) => (x === undefined ? '–' : `${(100 * x).toFixed(0)}%`);

export function summaryMarkdown(rows: readonly SummaryRow[]): string {
  const head = '| N | method | images | mean score | all concepts | character | clothing | style | background | object | ms / image | UNet passes / step (full + shallow) |';
  const lines = rows.map((r) =>
    `| ${r.n} | ${r.variant} | ${r.images} | ${r.meanScore.toFixed(3)} | ${pct(r.allConcepts)} | ${CATEGORIES.map((c) => pct(r.category[c])).join(' | ')} | ${r.msPerImage.toFixed(0)} | ${r.fullPerStep.toFixed(2)} + ${r.shallowPerStep.toFixed(2)} |`,
  );
  return [head, '|---|---|---|---|---|---|---|---|---|---|---|---|', ...lines].join('\n');
}
