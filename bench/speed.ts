/**
 * Chord's speed benchmark: engine and run-time LoRA overheads on an SD 1.5-sized UNet (a-d), time
 * to first image and images per second on the embedded model (e-f). Results: a table on stdout
 * and docs/performance.md (which explains what each letter measures and the targets).
 *
 *   npm run bench:speed -- --sd15 DIR [--model DIR] [--quick] [--only a,b,...]
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isChordError } from '../src/engine/errors';
import { chordCacheDir } from '../src/engine/model/cache-dir';
import { BenchError } from './speed/child';
import { formatDuration } from './speed/format';
import { runGraphBench } from './speed/graph-bench';
import { runImageBench, runLoraSwitch } from './speed/image-bench';
import { machineInfo } from './speed/machine';
import { methodMeasurements, needsModel, needsUnet, parseSpeedArgs, type SpeedOptions, USAGE, UsageError } from './speed/options';
import { runMethodsBench } from './methods-speed';
import { buildRows, docBlockOf, resultsMarkdown, type SpeedResults, textTable, updateDoc } from './speed/report';

const log = (line: string) => console.log(line);

/** The UNet-only folder of a-d, checked before anything slow starts. */
function unetFolder(o: SpeedOptions): string {
  if (!o.sd15) {
    throw new BenchError(
      'a-d need --sd15 DIR, a UNet-only folder (make one with: python3 models/recipe/recipe.py sd15-random --out DIR), or run only e-f with --only e,f.',
    );
  }
  const unet = resolve(o.sd15, 'unet', 'model.onnx');
  if (!existsSync(unet)) {
    throw new BenchError(`no UNet at ${unet}; export one with: python3 models/recipe/recipe.py sd15-random --out ${o.sd15} (or pass another --sd15 DIR).`);
  }
  return unet;
}

/** The model folder of e-f: --model, else the embedded model, else its random-weights stand-in. */
function modelFolder(o: SpeedOptions): string {
  const candidates = o.model ? [o.model] : ['models/glyph-sd'];
  for (const c of candidates) if (existsSync(join(c, 'model_index.json')) && existsSync(join(c, 'unet', 'model.onnx'))) return resolve(c);
  throw new BenchError(
    o.model
      ? `${resolve(o.model)} is not a model folder (no model_index.json or unet/model.onnx); pass a folder in the diffusers ONNX layout.`
      : 'no model for e-f: models/glyph-sd does not exist; pass --model DIR or leave e-f out with --only a,b,c,d.',
  );
}

function optional<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

function commandLine(argv: readonly string[]): string {
  const quote = (a: string) => (/^[\w./:,=@+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return ['npm run bench:speed', ...(argv.length > 0 ? ['--', ...argv.map(quote)] : [])].join(' ');
}

async function main(argv: readonly string[]): Promise<void> {
  const o = parseSpeedArgs(argv);
  if (o.help) {
    log(USAGE);
    return;
  }
  const unetPath = needsUnet(o) ? unetFolder(o) : undefined;
  // d also checks Model.useLoras on the model folder when there is one
  const modelDir = needsModel(o) ? modelFolder(o) : o.only.includes('d') ? optional(() => modelFolder(o)) : undefined;
  const cacheDir = resolve(o.cacheDir ?? chordCacheDir());
  const started = new Date();
  const t0 = performance.now();
  const machine = machineInfo(o.threads);
  log(`Chord speed benchmark: ${o.only.join(', ')}${o.quick ? ' (quick)' : ''} on ${machine.cpu}, ${machine.cores} cores, ${machine.onnxruntime}; load average ${machine.loadAverage}`);

  const methods = methodMeasurements(o);
  if (methods.length > 0) {
    log(`${methods.join(', ')}: the composition methods (bench/methods-speed.ts)`);
    await runMethodsBench({
      only: methods,
      sd15: o.sd15,
      model: o.model ?? 'models/glyph-sd',
      size: o.size,
      unetSteps: o.quick ? 3 : 10,
      ns: o.quick ? [3] : [3, 5],
      embeddedNs: o.quick ? [2] : [2, 3, 4, 5],
      seeds: o.quick ? [0] : [0, 1, 2],
      rank: o.loraRank,
      doc: o.doc,
      command: commandLine(argv),
    });
    if (o.only.every((m) => m === 'g' || m === 'h')) {
      log(`done in ${formatDuration(performance.now() - t0)}`);
      return;
    }
  }
  const results: SpeedResults = {
    command: commandLine(argv),
    startedAt: started.toISOString(),
    durationMs: 0,
    machine,
    settings: {
      steps: o.steps,
      reps: o.reps,
      imageSteps: o.imageSteps,
      imagesPerProcess: o.imagesPerProcess,
      size: o.size,
      loraCount: o.loraCount,
      loraRank: o.loraRank,
      quick: o.quick,
    },
    only: o.only,
    sd15Dir: o.sd15 && resolve(o.sd15),
    modelDir,
  };
  if (unetPath) {
    log(`a-d on ${unetPath}`);
    // e-f take a few seconds per fresh process on the small model; the rest is a-d's
    const reserve = modelDir ? o.reps * (10_000 + o.imagesPerProcess * 2_000) : 0;
    results.graph = await runGraphBench(o, unetPath, cacheDir, t0 + o.budgetMinutes * 60_000 - reserve, log);
    results.settings.reps = results.graph.plan.reps;
    results.settings.steps = results.graph.plan.steps;
  }
  if (modelDir && o.only.includes('d')) {
    log(`d through the engine's API on ${modelDir}`);
    results.loraSwitch = await runLoraSwitch(o, modelDir, cacheDir, log);
  }
  if (modelDir && needsModel(o)) {
    log(`e-f on ${modelDir}: ${o.reps} fresh processes`);
    results.images = await runImageBench(o, modelDir, cacheDir, log);
  }
  results.durationMs = performance.now() - t0;

  const rows = buildRows(results);
  log('');
  const block = docBlockOf(results);
  log(textTable(rows, block === 'smoke'));
  if (block === 'smoke') log('\n(small-model smoke run: not SD 1.5 scale, the targets do not apply)');
  if (o.doc) {
    const existing = await readFile(o.doc, 'utf8').catch(() => '# Performance\n');
    await writeFile(o.doc, updateDoc(existing, block, resultsMarkdown(results, rows)));
    log(`\nwrote the ${block === 'main' ? 'results' : 'smoke-run'} section of ${o.doc}`);
  }
  if (o.json) await writeFile(o.json, `${JSON.stringify({ ...results, rows }, null, 2)}\n`);
  log(`done in ${formatDuration(results.durationMs)}`);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  const known = e instanceof BenchError || e instanceof UsageError;
  const text = isChordError(e) ? e.userText() : e instanceof Error ? e.message : String(e);
  console.error(`speed: ${text}${e instanceof UsageError ? `\n${USAGE}` : ''}`);
  if (!known && process.env.CHORD_DEBUG && e instanceof Error) console.error(e.stack);
  process.exitCode = 1;
});
