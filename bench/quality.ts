/**
 * Composition quality on the demo world (docs/composition.md): each method on a ComposLoRA-style
 * set (one character + N - 1 LoRAs of other categories, N = 2..5), several seeds, scored by the
 * calibrated detectors. Writes the table and image grids into docs/composition.md.
 *
 *   npm run bench:quality -- [--per-n 8] [--ns 2,3,4,5] [--seeds 3] [--steps 20] [--sampler ddim] [--cfg 5]
 *                            [--methods merge,switch,composite,cmlora,cmlora-reverse] [--no-doc]
 *
 * `--per-n K` takes K compositions of each size spread evenly over the whole set (all of them when
 * K is at least the set's size: 24, 72, 96, 48).
 */
import { join } from 'node:path';
import { chordCacheDir, openModel } from '../src/engine';
import { cliOption as opt } from './cli-options';
import { writeDocSection } from './doc-section';
import type { RgbImage } from './detectors/image';
import { DEFAULT_VARIANTS, runQuality, summarise, summaryMarkdown, type MethodVariant } from './quality/run';
import { sample } from './quality/set';
import { writeGrid } from './grid';

const MODEL = opt('model', 'models/glyph-sd');
const PER_N = Number(opt('per-n', '8'));
const NS = opt('ns', '2,3,4,5').split(',').map(Number);
const SEEDS = Array.from({ length: Number(opt('seeds', '3')) }, (_, i) => i);
const STEPS = Number(opt('steps', '20'));
const SAMPLER = opt('sampler', 'ddim');
const CFG = Number(opt('cfg', '5'));
const METHODS = opt('methods', DEFAULT_VARIANTS.map((v) => v.label.replace(' ', '-')).join(','));
const WRITE_DOC = !process.argv.includes('--no-doc');
const DOC = 'docs/composition.md';
const IMAGES = 'docs/images/composition';

function variants(): MethodVariant[] {
  return METHODS.split(',').map((label) => {
    const known = DEFAULT_VARIANTS.find((v) => v.label.replace(' ', '-') === label);
    if (known) return known;
    const [method, order] = label.split('-');
    return { label, method, order };
  });
}


async function main(): Promise<void> {
  const t0 = performance.now();
  const model = await openModel(MODEL, { cacheDir: chordCacheDir() });
  const sets = NS.flatMap((n) => sample(n, PER_N));
  const vs = variants();
  // grids: the first composition of the largest N, one row per method, one column per seed
  const gridSet = sets.filter((s) => s.length === Math.max(...NS))[0];
  const grid = new Map<string, RgbImage[]>();
  let done = 0;
  const total = sets.length * vs.length * SEEDS.length;
  const results = await runQuality(model, sets, {
    modelDir: MODEL,
    steps: STEPS,
    sampler: SAMPLER,
    cfg: CFG,
    seeds: SEEDS,
    variants: vs,
    onImage: (row, image) => {
      done++;
      if (row.concepts === gridSet) grid.set(row.variant, [...(grid.get(row.variant) ?? []), image]);
      if (done % 20 === 0) console.log(`${done}/${total} images, ${((performance.now() - t0) / 60000).toFixed(1)} min`);
    },
  });
  await model.release();
  const table = summaryMarkdown(summarise(results, STEPS));
  console.log(table);
  const minutes = ((performance.now() - t0) / 60000).toFixed(1);
  if (!WRITE_DOC) return;
  const gridFile = `quality-n${gridSet.length}.png`;
  await writeGrid(join(IMAGES, gridFile), vs.map((v) => grid.get(v.label) ?? []));
  const command = `npm run bench:quality -- --per-n ${PER_N} --ns ${NS.join(',')} --seeds ${SEEDS.length} --steps ${STEPS} --sampler ${SAMPLER} --cfg ${CFG} --methods ${METHODS}`;
  writeDocSection(DOC, 'quality', [
    `Made by \`${command}\` (${minutes} min on this machine, 2 CPU cores, ${results.length} images).`,
    `${PER_N} compositions per N spread evenly over the whole set, seeds 0..${SEEDS.length - 1}, all LoRAs at weight 1, prompt = their trigger words, 64 x 64.`,
    '',
    table,
    '',
    `![${gridSet.join(' + ')}](images/composition/${gridFile})`,
    '',
    `Rows: ${vs.map((v) => v.label).join(', ')}; columns: seeds ${SEEDS.join(', ')}; prompt \`${gridSet.join(' + ')}\` (trigger words).`,
  ]);
  console.log(`wrote ${DOC} in ${minutes} min`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
