/**
 * Calibrates the concept detectors on the committed calibration set and writes the results
 * table into docs/detectors.md (between its calibration markers).
 *
 *   npx tsx bench/calibrate-detectors.ts [--dir bench/fixtures/calibration] [--no-write] [--verbose]
 *
 * Three variants of every image: as rendered, degraded the way a small diffusion model departs
 * from a render (DEFAULT_DEGRADATION), and a harsher stress degradation.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadCalibrationSet, CALIBRATION_DIR } from './detectors/calibration-set';
import {
  evaluate,
  fpr,
  tpr,
  variantImages,
  TARGET_FPR,
  TARGET_TPR,
  type CalibrationResult,
} from './detectors/calibration';
import { DEFAULT_DEGRADATION, type Degradation } from './detectors/degrade';
import { CONCEPT_CATEGORY, CONCEPT_NAMES } from './detectors/world';

const DOC = 'docs/detectors.md';
const BEGIN = '<!-- calibration:begin -->';
const END = '<!-- calibration:end -->';

export const STRESS_DEGRADATION: Degradation = { blurSigma: 1, jitter: 30, noise: 5 };

const VARIANTS: { name: string; degradation?: Degradation }[] = [
  { name: 'clean' },
  { name: 'degraded', degradation: DEFAULT_DEGRADATION },
  { name: 'stress', degradation: STRESS_DEGRADATION },
];

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
const describe = (d: Degradation): string => `blur sigma ${d.blurSigma} px, colour jitter +-${d.jitter}, noise sigma ${d.noise}`;

function table(results: CalibrationResult[], positives: Record<string, number>, total: number): string {
  const head = ['concept', 'category', 'pos / neg', ...VARIANTS.flatMap((v) => [`TPR ${v.name}`, `FPR ${v.name}`])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 3 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const c of CONCEPT_NAMES) {
    const cells = results.flatMap((r) => [pct(tpr(r.concepts[c])), pct(fpr(r.concepts[c]))]);
    lines.push(`| ${c} | ${CONCEPT_CATEGORY[c]} | ${positives[c]} / ${total - positives[c]} | ${cells.join(' | ')} |`);
  }
  const b = results.map((r) => r.base);
  const baseHead = ['base world (base scenes)', ...VARIANTS.map((v) => v.name)];
  const baseLines = [
    `| ${baseHead.join(' | ')} |`,
    `| --- |${VARIANTS.map(() => ' ---: ').join('|')}|`,
    `| shape found with the right colour and position (of ${b[0].shapes}) | ${b.map((x) => pct(x.placed / x.shapes)).join(' | ')} |`,
    `| ... and the right kind (circle / square / triangle) | ${b.map((x) => pct(x.kindRight / x.shapes)).join(' | ')} |`,
    `| shapes detected that the caption did not ask for | ${b.map((x) => String(x.extra)).join(' | ')} |`,
    `| background grey right (of ${b[0].scenes}) | ${b.map((x) => pct(x.backgroundRight / x.scenes)).join(' | ')} |`,
    `| whole caption respected | ${b.map((x) => pct(x.captionRespected / x.scenes)).join(' | ')} |`,
  ];
  return [...lines, '', ...baseLines].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string', default: CALIBRATION_DIR },
      'no-write': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
    },
  });
  const items = await loadCalibrationSet(values.dir);
  const results: CalibrationResult[] = [];
  for (const v of VARIANTS) {
    const started = performance.now();
    results.push(evaluate(items, variantImages(items, v.degradation)));
    console.log(`${v.name}: ${items.length} images in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  const positives = Object.fromEntries(CONCEPT_NAMES.map((c) => [c, items.filter((it) => it.concepts.includes(c)).length]));
  const md = table(results, positives, items.length);
  console.log(`\n${md}\n`);

  const failing = CONCEPT_NAMES.filter((c) => tpr(results[0].concepts[c]) < TARGET_TPR || fpr(results[0].concepts[c]) > TARGET_FPR);
  console.log(failing.length ? `BELOW TARGET on clean renders: ${failing.join(', ')}` : 'All concepts meet the targets on clean renders.');
  if (values.verbose) {
    results.forEach((r, i) => {
      for (const c of CONCEPT_NAMES) {
        const s = r.concepts[c];
        if (s.misses.length || s.falseHits.length) {
          console.log(`${VARIANTS[i].name} ${c}: missed ${s.misses.join(' ') || '-'}; false hits ${s.falseHits.join(' ') || '-'}`);
        }
      }
    });
  }
  if (values['no-write']) return;

  const section = [
    BEGIN,
    `Made by \`npx tsx bench/calibrate-detectors.ts\` on the ${items.length} renders of \`${values.dir}\``,
    `(\`OPENBLAS_NUM_THREADS=1 /usr/bin/python3 models/recipe/calibration.py ${values.dir}\`).`,
    `Targets: TPR >= ${pct(TARGET_TPR)} and FPR <= ${pct(TARGET_FPR)}. Degraded: ${describe(DEFAULT_DEGRADATION)};`,
    `stress: ${describe(STRESS_DEGRADATION)} (seeded per image).`,
    '',
    md,
    END,
  ].join('\n');
  let doc: string;
  try {
    doc = await readFile(DOC, 'utf8');
  } catch {
    doc = `# Concept detectors\n\n${BEGIN}\n${END}\n`;
  }
  const start = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  doc = start >= 0 && end > start ? doc.slice(0, start) + section + doc.slice(end + END.length) : `${doc.trimEnd()}\n\n${section}\n`;
  await writeFile(DOC, doc);
  console.log(`Wrote the table to ${DOC}.`);
}

await main();
