/**
 * One character in one box (docs/regional.md, "One character, one box"): where in the image a
 * regional method can put a lone character, apart from any interplay between two. The global
 * prompt is the bench's `gray background`, the region prompt the character's trigger and place
 * words, its LoRA bound to the box; scored by the located detector (found with its centroid in the box).
 */
import { join } from 'node:path';
import { type Model, resolveSettings, txt2img } from '../../src/engine';
import { findMethod, resolveMethodOptions } from '../../src/engine/pipeline/methods';
import type { RegionSpec } from '../../src/engine/pipeline/regional';
import { characterCandidates } from '../detectors/concepts';
import { CHARACTERS, CONCEPT_TRIGGER, type CharacterName } from '../detectors/world';
import { insideBox, LAYOUT_BOXES, where } from './run';

type Box = RegionSpec['box'];

/** The boxes tried: the framed boxes of the two-character bench, a tiling half, and a quarter. */
export const LONE_BOXES: readonly { label: string; box: Box }[] = [
  { label: 'framed left', box: LAYOUT_BOXES['left-right-framed'][0] },
  { label: 'framed right', box: LAYOUT_BOXES['left-right-framed'][1] },
  { label: 'framed top', box: LAYOUT_BOXES['top-bottom-framed'][0] },
  { label: 'framed bottom', box: LAYOUT_BOXES['top-bottom-framed'][1] },
  { label: 'top half', box: LAYOUT_BOXES['top-bottom'][0] },
  { label: 'bottom half', box: LAYOUT_BOXES['top-bottom'][1] },
  { label: 'top-left quarter', box: { x0: 0, y0: 0, x1: 0.5, y1: 0.5 } },
];

export interface LoneRow {
  method: string;
  label: string;
  box: Box;
  found: Record<CharacterName, number>;
  /** images per character */
  images: number;
}

export interface LoneOptions {
  modelDir: string;
  steps: number;
  sampler: string;
  cfg: number;
  seeds: readonly number[];
  methods: readonly string[];
}

export async function runLone(model: Model, o: LoneOptions): Promise<LoneRow[]> {
  const rows: LoneRow[] = [];
  for (const name of o.methods) {
    const definition = findMethod(name);
    if (!definition.regional) throw new Error(`${name} is not a regional method`);
    await model.useRegional(definition.name === 'regional');
    for (const { label, box } of LONE_BOXES) {
      const row: LoneRow = { method: name, label, box, found: { zorb: 0, quill: 0, mippet: 0 }, images: o.seeds.length };
      for (const c of CHARACTERS) {
        await model.useLoras([join(o.modelDir, 'loras', `${c}.safetensors`)]);
        const regions: RegionSpec[] = [{ box, prompt: `${CONCEPT_TRIGGER[c]} ${where(box)}`, negative: '' }];
        const method = definition.create({ weights: [1], order: [0], regions, loraRegion: [0] }, resolveMethodOptions(definition));
        for (const seed of o.seeds) {
          const r = await txt2img(model, resolveSettings({ prompt: 'gray background', seed, steps: o.steps, sampler: o.sampler, cfg: o.cfg }, model.folder), { method });
          const image = { data: r.rgb, width: r.width, height: r.height };
          if (characterCandidates(c, image).some((k) => k.detection.hit && insideBox(box, k.cx, k.cy))) row.found[c]++;
        }
      }
      rows.push(row);
    }
  }
  return rows;
}

const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

/** One row per box, one column per method (all characters together), then per character. */
export function loneMarkdown(rows: readonly LoneRow[]): string {
  const methods = [...new Set(rows.map((r) => r.method))];
  const labels = [...new Set(rows.map((r) => r.label))];
  const cell = (r: LoneRow | undefined) => (r ? pct(CHARACTERS.reduce((a, c) => a + r.found[c], 0) / (3 * r.images)) : '–');
  const per = (r: LoneRow | undefined) => (r ? CHARACTERS.map((c) => `${r.found[c]}/${r.images}`).join(' ') : '–');
  const head = `| box [x0, y0, x1, y1] | words | ${methods.map((m) => `${m}: found in its box (zorb quill mippet)`).join(' | ')} |`;
  const lines = labels.map((l) => {
    const of = (m: string) => rows.find((r) => r.method === m && r.label === l);
    const b = (of(methods[0]) as LoneRow).box;
    return `| ${l} [${b.x0}, ${b.y0}, ${b.x1}, ${b.y1}] | ${where(b)} | ${methods.map((m) => `${cell(of(m))} (${per(of(m))})`).join(' | ')} |`;
  });
  return [head, `|---|---|${methods.map(() => '---|').join('')}`, ...lines].join('\n');
}
