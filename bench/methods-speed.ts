/**
 * Speed of the composition methods (docs/performance.md, "Composition methods"):
 *  - on the embedded model: wall time per image per method at N = 2..5 (20 steps, 64 x 64);
 *  - on an SD 1.5-sized UNet (`--sd15 DIR`, random weights): wall time per step and UNet passes per
 *    step per method at N = 3 and 5, Composite batched and one call per LoRA with peak memory, and
 *    the shallow / full pass cost ratio, all through the engine's own Model.runUnet and UnetCall.
 *
 *   npm run bench:speed -- --only g,h --sd15 DIR [--size 256]
 *   npx tsx bench/methods-speed.ts --sd15 DIR [--only g,h] [--size 256] [--unet-steps 10] [--ns 3,5]
 *                                  [--embedded-ns 2,3,4,5] [--seeds 3] [--rank 16] [--no-doc]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chordCacheDir, openModel, type Model } from '../src/engine';
import { findMethod, resolveMethodOptions } from '../src/engine/pipeline/methods';
import { unetCall } from '../src/engine/pipeline/unet-call';
import { cliOption as opt } from './cli-options';
import { runQuality, type MethodVariant } from './quality/run';
import { sample } from './quality/set';
import { median } from './speed/stats';
import { sd15Folder, writeRandomLoras } from './speed/sd15-folder';
import { uniform } from './speed/unet-feeds';

export interface MethodsBenchOptions {
  only: readonly ('g' | 'h')[];
  /** UNet-only folder of the SD 1.5-sized UNet (h) */
  sd15?: string;
  /** the embedded model folder (g), and the parts the SD 1.5 folder borrows */
  model: string;
  size: number;
  unetSteps: number;
  ns: readonly number[];
  embeddedNs: readonly number[];
  seeds: readonly number[];
  rank: number;
  /** the document to write the section into; undefined: none */
  doc?: string;
  /** the command line to write beside the tables */
  command: string;
}

const DOC = 'docs/performance.md';

/** Every method, Composite in both forms. Peak memory only grows: the largest form goes last. */
const VARIANTS: readonly MethodVariant[] = [
  { label: 'merge', method: 'merge' },
  { label: 'switch', method: 'switch', order: 'user' },
  { label: 'cmlora', method: 'cmlora', order: 'user' },
  { label: 'composite, one call per LoRA', method: 'composite', maxBatchRows: 2 },
  { label: 'composite, batched', method: 'composite' },
];

const log = (s: string) => console.log(s);
const ms = (x: number) => `${x.toFixed(0)} ms`;

async function embedded(O: MethodsBenchOptions): Promise<string> {
  const model = await openModel(O.model, { cacheDir: chordCacheDir() });
  const rows: string[] = [];
  const ratios: string[] = [];
  try {
    for (const n of O.embeddedNs) {
      const set = sample(n, 1);
      // CMLoRA's H/L split as the paper's categories would give it: the background is L
      const variants = VARIANTS.map((v) => (v.method === 'cmlora' ? { ...v, order: 'freq' } : v));
      const results = await runQuality(model, set, { modelDir: O.model, steps: 20, sampler: 'ddim', cfg: 5, seeds: O.seeds, variants });
      const perImage = new Map<string, number>();
      for (const v of variants) {
        const rs = results.filter((r) => r.variant === v.label);
        perImage.set(v.label, median(rs.map((r) => r.ms)));
        const row = `| ${n} | ${v.label} | ${ms(median(rs.map((r) => r.ms)))} | ${(rs[0].full / 20).toFixed(2)} + ${(rs[0].shallow / 20).toFixed(2)} |`;
        rows.push(row);
        log(row);
      }
      ratios.push(`- N = ${n}: CMLoRA / Composite (fastest form) = ${cmloraRatio(perImage).toFixed(3)}`);
    }
  } finally {
    await model.release();
  }
  return [
    `Embedded model (${O.model}), 64 x 64, ddim 20 steps, seeds ${O.seeds.join(', ')}, the first composition of each N of the quality set:`,
    '',
    '| N | method | wall time per image (median) | UNet passes per step (full + shallow) |',
    '|---|---|---|---|',
    ...rows,
    '',
    ...ratios,
    '',
    'On a UNet this small a shallow pass saves less (about half a full pass) and the fixed cost of each call weighs more, so the ratio is far from the SD 1.5-sized one below.',
  ].join('\n');
}

/** CMLoRA's time over Composite's in its faster form (batched or one call per LoRA). */
function cmloraRatio(times: ReadonlyMap<string, number>): number {
  const fastest = Math.min(times.get('composite, batched') ?? Infinity, times.get('composite, one call per LoRA') ?? Infinity);
  return (times.get('cmlora') ?? Number.NaN) / fastest;
}

/** One method for O.unetSteps steps through Model.runUnet: ms per step and passes per step. */
async function timeMethod(O: MethodsBenchOptions, model: Model, variant: MethodVariant, n: number, cached: boolean): Promise<{ msPerStep: number; full: number; shallow: number; rssGiB: number }> {
  const latent = O.size / 8;
  const latentDims = [1, 4, latent, latent];
  const modelInput = uniform(4 * latent * latent, 7, 1);
  const context = { data: uniform(2 * 77 * 768, 8, 1), dims: [2, 77, 768] };
  const definition = findMethod(variant.method);
  const order = Array.from({ length: n }, (_, k) => k);
  // H = all but the last LoRA (a background-like L), as the categories would make it
  const method = definition.create({ weights: order.map(() => 1), order, highFrequency: new Set(order.slice(0, -1)) }, resolveMethodOptions(definition, variant.options));
  method.begin(O.unetSteps, cached);
  const cost = { full: 0, shallow: 0 };
  const times: number[] = [];
  for (let i = 0; i < O.unetSteps; i++) {
    const t = performance.now();
    await method.predict(i, O.unetSteps, unetCall(model, { modelInput, latentDims, timestep: 999 - 50 * i, context, maxRows: variant.maxBatchRows ?? 2 * n }, cost));
    times.push(performance.now() - t);
  }
  return { msPerStep: times.reduce((a, b) => a + b, 0) / times.length, full: cost.full / O.unetSteps, shallow: cost.shallow / O.unetSteps, rssGiB: (process.resourceUsage().maxRSS * 1024) / 2 ** 30 };
}

async function sd15(O: MethodsBenchOptions): Promise<string> {
  const folder = sd15Folder(O.model, O.sd15 ?? '');
  const loraDir = mkdtempSync(join(tmpdir(), 'chord-sd15-loras-'));
  const notices: string[] = [];
  const model = await openModel(folder, { cacheDir: chordCacheDir(), provider: 'cpu', onNotice: (x) => notices.push(x.message) });
  const lines: string[] = [];
  try {
    const files = await writeRandomLoras(model.folder.graphs.unet, loraDir, Math.max(...O.ns), O.rank);
    await model.useLoras(files.slice(0, Math.max(...O.ns)));
    const cached = await model.enableCachedPasses();
    log(`SD 1.5-sized UNet at ${O.size} x ${O.size}: cached passes ${cached ? 'on' : `off (${notices.join('; ')})`}`);
    // shallow / full: one CFG pair, a few calls each, after a warm-up
    const ratio = await shallowRatio(O, model);
    log(`shallow / full: ${ratio.shallow.toFixed(0)} / ${ratio.full.toFixed(0)} ms = ${(ratio.shallow / ratio.full).toFixed(3)}`);
    const rows: string[] = [];
    for (const n of O.ns) {
      await model.useLoras(files.slice(0, n));
      const results = new Map<string, Awaited<ReturnType<typeof timeMethod>>>();
      for (const v of VARIANTS) {
        const r = await timeMethod(O, model, v, n, cached);
        results.set(v.label, r);
        const row = `| ${n} | ${v.label} | ${ms(r.msPerStep)} | ${r.full.toFixed(2)} + ${r.shallow.toFixed(2)} | ${r.rssGiB.toFixed(1)} GiB |`;
        rows.push(row);
        log(row);
      }
      const c = cmloraRatio(new Map([...results].map(([k, r]) => [k, r.msPerStep])));
      const target = n === 3 ? 0.55 : n === 5 ? 0.5 : undefined;
      const verdict = target === undefined ? '' : c <= target ? ` (target ≤ ${target}: pass)` : ` (target ≤ ${target}: FAIL)`;
      lines.push(`- N = ${n}: CMLoRA / Composite (fastest form) = ${c.toFixed(3)}${verdict}`);
    }
    return [
      `SD 1.5-sized UNet (random weights, ${O.sd15 ?? ''}), ${O.size} x ${O.size}, CPU, ${O.unetSteps} steps per method, ${O.rank}-rank kohya LoRAs on the attention layers; times per denoising step (all UNet calls of the method), averaged over the steps:`,
      '',
      `Shallow pass / full pass (one CFG pair, median of 5): ${ratio.shallow.toFixed(0)} / ${ratio.full.toFixed(0)} ms = **${(ratio.shallow / ratio.full).toFixed(3)}** (the paper: about 0.38).`,
      '',
      '| N | method | wall time per step | UNet passes per step (full + shallow) | peak RSS so far |',
      '|---|---|---|---|---|',
      ...rows,
      '',
      ...lines,
      '',
      'Peak RSS is the process maximum so far: the methods run in the order listed, cheapest first, so a row above its predecessor shows what it added.',
    ].join('\n');
  } finally {
    await model.release();
    rmSync(folder, { recursive: true, force: true });
    rmSync(loraDir, { recursive: true, force: true });
  }
}

async function shallowRatio(O: MethodsBenchOptions, model: Model): Promise<{ full: number; shallow: number }> {
  const latent = O.size / 8;
  const sample = { data: uniform(2 * 4 * latent * latent, 3, 1), dims: [2, 4, latent, latent] };
  const context = { data: uniform(2 * 77 * 768, 4, 1), dims: [2, 77, 768] };
  const loras = [1, ...Array.from({ length: Math.max(...O.ns) - 1 }, () => 0)];
  const fill = await model.runUnet({ sample, timestep: 500, context, loras, depth: 'fill' });
  const time = async (f: () => Promise<unknown>) => {
    const t = performance.now();
    await f();
    return performance.now() - t;
  };
  const full: number[] = [];
  const shallow: number[] = [];
  await model.runUnet({ sample, timestep: 500, context, loras, depth: 'shallow', deepFeature: fill.deepFeature });
  for (let i = 0; i < 5; i++) {
    full.push(await time(() => model.runUnet({ sample, timestep: 500, context, loras, depth: 'fill' })));
    shallow.push(await time(() => model.runUnet({ sample, timestep: 500, context, loras, depth: 'shallow', deepFeature: fill.deepFeature })));
  }
  return { full: median(full), shallow: median(shallow) };
}

/** Runs g and/or h; returns the markdown section (also written into `doc` when given). */
export async function runMethodsBench(O: MethodsBenchOptions): Promise<string> {
  const t0 = performance.now();
  const parts: string[] = [];
  if (O.only.includes('g')) parts.push(await embedded(O));
  if (O.only.includes('h')) {
    if (!O.sd15) throw new Error('h needs --sd15 DIR, a UNet-only folder (python3 models/recipe/recipe.py sd15-random --out DIR)');
    parts.push(await sd15(O));
  }
  const minutes = ((performance.now() - t0) / 60000).toFixed(1);
  const load = `load average ${loadavg().map((x) => x.toFixed(1)).join(', ')} at the end`;
  const section = ['<!-- methods:begin -->', `Made by \`${O.command}\` (${minutes} min, ${cpus().length} cores, ${load}).`, '', ...parts.flatMap((p) => [p, '']), '<!-- methods:end -->'].join('\n');
  if (O.doc) {
    const doc = readFileSync(O.doc, 'utf8');
    const re = /<!-- methods:begin -->[\s\S]*<!-- methods:end -->/;
    writeFileSync(O.doc, re.test(doc) ? doc.replace(re, section) : `${doc.trimEnd()}\n\n## Composition methods\n\n${section}\n`);
    log(`wrote ${O.doc}`);
  }
  return section;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  await runMethodsBench({
    only: opt('only', 'g,h').split(',').filter((x): x is 'g' | 'h' => x === 'g' || x === 'h'),
    sd15: opt('sd15', '') || undefined,
    model: opt('model', 'models/glyph-sd'),
    size: Number(opt('size', '256')),
    unetSteps: Number(opt('unet-steps', '10')),
    ns: opt('ns', '3,5').split(',').map(Number),
    embeddedNs: opt('embedded-ns', '2,3,4,5').split(',').map(Number),
    seeds: Array.from({ length: Number(opt('seeds', '3')) }, (_, i) => i),
    rank: Number(opt('rank', '16')),
    doc: args.includes('--no-doc') ? undefined : DOC,
    command: `npx tsx bench/methods-speed.ts ${args.join(' ')}`.trim(),
  });
}

// run as a script (npx tsx bench/methods-speed.ts), not when imported by bench/speed.ts
if (process.argv[1]?.endsWith('methods-speed.ts')) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
}
