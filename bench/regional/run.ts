/**
 * The regional-composition bench (docs/regional.md): two-character scenes on the demo world, each
 * character bound to a box, made by every compared method through the engine's own registry and
 * scored by the calibrated character detectors, located.
 *
 * An image scores when each character is detected with its body's centroid inside its own box and
 * not detected inside the other's box. The detectors decide what a character is (unchanged); the
 * location is the centroid of the body blob they accepted (concepts.ts characterCandidates).
 */
import { join } from 'node:path';
import { type Model, resolveSettings, txt2img } from '../../src/engine';
import { findMethod, resolveMethodOptions } from '../../src/engine/pipeline/methods';
import type { RegionSpec } from '../../src/engine/pipeline/regional';
import { characterCandidates, detectors } from '../detectors/concepts';
import { GRID, type RgbImage } from '../detectors/image';
import { CHARACTERS, CONCEPT_TRIGGER, type CharacterName, type ConceptName } from '../detectors/world';

/**
 * Where the two boxes go: halves that tile the image (`left-right`, `top-bottom`), or framed
 * boxes half the image's height (width) with background above and below (left and right), as a
 * user drawing a box around each character would have them.
 */
export const LAYOUTS = ['left-right', 'top-bottom', 'left-right-framed', 'top-bottom-framed'] as const;
export type Layout = (typeof LAYOUTS)[number];

export interface Scene {
  /** the character of the first box (left or top) and of the second */
  pair: [CharacterName, CharacterName];
  layout: Layout;
  /** a style or background LoRA over the whole image, or none */
  global?: ConceptName;
}

/** Boxes [x0, y0, x1, y1] of a layout, first then second. */
export const LAYOUT_BOXES: Record<Layout, [RegionSpec['box'], RegionSpec['box']]> = {
  'left-right': [
    { x0: 0, y0: 0, x1: 0.5, y1: 1 },
    { x0: 0.5, y0: 0, x1: 1, y1: 1 },
  ],
  'top-bottom': [
    { x0: 0, y0: 0, x1: 1, y1: 0.5 },
    { x0: 0, y0: 0.5, x1: 1, y1: 1 },
  ],
  'left-right-framed': [
    { x0: 0, y0: 0.25, x1: 0.5, y1: 0.75 },
    { x0: 0.5, y0: 0.25, x1: 1, y1: 0.75 },
  ],
  'top-bottom-framed': [
    { x0: 0.25, y0: 0, x1: 0.75, y1: 0.5 },
    { x0: 0.25, y0: 0.5, x1: 0.75, y1: 1 },
  ],
};

/** Every ordered pair of the three characters, in each layout, with each global choice. */
export function scenes(globals: readonly (ConceptName | undefined)[], layouts: readonly Layout[] = LAYOUTS): Scene[] {
  const out: Scene[] = [];
  for (const layout of layouts) {
    for (const a of CHARACTERS) for (const b of CHARACTERS) if (a !== b) for (const global of globals) out.push({ pair: [a, b], layout, global });
  }
  return out;
}

/**
 * Where the demo world's captions put a character whose box is centred at (x, y): left, right,
 * top, bottom or centre, the five places its character scenes were drawn at (the character LoRAs
 * learnt "at the top" and "at the bottom" in their fine-tune; see models/README.md).
 */
export function where(box: RegionSpec['box']): string {
  const x = (box.x0 + box.x1) / 2;
  const y = (box.y0 + box.y1) / 2;
  if (x < 0.4) return 'on the left';
  if (x > 0.6) return 'on the right';
  if (y < 0.4) return 'at the top';
  if (y > 0.6) return 'at the bottom';
  return 'in the centre';
}

/** The prompts of a scene: for the single-prompt methods, and per region. */
export function scenePrompts(scene: Scene): { whole: string; global: string; regions: [string, string] } {
  const [b0, b1] = LAYOUT_BOXES[scene.layout];
  const g = scene.global ? CONCEPT_TRIGGER[scene.global] : '';
  const part = (c: CharacterName, box: RegionSpec['box']) => `${CONCEPT_TRIGGER[c]} ${where(box)}`;
  const withGlobal = (t: string) => (g ? `${t}, ${g}` : t);
  return {
    whole: withGlobal(`${part(scene.pair[0], b0)} and ${part(scene.pair[1], b1)}`),
    global: g || 'gray background',
    regions: [withGlobal(part(scene.pair[0], b0)), withGlobal(part(scene.pair[1], b1))],
  };
}

/** Whether a grid point of the detectors' 64 x 64 grid lies in a box given in image fractions. */
export function insideBox(box: RegionSpec['box'], cx: number, cy: number): boolean {
  const x = (cx + 0.5) / GRID;
  const y = (cy + 0.5) / GRID;
  return x >= box.x0 && x < box.x1 && y >= box.y0 && y < box.y1;
}

export interface PlacementScore {
  /** per character: detected inside its own box */
  own: [boolean, boolean];
  /** per character: detected inside the other's box */
  stray: [boolean, boolean];
  /** both in their own box and neither in the other's */
  correct: boolean;
}

export function scorePlacement(image: RgbImage, scene: Scene): PlacementScore {
  const boxes = LAYOUT_BOXES[scene.layout];
  const hits = scene.pair.map((c) => characterCandidates(c, image).filter((k) => k.detection.hit));
  const own = [0, 1].map((i) => hits[i].some((k) => insideBox(boxes[i], k.cx, k.cy))) as [boolean, boolean];
  const stray = [0, 1].map((i) => hits[i].some((k) => insideBox(boxes[1 - i], k.cx, k.cy))) as [boolean, boolean];
  return { own, stray, correct: own[0] && own[1] && !stray[0] && !stray[1] };
}

/** One compared method: a registry method and its options. */
export interface RegionalVariant {
  label: string;
  method: string;
  options?: Record<string, number | boolean>;
}

export const DEFAULT_VARIANTS: readonly RegionalVariant[] = [
  { label: 'regional', method: 'regional' },
  { label: 'regional-no-reinit', method: 'regional', options: { reinit: false } },
  { label: 'regional-no-norm', method: 'regional', options: { norm: false } },
  { label: 'regional-no-isolation', method: 'regional', options: { isolation: false } },
  { label: 'regional-warmup-4', method: 'regional', options: { warmup: 4 } },
  { label: 'regional-warmup-4-plain', method: 'regional', options: { warmup: 4, isolation: false, reinit: false } },
  { label: 'regional-passes', method: 'regional-passes' },
  { label: 'merge', method: 'merge' },
  { label: 'composite', method: 'composite' },
];

export interface RegionalRow {
  variant: string;
  scene: Scene;
  seed: number;
  placement: PlacementScore;
  /** the global LoRA's detector, when there is one */
  globalHit?: boolean;
  ms: number;
  /** mean wall time of one denoising step (all its UNet calls and the scheduler update) */
  stepMs: number;
  /** UNet evaluations of one CFG row pair, whole image */
  full: number;
}

export interface RegionalBenchOptions {
  modelDir: string;
  steps: number;
  sampler: string;
  cfg: number;
  seeds: readonly number[];
  variants: readonly RegionalVariant[];
  onImage?: (row: RegionalRow, image: RgbImage) => void;
}

const loraFile = (dir: string, c: ConceptName) => join(dir, 'loras', `${c}.safetensors`);

export async function runRegional(model: Model, sceneList: readonly Scene[], o: RegionalBenchOptions): Promise<RegionalRow[]> {
  const rows: RegionalRow[] = [];
  // method by method, so the UNet switches to (and off) the regional graph once per method: the
  // other methods run the plain graph, as they would in an engine that never made a regional image
  for (const variant of o.variants) {
    const definition = findMethod(variant.method);
    await model.useRegional(definition.name === 'regional');
    for (const scene of sceneList) {
      const prompts = scenePrompts(scene);
      const boxes = LAYOUT_BOXES[scene.layout];
      // stack: the global LoRA (if any), then the two characters; the regional methods bind them
      const concepts: ConceptName[] = [...(scene.global ? [scene.global] : []), ...scene.pair];
      await model.useLoras(concepts.map((c) => loraFile(o.modelDir, c)));
      const loraRegion = concepts.map((c, k) => (scene.global && k === 0 ? -1 : scene.pair.indexOf(c as CharacterName)));
      const regions: RegionSpec[] = [0, 1].map((i) => ({ box: boxes[i], prompt: prompts.regions[i], negative: '' }));
      const method = definition.create(
        { weights: concepts.map(() => 1), order: concepts.map((_, k) => k), regions: definition.regional ? regions : undefined, loraRegion },
        resolveMethodOptions(definition, variant.options),
      );
      const prompt = definition.regional ? prompts.global : prompts.whole;
      for (const seed of o.seeds) {
        const settings = resolveSettings({ prompt, seed, steps: o.steps, sampler: o.sampler, cfg: o.cfg }, model.folder);
        const t = performance.now();
        const r = await txt2img(model, settings, { method });
        const ms = performance.now() - t;
        const image: RgbImage = { data: r.rgb, width: r.width, height: r.height };
        const row: RegionalRow = {
          variant: variant.label,
          scene,
          seed,
          placement: scorePlacement(image, scene),
          globalHit: scene.global ? detectors[scene.global](image).hit : undefined,
          ms,
          stepMs: r.timings.unetSteps.reduce((a, b) => a + b, 0) / r.timings.unetSteps.length,
          full: r.steps.reduce((a, s) => a + s.full, 0),
        };
        rows.push(row);
        o.onImage?.(row, image);
      }
    }
  }
  return rows;
}

export interface RegionalSummary {
  variant: string;
  group: string;
  images: number;
  correct: number;
  /** each character in its own box (ignoring strays) */
  own: number;
  /** the first (left / top) character in its box; the second (right / bottom) in its box */
  first: number;
  second: number;
  globalHits?: number;
  msPerImage: number;
  msPerStep: number;
  passesPerStep: number;
}

/** Per variant: all scenes, then per layout and per global choice. */
export function summariseRegional(rows: readonly RegionalRow[], steps: number): RegionalSummary[] {
  const groups: [string, (r: RegionalRow) => boolean][] = [
    ['all', () => true],
    ...[...new Set(rows.map((r) => r.scene.layout))].map((l): [string, (r: RegionalRow) => boolean] => [l, (r) => r.scene.layout === l]),
    ...[...new Set(rows.map((r) => r.scene.global ?? 'none'))].map((g): [string, (r: RegionalRow) => boolean] => [`global: ${g}`, (r) => (r.scene.global ?? 'none') === g]),
  ];
  const out: RegionalSummary[] = [];
  for (const variant of [...new Set(rows.map((r) => r.variant))]) {
    for (const [group, keep] of groups) {
      const rs = rows.filter((r) => r.variant === variant && keep(r));
      if (rs.length === 0) continue;
      const withGlobal = rs.filter((r) => r.globalHit !== undefined);
      out.push({
        variant,
        group,
        images: rs.length,
        correct: rs.filter((r) => r.placement.correct).length / rs.length,
        own: rs.filter((r) => r.placement.own[0] && r.placement.own[1]).length / rs.length,
        first: rs.filter((r) => r.placement.own[0]).length / rs.length,
        second: rs.filter((r) => r.placement.own[1]).length / rs.length,
        globalHits: withGlobal.length ? withGlobal.filter((r) => r.globalHit).length / withGlobal.length : undefined,
        msPerImage: rs.reduce((a, r) => a + r.ms, 0) / rs.length,
        msPerStep: rs.reduce((a, r) => a + r.stepMs, 0) / rs.length,
        passesPerStep: rs.reduce((a, r) => a + r.full, 0) / rs.length / steps,
      });
    }
  }
  return out;
}

const pct = (x: number | undefined) => (x === undefined ? '–' : `${(100 * x).toFixed(0)}%`);

export function regionalMarkdown(summary: readonly RegionalSummary[]): string {
  const head = '| method | scenes | images | both in place, no strays | both in own box | first in its box | second in its box | global LoRA detected | ms / image | ms / step | UNet passes / step |';
  const lines = summary.map((s) => `| ${s.variant} | ${s.group} | ${s.images} | ${pct(s.correct)} | ${pct(s.own)} | ${pct(s.first)} | ${pct(s.second)} | ${pct(s.globalHits)} | ${s.msPerImage.toFixed(0)} | ${s.msPerStep.toFixed(1)} | ${s.passesPerStep.toFixed(2)} |`);
  return [head, '|---|---|---|---|---|---|---|---|---|---|---|', ...lines].join('\n');
}
