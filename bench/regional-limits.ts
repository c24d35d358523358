/**
 * What the demo family allows the regional bench (docs/regional.md, "What the demo family
 * allows"): each character alone under each global LoRA, merged in one pass (`ceiling`), and one
 * character in one box, by each regional method (`lone`). Writes both tables into docs/regional.md.
 *
 *   npx tsx bench/regional-limits.ts [--studies ceiling,lone] [--seeds 8] [--steps 20] [--sampler ddim] [--cfg 5]
 *                                    [--globals none,sunset,meadow,hatching,dots] [--methods regional,regional-passes] [--no-doc]
 */
import { chordCacheDir, openModel } from '../src/engine';
import { cliOption as opt } from './cli-options';
import { writeDocSection } from './doc-section';
import type { ConceptName } from './detectors/world';
import { ceilingMarkdown, HALVES, runCeiling } from './regional/ceiling';
import { LONE_BOXES, loneMarkdown, runLone } from './regional/lone';

const MODEL = opt('model', 'models/glyph-sd');
const STUDIES = opt('studies', 'ceiling,lone').split(',');
const SEEDS = Array.from({ length: Number(opt('seeds', '8')) }, (_, i) => i);
const STEPS = Number(opt('steps', '20'));
const SAMPLER = opt('sampler', 'ddim');
const CFG = Number(opt('cfg', '5'));
const GLOBALS_TEXT = opt('globals', 'none,sunset,meadow,hatching,dots');
const GLOBALS = GLOBALS_TEXT.split(',').map((g) => (g === 'none' ? undefined : (g as ConceptName)));
const METHODS = opt('methods', 'regional,regional-passes').split(',');
const DOC = 'docs/regional.md';
const common = `--seeds ${SEEDS.length} --steps ${STEPS} --sampler ${SAMPLER} --cfg ${CFG}`;

async function main(): Promise<void> {
  for (const s of STUDIES) if (s !== 'ceiling' && s !== 'lone') throw new Error(`unknown study ${s}: ceiling or lone`);
  const model = await openModel(MODEL, { cacheDir: chordCacheDir() });
  const o = { modelDir: MODEL, steps: STEPS, sampler: SAMPLER, cfg: CFG, seeds: SEEDS };
  const write = !process.argv.includes('--no-doc');
  if (STUDIES.includes('ceiling')) {
    const t0 = performance.now();
    const table = ceilingMarkdown(await runCeiling(model, GLOBALS, o));
    const minutes = ((performance.now() - t0) / 60000).toFixed(1);
    console.log(table);
    if (write) {
      writeDocSection(DOC, 'regional-ceiling', [
        `Made by \`npx tsx bench/regional-limits.ts --studies ceiling ${common} --globals ${GLOBALS_TEXT}\` (${minutes} min; ${HALVES.length} halves x ${SEEDS.length} seeds = ${HALVES.length * SEEDS.length} images per character and global LoRA, each LoRA at weight 1, Merge, 64 x 64).`,
        '',
        table,
      ]);
    }
  }
  if (STUDIES.includes('lone')) {
    const t0 = performance.now();
    const table = loneMarkdown(await runLone(model, { ...o, methods: METHODS }));
    const minutes = ((performance.now() - t0) / 60000).toFixed(1);
    console.log(table);
    if (write) {
      writeDocSection(DOC, 'regional-lone', [
        `Made by \`npx tsx bench/regional-limits.ts --studies lone ${common} --methods ${METHODS.join(',')}\` (${minutes} min; ${LONE_BOXES.length} boxes x 3 characters x ${SEEDS.length} seeds per method, global prompt \`gray background\`, the character's LoRA at weight 1 bound to its box, 64 x 64).`,
        '',
        table,
      ]);
    }
  }
  await model.release();
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
