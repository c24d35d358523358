/**
 * Regional attention on the SD 1.5-sized random UNet (docs/regional.md): it loads, and what one
 * step costs against Merge's step and the per-region passes' step, with two random kohya LoRAs
 * (rank 16, attention / feed-forward / proj layers) bound to the left and right halves.
 *
 *   npx tsx bench/regional-sd15.ts --sd15 DIR [--size 256] [--reps 3] [--methods merge,regional,regional-passes]
 *
 * At 512 x 512 the per-region passes' 6-row call, beside both models, needs more than 24 GiB:
 * `--methods merge,regional` leaves it out there.
 *
 * One model per graph (plain LoRA graph, regional graph), the calls interleaved, so that load from
 * other processes hits them alike. A step is one UNet call on the CFG pair: Merge's with one
 * prompt's 77 tokens, regional's with 3 x 77 tokens and two regions, the per-region passes' with
 * three configurations (6 rows, one call).
 */
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chordCacheDir, openModel } from '../src/engine';
import type { RegionalLayout } from '../src/engine/model/regional-pass';
import { cliOption as opt } from './cli-options';
import { median } from './speed/stats';
import { sd15Folder, writeRandomLoras } from './speed/sd15-folder';
import { uniform } from './speed/unet-feeds';

const SD15 = opt('sd15', '');
const MODEL = opt('model', 'models/glyph-sd');
const SIZE = Number(opt('size', '256'));
const REPS = Number(opt('reps', '3'));
const METHODS = opt('methods', 'merge,regional,regional-passes').split(',');

const log = (line: string) => console.log(line);

async function main(): Promise<void> {
  if (METHODS[0] !== 'merge' || METHODS.some((m) => !['merge', 'regional', 'regional-passes'].includes(m))) {
    throw new Error(`--methods: merge first, then any of regional, regional-passes (got ${METHODS.join(',')})`);
  }
  if (!SD15) throw new Error('give --sd15 DIR (a folder with unet/model.onnx; python3 models/recipe/recipe.py sd15-random makes one)');
  const t0 = performance.now();
  const folder = sd15Folder(MODEL, SD15);
  const plain = await openModel(folder, { cacheDir: chordCacheDir(), provider: 'cpu' });
  const regional = await openModel(folder, { cacheDir: chordCacheDir(), provider: 'cpu' });
  const files = await writeRandomLoras(plain.folder.graphs.unet, mkdtempSync(join(tmpdir(), 'chord-sd15-loras-')), 2, 16);
  await plain.useLoras(files);
  await regional.useLoras(files);
  let t = performance.now();
  await regional.useRegional(true);
  log(`regional graph of the SD 1.5-sized UNet made and loaded in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const latent = SIZE / 8;
  const sample = (rows: number) => ({ data: uniform(rows * 4 * latent * latent, 7, 1), dims: [rows, 4, latent, latent] });
  const context = (rows: number, tokens: number) => ({ data: uniform(rows * tokens * 768, 8, 1), dims: [rows, tokens, 768] });
  const layout: RegionalLayout = {
    boxes: [{ x0: 0, y0: 0, x1: 0.5, y1: 1 }, { x0: 0.5, y0: 0, x1: 1, y1: 1 }],
    tokenOwner: Array.from({ length: 3 * 77 }, (_, i) => Math.floor(i / 77)),
    loraRegion: [0, 1],
    isolation: true,
    norm: true,
    gateLoras: true,
  };
  const all: [string, () => Promise<unknown>][] = [
    ['merge', () => plain.runUnet({ sample: sample(2), timestep: 500, context: context(2, 77), loras: [1, 1] })],
    ['regional', () => regional.runUnet({ sample: sample(2), timestep: 500, context: context(2, 3 * 77), loras: [1, 1], regional: layout })],
    ['regional-passes', () => plain.runUnet({ sample: sample(6), timestep: 500, context: context(6, 77), loras: [[0, 0], [0, 0], [1, 0], [1, 0], [0, 1], [0, 1]] })],
  ];
  const calls = all.filter(([name]) => METHODS.includes(name));
  const times = calls.map(() => [] as number[]);
  for (let i = 0; i < REPS + 1; i++) {
    for (const [k, [, call]] of calls.entries()) {
      t = performance.now();
      await call();
      // the first round plans memory for each shape
      if (i > 0) times[k].push(performance.now() - t);
    }
  }
  const rss = (process.resourceUsage().maxRSS * 1024) / 2 ** 30;
  await Promise.all([plain.release(), regional.release()]);
  const merge = median(times[0]);
  log(`SD 1.5-sized UNet, ${SIZE} x ${SIZE}, CPU, 2 LoRAs (rank 16), one step = one UNet call, median of ${REPS}, load average ${loadavg()[0].toFixed(1)}, peak RSS ${rss.toFixed(1)} GiB (both models), ${((performance.now() - t0) / 60000).toFixed(1)} min:`);
  for (const [k, [name]] of calls.entries()) log(`  ${name}: ${median(times[k]).toFixed(0)} ms / step (${(median(times[k]) / merge).toFixed(2)}x Merge)`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
