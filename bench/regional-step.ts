/**
 * The cost of regional attention per UNet call (docs/regional.md): Merge's call (the plain LoRA
 * graph, one prompt's 77 tokens) against the regional call (the regional graph, two regions, a
 * context of 3 x 77 tokens), interleaved so that load from other processes hits both alike. Two character LoRAs are loaded; the regional call binds one to
 * each half of the image.
 *
 * Then whole images (20 DDIM steps): Merge, Regional (with and without re-initialisation) and
 * the per-region passes, one image each in turn, each method on a model of its own; besides each
 * method's median (or min) time, the median over rounds of its time / Merge's in the same round.
 *
 *   npx tsx bench/regional-step.ts [--size 64] [--reps 30] [--images 5] [--stat median|min] [--warmup N] [--layout halves|framed]
 *
 * `--layout` (whole images only): `halves` (default), the left and right halves, which cover the
 * image, so the per-region passes run no global pass (R evaluations per step); `framed`, boxes
 * [0, 0.25, 0.5, 0.75] and [0.5, 0.25, 1, 0.75] with background around them (R + 1).
 *
 * `--warmup N` adds two rows for regional with its first N steps as per-region passes: with the
 * default switches, and without isolation and re-initialisation.
 */
import { join } from 'node:path';
import { chordCacheDir, openModel, resolveSettings, txt2img, type Model } from '../src/engine';
import type { RegionalLayout } from '../src/engine/model/regional-pass';
import type { CompositionMethod } from '../src/engine/pipeline/composition';
import { Merge } from '../src/engine/pipeline/merge';
import { Regional, RegionalPasses } from '../src/engine/pipeline/regional';
import { cliOption as opt } from './cli-options';

const MODEL = opt('model', 'models/glyph-sd');
const SIZE = Number(opt('size', '64'));
const REPS = Number(opt('reps', '30'));
const IMAGES = Number(opt('images', '5'));
const WARMUP = Number(opt('warmup', '0'));
const LAYOUT = opt('layout', 'halves');
if (LAYOUT !== 'halves' && LAYOUT !== 'framed') throw new Error('--layout takes halves or framed');

/** median, or with --stat min the least disturbed run (on a machine whose load swings) */
const STAT = opt('stat', 'median');
if (STAT !== 'median' && STAT !== 'min') throw new Error('--stat takes median or min');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const summary = (xs: number[]) => (STAT === 'min' ? Math.min(...xs) : median(xs));

async function main(): Promise<void> {
  // two models, so that neither switches graphs between calls
  const model = await openModel(MODEL, { cacheDir: chordCacheDir() });
  const regionalModel = await openModel(MODEL, { cacheDir: chordCacheDir() });
  for (const m of [model, regionalModel]) await m.useLoras(['zorb', 'quill'].map((c) => join(MODEL, 'loras', `${c}.safetensors`)));
  await regionalModel.useRegional(true);
  const h = SIZE / model.folder.downscale;
  const C = model.folder.latentChannels;
  const sample = { data: Float32Array.from({ length: 2 * C * h * h }, (_, i) => Math.sin(i)), dims: [2, C, h, h] };
  const tokens = 3 * model.tokenizer.maxLength;
  const width = (await model.encodeText({ data: new Int32Array(model.tokenizer.maxLength), dims: [1, model.tokenizer.maxLength] }, [0, 0])).dims[2];
  const context = { data: Float32Array.from({ length: 2 * tokens * width }, (_, i) => Math.cos(i) * 0.5), dims: [2, tokens, width] };
  // Merge's call: one prompt's 77 tokens
  const single = { data: context.data.slice(0, 2 * model.tokenizer.maxLength * width), dims: [2, model.tokenizer.maxLength, width] };
  const layout: RegionalLayout = {
    boxes: [{ x0: 0, y0: 0, x1: 0.5, y1: 1 }, { x0: 0.5, y0: 0, x1: 1, y1: 1 }],
    tokenOwner: Array.from({ length: tokens }, (_, t) => Math.floor(t / model.tokenizer.maxLength)),
    loraRegion: [0, 1],
    isolation: true,
    gateLoras: true,
    norm: true,
  };
  const plain: number[] = [];
  const regional: number[] = [];
  for (let i = 0; i < REPS + 2; i++) {
    let t = performance.now();
    await model.runUnet({ sample, timestep: 500, context: single, loras: [1, 1] });
    if (i >= 2) plain.push(performance.now() - t);
    t = performance.now();
    await regionalModel.runUnet({ sample, timestep: 500, context, loras: [1, 1], regional: layout });
    if (i >= 2) regional.push(performance.now() - t);
  }
  await Promise.all([model.release(), regionalModel.release()]);
  const p = summary(plain);
  const r = summary(regional);
  console.log(`${SIZE} x ${SIZE}, CFG pair, 2 LoRAs, ${STAT} of ${REPS}: merge call ${p.toFixed(1)} ms, regional call ${r.toFixed(1)} ms (${(r / p).toFixed(2)}x)`);
  if (IMAGES > 0) await images();
}

/** Whole images, the methods in turn; median wall time per image of each. */
async function images(): Promise<void> {
  const loras = ['zorb', 'quill'].map((c) => join(MODEL, 'loras', `${c}.safetensors`));
  const [y0, y1] = LAYOUT === 'framed' ? [0.25, 0.75] : [0, 1];
  const regions = [
    { box: { x0: 0, y0, x1: 0.5, y1 }, prompt: 'zorb on the left', negative: '' },
    { box: { x0: 0.5, y0, x1: 1, y1 }, prompt: 'quill on the right', negative: '' },
  ];
  const methods: [string, CompositionMethod, string][] = [
    ['merge', new Merge([1, 1]), 'zorb on the left and quill on the right'],
    ['regional', new Regional([1, 1], [0, 1], regions, { isolation: true, gate: true, reinit: true, norm: true }), 'gray background'],
    ['regional, no reinit', new Regional([1, 1], [0, 1], regions, { isolation: true, gate: true, reinit: false, norm: true }), 'gray background'],
    ['regional-passes', new RegionalPasses([1, 1], [0, 1], regions), 'gray background'],
  ];
  if (WARMUP > 0) {
    methods.push([`regional, warmup ${WARMUP}`, new Regional([1, 1], [0, 1], regions, { isolation: true, gate: true, reinit: true, norm: true, warmup: WARMUP }), 'gray background']);
    methods.push([`regional, warmup ${WARMUP}, no isolation or reinit`, new Regional([1, 1], [0, 1], regions, { isolation: false, gate: true, reinit: false, norm: true, warmup: WARMUP }), 'gray background']);
  }
  const models: Model[] = [];
  for (const [name] of methods) {
    const m = await openModel(MODEL, { cacheDir: chordCacheDir() });
    await m.useLoras(loras);
    if (name.startsWith('regional') && name !== 'regional-passes') await m.useRegional(true);
    models.push(m);
  }
  const times = methods.map(() => [] as number[]);
  for (let i = 0; i < IMAGES + 1; i++) {
    for (const [k, [, method, prompt]] of methods.entries()) {
      const settings = resolveSettings({ prompt, seed: i, steps: 20, sampler: 'ddim', cfg: 5, width: SIZE, height: SIZE }, models[k].folder);
      const t = performance.now();
      await txt2img(models[k], settings, { method });
      // the first round warms every session up
      if (i > 0) times[k].push(performance.now() - t);
    }
  }
  await Promise.all(models.map((m) => m.release()));
  const merge = summary(times[0]);
  // per round: each method against the Merge image made just before it (same seed, same load), the
  // median of those ratios (load that drifts between rounds cancels)
  const perRound = (k: number) => median(times[k].map((t, i) => t / times[0][i]));
  console.log(`whole images, ${LAYOUT} layout:`);
  for (const [k, [name]] of methods.entries()) {
    console.log(`${name}: ${summary(times[k]).toFixed(0)} ms / image (${(summary(times[k]) / merge).toFixed(2)}x Merge), ${STAT} of ${IMAGES}; median of per-round ratios ${perRound(k).toFixed(2)}x`);
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
