/**
 * Regional composition on the demo world (docs/regional.md): two-character scenes (every ordered
 * pair of zorb, quill and mippet; left/right and top/bottom boxes, as halves that tile the image
 * and as framed boxes with background around them; without a global LoRA, with a background one
 * (sunset) and with a style one (dots)), each method on each scene and seed, scored by the located
 * character detectors. Writes the table and image grids into docs/regional.md.
 *
 *   npx tsx bench/regional.ts [--seeds 4] [--first-seed 0] [--steps 20] [--sampler ddim] [--cfg 5] [--globals none,sunset,dots]
 *                             [--layouts left-right,top-bottom,left-right-framed,top-bottom-framed] [--methods regional,regional-no-reinit,regional-passes,merge,composite]
 *                             [--regional-options isolation=1,gate=1,reinit=1,warmup=4] [--no-doc]
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chordCacheDir, openModel } from '../src/engine';
import { findMethod } from '../src/engine/pipeline/methods';
import { cliOption as opt } from './cli-options';
import { writeDocSection } from './doc-section';
import type { RgbImage } from './detectors/image';
import type { ConceptName } from './detectors/world';
import { DEFAULT_VARIANTS, LAYOUT_BOXES, LAYOUTS as ALL_LAYOUTS, regionalMarkdown, runRegional, scenes, summariseRegional, type Layout, type RegionalVariant } from './regional/run';
import { writeGrid } from './grid';

const MODEL = opt('model', 'models/glyph-sd');
const FIRST_SEED = Number(opt('first-seed', '0'));
const SEEDS = Array.from({ length: Number(opt('seeds', '4')) }, (_, i) => FIRST_SEED + i);
const STEPS = Number(opt('steps', '20'));
const SAMPLER = opt('sampler', 'ddim');
const CFG = Number(opt('cfg', '5'));
const GLOBALS = opt('globals', 'none,sunset,dots').split(',').map((g) => (g === 'none' ? undefined : (g as ConceptName)));
const LAYOUTS = opt('layouts', ALL_LAYOUTS.join(',')).split(',') as Layout[];
for (const l of LAYOUTS) if (!ALL_LAYOUTS.includes(l)) throw new Error(`unknown layout ${l}: one of ${ALL_LAYOUTS.join(', ')}`);
const METHODS = opt('methods', DEFAULT_VARIANTS.map((v) => v.label).join(','));
const REGIONAL_OPTIONS = opt('regional-options', '');
const WRITE_DOC = !process.argv.includes('--no-doc');
const DOC = 'docs/regional.md';
const IMAGES = 'docs/images/regional';

function variants(): RegionalVariant[] {
  // booleans as 1/0 or true/false, numbers (warmup) as numbers
  const kinds = new Map(findMethod('regional').options.map((o) => [o.name, o.kind]));
  const options = Object.fromEntries(
    REGIONAL_OPTIONS.split(',').filter(Boolean).map((kv) => {
      const [k, v] = kv.split('=');
      return [k, kinds.get(k) === 'boolean' ? v === '1' || v === 'true' : Number(v)];
    }),
  );
  return METHODS.split(',').map((label) => {
    const known = DEFAULT_VARIANTS.find((v) => v.label === label);
    if (!known) throw new Error(`unknown method ${label}`);
    return known.label === 'regional' && REGIONAL_OPTIONS ? { ...known, options } : known;
  });
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const model = await openModel(MODEL, { cacheDir: chordCacheDir() });
  const list = scenes(GLOBALS, LAYOUTS);
  const vs = variants();
  // grids: the first scene of each layout and global choice, one row per method, one column per seed
  const gridScenes = LAYOUTS.flatMap((l) => GLOBALS.map((g) => list.find((s) => s.layout === l && s.global === g)));
  const grids = new Map<string, RgbImage[]>();
  let done = 0;
  const total = list.length * vs.length * SEEDS.length;
  const rows = await runRegional(model, list, {
    modelDir: MODEL,
    steps: STEPS,
    sampler: SAMPLER,
    cfg: CFG,
    seeds: SEEDS,
    variants: vs,
    onImage: (row, image) => {
      done++;
      const g = gridScenes.indexOf(row.scene);
      if (g >= 0) grids.set(`${g}\u0000${row.variant}`, [...(grids.get(`${g}\u0000${row.variant}`) ?? []), image]);
      if (done % 20 === 0) console.log(`${done}/${total} images, ${((performance.now() - t0) / 60000).toFixed(1)} min`);
    },
  });
  await model.release();
  const table = regionalMarkdown(summariseRegional(rows, STEPS));
  console.log(table);
  const minutes = ((performance.now() - t0) / 60000).toFixed(1);
  if (!WRITE_DOC) return;
  mkdirSync(IMAGES, { recursive: true });
  const figures: string[] = [];
  for (const [g, scene] of gridScenes.entries()) {
    if (!scene) continue;
    const file = `${scene.pair.join('-')}-${scene.layout}-${scene.global ?? 'none'}.png`;
    await writeGrid(join(IMAGES, file), vs.map((v) => grids.get(`${g}\u0000${v.label}`) ?? []));
    figures.push(`![${scene.pair.join(' + ')}, ${scene.layout}, global ${scene.global ?? 'none'}](images/regional/${file})`, '');
    const lr = scene.layout.startsWith('left-right');
    const boxes = LAYOUT_BOXES[scene.layout].map((b) => `[${b.x0}, ${b.y0}, ${b.x1}, ${b.y1}]`);
    figures.push(`${scene.pair[0]} in the ${lr ? 'left' : 'top'} box ${boxes[0]}, ${scene.pair[1]} in the ${lr ? 'right' : 'bottom'} box ${boxes[1]}, global LoRA: ${scene.global ?? 'none'}. Rows: ${vs.map((v) => v.label).join(', ')}; columns: seeds ${SEEDS.join(', ')}.`, '');
  }
  const command = `npx tsx bench/regional.ts --seeds ${SEEDS.length}${FIRST_SEED ? ` --first-seed ${FIRST_SEED}` : ''} --steps ${STEPS} --sampler ${SAMPLER} --cfg ${CFG} --globals ${GLOBALS.map((g) => g ?? 'none').join(',')} --layouts ${LAYOUTS.join(',')} --methods ${METHODS}${REGIONAL_OPTIONS ? ` --regional-options ${REGIONAL_OPTIONS}` : ''}`;
  writeDocSection(DOC, 'regional', [
    `Made by \`${command}\` (${minutes} min on this machine, 2 CPU cores shared with other jobs, ${rows.length} images, ${list.length} scenes x ${SEEDS.length} seeds per method).`,
    'Every LoRA at weight 1, 64 x 64. Wall time per image is the whole txt2img call (text encoding, any re-initialisation pass, all steps, decoding).',
    '',
    table,
    '',
    ...figures,
  ]);
  console.log(`wrote ${DOC} in ${minutes} min`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
