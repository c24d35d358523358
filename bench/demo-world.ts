/**
 * Evidence that the embedded demo model family works, sampled from the exported ONNX files through
 * the engine (so it proves the export, not only the torch model):
 *  - a grid of base-model samples for several captions, and how often the caption is respected
 *    (every requested shape with the right colour, shape and position, and the right background);
 *  - for each LoRA, a grid of samples with the LoRA alone at weight 1.0 on its trigger word, and its
 *    own detector's hit rate over 20 seeds.
 * Writes PNG grids to docs/images/demo-world/ and the tables between the evidence markers of
 * docs/demo-world.md.
 *
 *   npx tsx bench/demo-world.ts [--model models/glyph-sd] [--seeds 20] [--base-seeds 10] [--steps 25] [--sampler ddim] [--cfg 5]
 *
 * `--only scarf,hat` checks just those LoRAs (no base captions, no grids, nothing written): a quick
 * look during training, with the LoRA files exported to `--model`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chordCacheDir, Merge, openModel, resolveSettings, txt2img, type Model } from '../src/engine';
import { captionRespected } from './detectors/base';
import { detectors } from './detectors/concepts';
import type { RgbImage } from './detectors/image';
import { CONCEPT_CATEGORY, CONCEPT_NAMES, CONCEPT_TRIGGER, type BaseScene, type ConceptName } from './detectors/world';
import { cliOption as opt } from './cli-options';
import { writeGrid } from './grid';

const MODEL = opt('model', 'models/glyph-sd');
const SEEDS = Number(opt('seeds', '20'));
const BASE_SEEDS = Number(opt('base-seeds', '10'));
const CONTROL_SEEDS = 3;
const STEPS = Number(opt('steps', '25'));
const SAMPLER = opt('sampler', 'ddim');
const CFG = Number(opt('cfg', '5'));
const GRID_SEEDS = 6;
const ONLY_LIST = opt('only', '');
const ONLY = ONLY_LIST ? (ONLY_LIST.split(',') as ConceptName[]) : null;
const OUT_DIR = 'docs/images/demo-world';
const DOC = 'docs/demo-world.md';

const CAPTIONS: { caption: string; truth: BaseScene }[] = [
  { caption: 'a red circle on the left, gray background', truth: { shapes: [{ shape: 'circle', colour: 'red', pos: 'left' }], background: 'gray' } },
  { caption: 'a blue square in the centre, white background', truth: { shapes: [{ shape: 'square', colour: 'blue', pos: 'centre' }], background: 'white' } },
  { caption: 'a yellow triangle on the right, black background', truth: { shapes: [{ shape: 'triangle', colour: 'yellow', pos: 'right' }], background: 'black' } },
  { caption: 'a green circle in the centre, gray background', truth: { shapes: [{ shape: 'circle', colour: 'green', pos: 'centre' }], background: 'gray' } },
  { caption: 'a red square on the left and a blue triangle on the right, white background', truth: { shapes: [{ shape: 'square', colour: 'red', pos: 'left' }, { shape: 'triangle', colour: 'blue', pos: 'right' }], background: 'white' } },
  { caption: 'a yellow circle on the left and a green square on the right, black background', truth: { shapes: [{ shape: 'circle', colour: 'yellow', pos: 'left' }, { shape: 'square', colour: 'green', pos: 'right' }], background: 'black' } },
];

async function sample(model: Model, prompt: string, seed: number, weights: number[]): Promise<RgbImage> {
  const settings = resolveSettings({ prompt, seed, steps: STEPS, sampler: SAMPLER, cfg: CFG }, model.folder);
  const r = await txt2img(model, settings, { method: new Merge(weights) });
  return { data: r.rgb, width: r.width, height: r.height };
}


const pct = (k: number, n: number): string => `${((100 * k) / n).toFixed(0)}%`;

async function main(): Promise<void> {
  const t0 = performance.now();
  const unknown = (ONLY ?? []).filter((c) => !CONCEPT_NAMES.includes(c));
  if (unknown.length) throw new Error(`--only: no concept named ${unknown.join(', ')} (the concepts: ${CONCEPT_NAMES.join(', ')})`);
  const model = await openModel(MODEL, { cacheDir: chordCacheDir() });
  const none: number[] = [];

  const baseRows: string[] = [];
  const baseGrid: RgbImage[][] = [];
  let baseOk = 0;
  for (const { caption, truth } of ONLY ? [] : CAPTIONS) {
    let ok = 0;
    const row: RgbImage[] = [];
    for (let s = 0; s < BASE_SEEDS; s++) {
      const img = await sample(model, caption, s, none);
      if (captionRespected(img, truth)) ok++;
      if (s < GRID_SEEDS) row.push(img);
    }
    baseOk += ok;
    baseGrid.push(row);
    baseRows.push(`| ${caption} | ${ok}/${BASE_SEEDS} (${pct(ok, BASE_SEEDS)}) |`);
    console.log(`base  ${caption.padEnd(80)} ${ok}/${BASE_SEEDS}`);
  }
  if (!ONLY) await writeGrid(join(OUT_DIR, 'base.png'), baseGrid);

  const loraRows: string[] = [];
  const loraGrid: RgbImage[][] = [];
  let loraPass = 0;
  for (const concept of ONLY ?? CONCEPT_NAMES) {
    // one LoRA loaded at a time: switching files never re-creates a session
    await model.useLoras([join(MODEL, 'loras', `${concept}.safetensors`)]);
    let hits = 0;
    let baseHits = 0;
    const row: RgbImage[] = [];
    for (let s = 0; s < SEEDS; s++) {
      const img = await sample(model, CONCEPT_TRIGGER[concept], s, [1]);
      if (detectors[concept](img).hit) hits++;
      if (s < GRID_SEEDS) row.push(img);
      // the same prompt without the LoRA: the concept must come from the LoRA, not the base
      if (s < CONTROL_SEEDS && detectors[concept](await sample(model, CONCEPT_TRIGGER[concept], s, [0])).hit) baseHits++;
    }
    loraGrid.push(row);
    if (hits / SEEDS >= 0.8) loraPass++;
    loraRows.push(`| ${concept} | ${CONCEPT_CATEGORY[concept]} | \`${CONCEPT_TRIGGER[concept]}\` | ${hits}/${SEEDS} (${pct(hits, SEEDS)}) | ${baseHits}/${CONTROL_SEEDS} |`);
    console.log(`lora  ${concept.padEnd(10)} ${hits}/${SEEDS}   without LoRA ${baseHits}/${CONTROL_SEEDS}`);
  }
  await model.release();
  const minutes = ((performance.now() - t0) / 60000).toFixed(1);
  if (ONLY) {
    console.log(`checked ${ONLY.join(', ')} in ${minutes} min; nothing written`);
    return;
  }
  await writeGrid(join(OUT_DIR, 'loras.png'), loraGrid);

  const section = [
    '<!-- evidence:start -->',
    `Sampled from the exported ONNX files through Chord's engine: ${SAMPLER}, ${STEPS} steps, CFG ${CFG}, 64 x 64; base captions seeds 0..${BASE_SEEDS - 1}, LoRAs seeds 0..${SEEDS - 1}.`,
    `Made by \`npx tsx bench/demo-world.ts --seeds ${SEEDS} --base-seeds ${BASE_SEEDS} --steps ${STEPS} --sampler ${SAMPLER} --cfg ${CFG}\` (${minutes} min on this machine).`,
    '',
    '### Base model: captions respected',
    '',
    `![base samples](images/demo-world/base.png)`,
    '',
    `Rows: the captions below, in order; columns: seeds 0..${GRID_SEEDS - 1}. A sample respects its caption when every`,
    'requested shape is found with the right colour, shape and position and the background colour is right.',
    '',
    '| caption | respected |',
    '|---|---|',
    ...baseRows,
    `| **all** | **${baseOk}/${BASE_SEEDS * CAPTIONS.length} (${pct(baseOk, BASE_SEEDS * CAPTIONS.length)})**, target >= 80% |`,
    '',
    '### Each LoRA alone at weight 1.0 on its trigger word',
    '',
    `![LoRA samples](images/demo-world/loras.png)`,
    '',
    `Rows: ${CONCEPT_NAMES.join(', ')}; columns: seeds 0..${GRID_SEEDS - 1}.`,
    '',
    `| LoRA | category | prompt | own concept detected | same prompt without the LoRA |`,
    '|---|---|---|---|---|',
    ...loraRows,
    '',
    `${loraPass} of ${CONCEPT_NAMES.length} LoRAs reach the target (own concept in >= 80% of samples).`,
    '<!-- evidence:end -->',
  ].join('\n');
  const doc = readFileSync(DOC, 'utf8');
  const re = /<!-- evidence:start -->[\s\S]*<!-- evidence:end -->/;
  if (!re.test(doc)) throw new Error(`${DOC} has no evidence markers`);
  writeFileSync(DOC, doc.replace(re, section));
  console.log(`wrote ${DOC} and ${OUT_DIR}/ in ${minutes} min`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
