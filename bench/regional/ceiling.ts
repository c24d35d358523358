/**
 * What the demo family allows a two-character scene with a global LoRA (docs/regional.md, "What
 * the demo family allows"): each character alone, with its LoRA and a global LoRA merged into one
 * pass (no regions: the plainest way to draw it), asked for in one half of the image, and how often
 * the calibrated detector finds it there. A two-character scene can at best have both characters
 * survive the global LoRA; if each survives as often as alone, independently, a method places both
 * in at most p_a x p_b of the images.
 */
import { join } from 'node:path';
import { type Model, resolveSettings, txt2img } from '../../src/engine';
import { findMethod, resolveMethodOptions } from '../../src/engine/pipeline/methods';
import type { RegionSpec } from '../../src/engine/pipeline/regional';
import { characterCandidates, detectors } from '../detectors/concepts';
import { CHARACTERS, CONCEPT_TRIGGER, type CharacterName, type ConceptName } from '../detectors/world';
import { insideBox, LAYOUT_BOXES, where } from './run';

/** The four halves a character is asked for in, each from the two-character layouts' halves. */
export const HALVES: readonly RegionSpec['box'][] = [...LAYOUT_BOXES['left-right'], ...LAYOUT_BOXES['top-bottom']];

/**
 * The two-character estimate: the mean over ordered pairs of different characters of the product
 * of their rates alone (each pair twice, as the bench has both orders).
 */
export function pairEstimate(rates: Readonly<Record<CharacterName, number>>): number {
  let sum = 0;
  let n = 0;
  for (const a of CHARACTERS) {
    for (const b of CHARACTERS) {
      if (a === b) continue;
      sum += rates[a] * rates[b];
      n++;
    }
  }
  return sum / n;
}

export interface CeilingRow {
  global: ConceptName | undefined;
  /** per character: found in its half, of `images` each */
  found: Record<CharacterName, number>;
  images: number;
  /** the global LoRA's detector hit, of 3 x `images` */
  globalHits: number;
}

export interface CeilingOptions {
  modelDir: string;
  steps: number;
  sampler: string;
  cfg: number;
  seeds: readonly number[];
}

/** One row per global choice: every character in every half, every seed, Merge at weight 1. */
export async function runCeiling(model: Model, globals: readonly (ConceptName | undefined)[], o: CeilingOptions): Promise<CeilingRow[]> {
  const merge = findMethod('merge');
  await model.useRegional(false);
  const rows: CeilingRow[] = [];
  for (const global of globals) {
    const row: CeilingRow = { global, found: { zorb: 0, quill: 0, mippet: 0 }, images: HALVES.length * o.seeds.length, globalHits: 0 };
    for (const c of CHARACTERS) {
      const concepts: ConceptName[] = [...(global ? [global] : []), c];
      await model.useLoras(concepts.map((k) => join(o.modelDir, 'loras', `${k}.safetensors`)));
      const method = merge.create({ weights: concepts.map(() => 1), order: concepts.map((_, k) => k) }, resolveMethodOptions(merge));
      for (const box of HALVES) {
        const prompt = `${CONCEPT_TRIGGER[c]} ${where(box)}${global ? `, ${CONCEPT_TRIGGER[global]}` : ''}`;
        for (const seed of o.seeds) {
          const r = await txt2img(model, resolveSettings({ prompt, seed, steps: o.steps, sampler: o.sampler, cfg: o.cfg }, model.folder), { method });
          const image = { data: r.rgb, width: r.width, height: r.height };
          if (characterCandidates(c, image).some((k) => k.detection.hit && insideBox(box, k.cx, k.cy))) row.found[c]++;
          if (global && detectors[global](image).hit) row.globalHits++;
        }
      }
    }
    rows.push(row);
  }
  return rows;
}

const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

export function ceilingMarkdown(rows: readonly CeilingRow[]): string {
  const head = '| global LoRA | zorb alone, in its half | quill | mippet | all three | global LoRA detected | two characters, estimate (p_a x p_b) |';
  const lines = rows.map((r) => {
    const rates = Object.fromEntries(CHARACTERS.map((c) => [c, r.found[c] / r.images])) as Record<CharacterName, number>;
    const all = CHARACTERS.reduce((a, c) => a + r.found[c], 0) / (3 * r.images);
    return `| ${r.global ?? 'none'} | ${pct(rates.zorb)} | ${pct(rates.quill)} | ${pct(rates.mippet)} | ${pct(all)} | ${r.global ? pct(r.globalHits / (3 * r.images)) : '–'} | ${pct(pairEstimate(rates))} |`;
  });
  return [head, '|---|---|---|---|---|---|---|', ...lines].join('\n');
}
