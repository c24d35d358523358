/**
 * Cost of a shallow UNet pass (the UNet cut of cached composition) against a full pass.
 *
 *   npx tsx bench/unet-cut.ts [--sd15 DIR] [--sides 32,64] [--model DIR] [--reps N] [--small-reps N] [--threads N] [--doc]
 *
 * For each UNet (the SD 1.5-sized one in --sd15 DIR, made with
 * `python3 models/recipe/recipe.py sd15-random --out DIR`, and the embedded model, --model,
 * default models/glyph-sd): cuts it, checks that a shallow pass fed the full pass's deep feature
 * reproduces the full output, then times the original graph, the full graph (which also outputs
 * the feature) and the shallow graph in alternation, CFG batch 2, and reports medians and the
 * median of the per-repetition shallow/full ratios. SD 1.5 runs at 256 x 256 px (latents 32 x 32),
 * (--sides 32,64 adds 512 x 512 px), the embedded model at its own sample size. Columns: medians of
 * each graph's times, the median of the per-repetition shallow/full ratios (the two passes run
 * next to each other), and the ratio of the fastest repetitions (the least disturbed by other
 * work on a shared machine). --doc writes the table into docs/composition.md
 * between the `unet-cut:results` markers.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { readModel, writeModel } from '../src/engine/onnx/io';
import type { ModelProto } from '../src/engine/onnx/proto';
import { addLoraBranches } from '../src/engine/onnx/branches';
import { findLoraTargets } from '../src/engine/onnx/targets';
import { blockNodeCounts, cutUnet, DEEP_FEATURE, findUnetCut } from '../src/engine/onnx/unet-cut';
import { cliOption } from './cli-options';
import { formatMs } from './speed/format';
import { machineInfo } from './speed/machine';
import { median, relativeSpread } from './speed/stats';
import { uniform } from './speed/unet-feeds';
import { macsAt, measureMacs, type MacTable } from './unet-macs';

const BATCH = 2;
const args = process.argv.slice(2);
/** repetitions at SD 1.5 scale, and for the small embedded UNet (milliseconds a pass: more needed) */
const reps = Number(cliOption('reps', '5'));
const smallReps = Number(cliOption('small-reps', '40'));
const threadsArg = cliOption('threads', '');
const threads = threadsArg ? Number(threadsArg) : undefined;

interface Row {
  model: string;
  latent: number;
  deepDims: readonly number[];
  nodes: { full: number; shallow: number };
  kept: string;
  maxDiff: number;
  /** shallow / full multiply-accumulates (Conv, MatMul, Gemm) at this latent size */
  macRatio: number;
  /** full pass GMACs at this latent size and batch */
  fullGMacs: number;
  original: number[];
  full: number[];
  shallow: number[];
}

async function config(unetDir: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(unetDir, 'config.json'), 'utf8')) as Record<string, unknown>;
}

interface Unet {
  label: string;
  dir: string;
  model: ModelProto;
  channels: number;
  ctxWidth: number;
  macs: MacTable;
  /** the two latent sides the MAC table was probed at */
  probes: [number, number];
}

async function loadUnet(label: string, dir: string, probes: [number, number]): Promise<Unet> {
  const cfg = await config(dir);
  const ctxWidth = Number(cfg.cross_attention_dim ?? 768);
  const channels = Number(cfg.in_channels ?? 4);
  const model = await readModel(join(dir, 'model.onnx'));
  const macs = await measureMacs(model, { channels, contextWidth: ctxWidth }, probes);
  return { label, dir, model, channels, ctxWidth, macs, probes };
}

async function measure(unet: Unet, side: number, reps: number): Promise<Row> {
  const { label, dir: unetDir, model, channels, ctxWidth } = unet;
  const { full, shallow } = cutUnet(model);
  const kept = new Set((shallow.graph?.node ?? []).map((n) => n.name ?? ''));
  const fullMacs = macsAt(unet.macs, unet.probes, side, BATCH);
  const shallowMacs = macsAt(unet.macs, unet.probes, side, BATCH, kept);
  const dir = await mkdtemp(join(tmpdir(), 'chord-unet-cut-'));
  try {
    // weights stay where they are: writeModel hard-links external files into the folder
    await writeModel(full, join(dir, 'full.onnx'));
    await writeModel(shallow, join(dir, 'shallow.onnx'));
    const options: InferenceSession.SessionOptions = { graphOptimizationLevel: 'all', ...(threads ? { intraOpNumThreads: threads } : {}) };
    const sOriginal = await InferenceSession.create(join(unetDir, 'model.onnx'), options);
    const sFull = await InferenceSession.create(join(dir, 'full.onnx'), options);
    const sShallow = await InferenceSession.create(join(dir, 'shallow.onnx'), options);
    const feeds = {
      sample: new Tensor('float32', uniform(BATCH * channels * side * side, 1, 1), [BATCH, channels, side, side]),
      timestep: new Tensor('float32', Float32Array.of(601, 601), [BATCH]),
      encoder_hidden_states: new Tensor('float32', uniform(BATCH * 77 * ctxWidth, 2, 1), [BATCH, 77, ctxWidth]),
    };
    const first = await sFull.run(feeds);
    const deep = first[DEEP_FEATURE];
    const shallowFeeds = { ...feeds, [DEEP_FEATURE]: deep };
    const check = await sShallow.run(shallowFeeds);
    // warm-up: first runs allocate and tune
    for (let w = 0; w < 2; w++) {
      await sOriginal.run(feeds);
      await sFull.run(feeds);
      await sShallow.run(shallowFeeds);
    }
    const a = first.out_sample.data as Float32Array;
    const b = check.out_sample.data as Float32Array;
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));

    const times = { original: [] as number[], full: [] as number[], shallow: [] as number[] };
    const time = async (s: InferenceSession, f: Record<string, Tensor>): Promise<number> => {
      const t0 = performance.now();
      await s.run(f);
      return performance.now() - t0;
    };
    for (let r = 0; r < reps; r++) {
      times.full.push(await time(sFull, feeds));
      times.shallow.push(await time(sShallow, shallowFeeds));
      times.original.push(await time(sOriginal, feeds));
      if (reps <= 10 || r % 10 === 9) console.error(`${label} rep ${r + 1}/${reps}: original ${formatMs(times.original[r])}, full ${formatMs(times.full[r])}, shallow ${formatMs(times.shallow[r])}`);
    }
    await Promise.all([sOriginal.release(), sFull.release(), sShallow.release()]);
    const before = blockNodeCounts(model);
    const after = blockNodeCounts(shallow);
    const blocks = [...after.keys()].filter((k) => k).map((k) => (after.get(k) === before.get(k) ? k : `${k} (${after.get(k)}/${before.get(k)} nodes)`));
    return {
      model: label,
      latent: side,
      deepDims: deep.dims,
      nodes: { full: full.graph?.node?.length ?? 0, shallow: shallow.graph?.node?.length ?? 0 },
      kept: blocks.join(', '),
      maxDiff,
      macRatio: shallowMacs / fullMacs,
      fullGMacs: fullMacs / 1e9,
      ...times,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function ratios(r: Row): number[] {
  return r.shallow.map((s, i) => s / r.full[i]);
}

function table(rows: Row[]): string {
  const lines = [
    '| UNet | latent (batch 2) | original | full (+ feature) | shallow | shallow / full, median | fastest shallow / fastest full | spread (full, shallow) | MACs: full, shallow / full | shallow = full output |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.model} | ${r.latent} x ${r.latent} | ${formatMs(median(r.original))} | ${formatMs(median(r.full))} | ${formatMs(median(r.shallow))} | **${median(ratios(r)).toFixed(3)}** | ${(Math.min(...r.shallow) / Math.min(...r.full)).toFixed(3)} | ${(relativeSpread(r.full) * 100).toFixed(0)}%, ${(relativeSpread(r.shallow) * 100).toFixed(0)}% | ${r.fullGMacs.toFixed(1)} G, ${r.macRatio.toFixed(3)} | ${r.maxDiff === 0 ? 'bit for bit' : `max diff ${r.maxDiff.toExponential(1)}`} |`,
    );
  }
  return lines.join('\n');
}

function details(rows: Row[]): string {
  return rows
    .map((r) => `- ${r.model}: deep feature \`${DEEP_FEATURE}\` [${r.deepDims.join(', ')}]; ${r.nodes.shallow} of ${r.nodes.full} nodes kept: ${r.kept}.`)
    .join('\n');
}

/** MACs at larger latent sides, from the probes (no run at that size) */
function macLines(unet: Unet, sides: number[]): string {
  const kept = new Set((cutUnet(unet.model).shallow.graph?.node ?? []).map((n) => n.name ?? ''));
  return sides
    .map((s) => {
      const full = macsAt(unet.macs, unet.probes, s, BATCH);
      return `  - latents ${s} x ${s} (${s * 8} x ${s * 8} px), batch 2: full ${(full / 1e9).toFixed(1)} GMACs, shallow / full = ${(macsAt(unet.macs, unet.probes, s, BATCH, kept) / full).toFixed(3)}`;
    })
    .join('\n');
}

const rows: Row[] = [];
const notes: string[] = [];
const sd15 = cliOption('sd15', '');
if (sd15) {
  const unet = await loadUnet('SD 1.5-sized (random weights)', resolve(sd15, 'unet'), [16, 32]);
  for (const side of cliOption('sides', '32').split(',').map(Number)) rows.push(await measure(unet, side, reps));
  // the engine cuts the LoRA-rewritten graph: the same cut must be found there, in both branch forms
  const targets = findLoraTargets(unet.model, 'unet');
  const same = (['add', 'fused'] as const).every((convSum) => findUnetCut(addLoraBranches(unet.model, targets, { convSum })).tensor === findUnetCut(unet.model).tensor);
  if (!same) throw new Error('the LoRA-rewritten SD 1.5 UNet gives another cut');
  notes.push(`- SD 1.5-sized: the LoRA-rewritten graph (${targets.length} targets, conv branches added or fused) gives the same cut.`);
  notes.push(`- SD 1.5-sized, multiply-accumulates of Conv/MatMul/Gemm (exact counts from the graph, not timings):\n${macLines(unet, [32, 64, 96])}`);
}
const modelDir = resolve(cliOption('model', 'models/glyph-sd'), 'unet');
const sampleSize = Number((await config(modelDir)).sample_size ?? 16);
const glyph = await loadUnet('glyph-sd (embedded)', modelDir, [sampleSize / 2, sampleSize]);
rows.push(await measure(glyph, sampleSize, smallReps));

const m = machineInfo(threads);
const command = `npx tsx bench/unet-cut.ts ${args.filter((a) => a !== '--doc').join(' ')}`.trim().replace(/--sd15 \S+/, '--sd15 DIR');
const body = [
  `Command: \`${command}\` (${rows.map((r) => r.full.length).join(' and ')} repetitions, medians; ${m.cpu}, ${m.cores} cores, ${m.threads} threads, ${m.onnxruntime}, load average ${m.loadAverage} at the start: other work shared the CPU, so single timings are noisy).`,
  '',
  table(rows),
  '',
  details(rows),
  ...notes,
].join('\n');
console.log(body);

if (args.includes('--doc')) {
  const path = resolve('docs/composition.md');
  const begin = '<!-- unet-cut:results:begin -->';
  const end = '<!-- unet-cut:results:end -->';
  const doc = await readFile(path, 'utf8');
  const i = doc.indexOf(begin);
  const j = doc.indexOf(end);
  if (i < 0 || j < i) throw new Error(`docs/composition.md has no ${begin} ... ${end} block`);
  await writeFile(path, `${doc.slice(0, i)}${begin}\n${body}\n${doc.slice(j)}`);
  console.error('wrote docs/composition.md');
}
