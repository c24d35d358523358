/**
 * The `chord` command line. Generation runs in the engine worker (host/client.ts), so Ctrl-C is
 * handled while a step is computing. Every failure is one line on stderr and a non-zero exit code:
 * a ChordError prints its userText(); anything else a short line and how to see details.
 */
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ChordError, isChordError } from './errors';
import { runCompare, type CompareOptions } from './compare/run';
import { type GenerateRequest, type GenerateResult, type MethodRequest, startEngineWorker } from './host';
import { requestFromRecord } from './host/remake';
import { parseRegionSpec, readRegionsFile } from './host/regions';
import { inspectLora } from './lora/metadata';
import { fuseLorasIntoFolder } from './model/fuse';
import { wholeNumber } from './numbers';
import { parseProviderChoice, PROVIDER_NAMES } from './model/providers';
import { findMethod, METHOD_NAMES, METHODS, presetOptions } from './pipeline/methods';
import { ENGINE_VERSION } from './pipeline/record';
import { SAMPLER_CHOICES } from './pipeline/settings';
import { readImageInfo } from './png/image';
import { DEFAULT_PROFILE_SETTINGS, DEFAULT_THRESHOLD, LoraProfiler } from './spectral';
import { loadTokenizer, tokenizePrompt } from './tokenizer';
import { promptTokenIds } from './prompt/cli-tokenize';

/** Where the CLI writes; replaced in tests. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  /** stderr is a terminal: show a live progress line */
  progress?(text: string): void;
}

const EXIT_ERROR = 1;
const EXIT_CANCELLED = 130;

/** The demo model shipped with the package (models/glyph-sd next to src/). */
export const DEFAULT_MODEL_DIR = fileURLToPath(new URL('../../models/glyph-sd', import.meta.url));

function processIo(): CliIo {
  const tty = process.stderr.isTTY === true;
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    progress: tty ? (text) => process.stderr.write(`\r\x1b[2K${text}`) : undefined,
  };
}

/** One line, whatever the message held. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

// ---- option parsers: a bad value is a one-line usage error from commander ----

function wholeNumberOption(name: string, min: number) {
  return (text: string): number => {
    try {
      return wholeNumber(/^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN, name, min);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };
}

function decimal(name: string) {
  return (text: string): number => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number.`);
    return n;
  };
}

export interface LoraSpec {
  path: string;
  weight: number;
}

/**
 * FILE[:weight]. The weight is split off at the last colon only when what follows is a number,
 * so Windows paths (C:\loras\x.safetensors) and names with colons keep working.
 */
export function parseLoraSpec(text: string): LoraSpec {
  const i = text.lastIndexOf(':');
  if (i > 0) {
    const tail = text.slice(i + 1);
    if (/^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(tail)) return { path: text.slice(0, i), weight: Number(tail) };
  }
  if (text.length === 0) throw new InvalidArgumentError('LoRA needs a file name.');
  return { path: text, weight: 1 };
}

function collect<T>(parse: (text: string) => T) {
  return (text: string, previous: T[] = []): T[] => [...previous, parse(text)];
}

const round = (ms: number) => Math.round(ms * 10) / 10;

function roundTimings(result: GenerateResult) {
  return {
    files: result.images.map((i) => i.file),
    images: result.images.map((i) => ({
      ...i,
      timings: {
        tokenize: round(i.timings.tokenize),
        textEncoder: round(i.timings.textEncoder),
        unetSteps: i.timings.unetSteps.map(round),
        decode: round(i.timings.decode),
        save: round(i.timings.save),
        total: round(i.timings.total),
      },
    })),
    model: result.model,
    provider: result.provider,
    loras: result.loras,
    timings: { loadModel: round(result.timings.loadModel), loras: round(result.timings.loras), total: round(result.timings.total) },
  };
}

interface GenerateOptions {
  negative?: string;
  model: string;
  lora?: LoraSpec[];
  steps?: number;
  cfg?: number;
  sampler?: string;
  karras?: boolean;
  seed?: number;
  width?: number;
  height?: number;
  batchCount?: number;
  out?: string;
  outdir?: string;
  provider?: string;
  json?: boolean;
  method?: string;
  order?: string;
  switchInterval?: number;
  cacheInterval?: [number, number];
  /** --no-cache sets false */
  cache?: boolean;
  maxBatchRows?: number;
  from?: string;
  highFrequency?: string;
  loraDir?: string[];
  region?: string[];
  regions?: string;
  /** --no-isolation, --no-region-gate, --no-reinit, --no-region-norm set false */
  isolation?: boolean;
  regionGate?: boolean;
  reinit?: boolean;
  regionNorm?: boolean;
  embeddingDir?: string[];
  methodOption?: string[];
  methodPreset?: string;
}

/** C1,C2: two whole numbers of at least 1. */
function cacheIntervals(text: string): [number, number] {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length !== 2 || !parts.every((p) => /^\d+$/.test(p) && Number(p) >= 1)) {
    throw new InvalidArgumentError('--cache-interval takes two whole numbers of at least 1, as C1,C2 (e.g. 2,3).');
  }
  return [Number(parts[0]), Number(parts[1])];
}

/** The method and its options from the method flags; a flag for another method is an error. */
function methodRequest(o: GenerateOptions): MethodRequest | undefined {
  const regional = (o.region ?? []).length > 0 || o.regions !== undefined;
  // regions without --method mean the regional method
  const name = (o.method ?? (regional ? 'regional' : 'merge')).toLowerCase();
  const definition = findMethod(name);
  // a preset first, so that the flags and --method-option below can change any of its options
  const options: Record<string, number | boolean> = o.methodPreset === undefined ? {} : presetOptions(definition, o.methodPreset);
  const only = (flag: string, method: string) => {
    if (name !== method) throw new ChordError('BAD_ARGUMENT', `${flag} is an option of --method ${method} (the method is ${name}).`, `Drop ${flag} or use --method ${method}.`);
  };
  if (o.switchInterval !== undefined) {
    only('--switch-interval', 'switch');
    options.tau = o.switchInterval;
  }
  if (o.cacheInterval !== undefined) {
    only('--cache-interval', 'cmlora');
    [options.c1, options.c2] = o.cacheInterval;
  }
  if (o.cache === false) {
    only('--no-cache', 'cmlora');
    options.cache = false;
  }
  for (const [flag, key, value] of [['--no-isolation', 'isolation', o.isolation], ['--no-region-gate', 'gate', o.regionGate], ['--no-reinit', 'reinit', o.reinit], ['--no-region-norm', 'norm', o.regionNorm]] as const) {
    if (value !== false) continue;
    only(flag, 'regional');
    options[key] = false;
  }
  for (const text of o.methodOption ?? []) {
    const m = /^\s*([A-Za-z]\w*)\s*=\s*(.+?)\s*$/.exec(text);
    if (!m) throw new ChordError('BAD_ARGUMENT', `--method-option takes NAME=VALUE (got "${text}").`, 'For example --method-option mix=0.5.');
    const raw = m[2].toLowerCase();
    options[m[1]] = raw === 'true' ? true : raw === 'false' ? false : Number.isFinite(Number(raw)) ? Number(raw) : Number.NaN;
    if (Number.isNaN(options[m[1]])) throw new ChordError('BAD_ARGUMENT', `--method-option ${m[1]} must be a number, true or false (got "${m[2]}").`);
  }
  return o.method === undefined && !regional && Object.keys(options).length === 0 ? undefined : { name, options };
}

async function generate(prompt: string | undefined, o: GenerateOptions, io: CliIo): Promise<number> {
  if (o.out && o.outdir) throw new ChordError('BAD_ARGUMENT', 'Use --out FILE or --outdir DIR, not both.');
  const output = o.out ? { file: o.out } : { dir: o.outdir ?? 'outputs' };
  let request: GenerateRequest;
  if (o.from) {
    if (prompt !== undefined || (o.lora ?? []).length > 0 || o.method || o.seed !== undefined || o.region || o.regions) {
      throw new ChordError('BAD_ARGUMENT', '--from remakes an image from its own settings; it takes no prompt, --lora, --method, --region(s) or --seed.', 'Drop them, or leave out --from.');
    }
    const info = await readImageInfo(o.from);
    if (!info.chord) throw new ChordError('PNG_INVALID', `${o.from} holds no Chord settings, so it cannot be remade.`, 'Use an image Chord made (chord info shows its settings).');
    if (info.chord.engineVersion !== ENGINE_VERSION) {
      io.err(`chord: warning: ${o.from} was made by Chord's engine ${info.chord.engineVersion} and this is ${ENGINE_VERSION}: the remake may differ from it (docs/image-metadata.md says what changed).`);
    }
    request = {
      ...(await requestFromRecord(info.chord, { model: o.model, output, loraDirs: o.loraDir })),
      provider: o.provider ? parseProviderChoice(o.provider) : 'auto',
      embeddingDirs: o.embeddingDir,
    };
    return runGenerate(request, o, io);
  }
  if (prompt === undefined) throw new ChordError('BAD_ARGUMENT', 'A prompt is required.', 'chord generate "PROMPT" (or --from IMAGE to remake an image).');
  request = {
    model: o.model,
    prompt,
    negativePrompt: o.negative,
    loras: (o.lora ?? []).map((l) => ({ path: l.path, weight: l.weight })),
    steps: o.steps,
    cfg: o.cfg,
    sampler: o.sampler,
    karras: o.karras,
    seed: o.seed,
    width: o.width,
    height: o.height,
    batchCount: o.batchCount,
    output,
    provider: o.provider ? parseProviderChoice(o.provider) : 'auto',
    method: methodRequest(o),
    order: o.order,
    highFrequency: o.highFrequency?.split(',').map((n) => n.trim()).filter(Boolean),
    maxBatchRows: o.maxBatchRows,
    loraDirs: o.loraDir,
    embeddingDirs: o.embeddingDir,
  };
  if (o.region && o.regions) throw new ChordError('BAD_ARGUMENT', 'Use --region (repeatable) or --regions FILE.json, not both.');
  if (o.region) request.regions = o.region.map(parseRegionSpec);
  if (o.regions) request.regions = await readRegionsFile(o.regions);
  return runGenerate(request, o, io);
}

/**
 * A signal the first Ctrl-C aborts (work stops after the current step); a second Ctrl-C quits at
 * once. `release` removes the handler.
 */
function interruptOnSigint(io: CliIo): { signal: AbortSignal; release: () => void } {
  const abort = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) process.exit(EXIT_CANCELLED);
    io.progress?.('cancelling after this step... (Ctrl-C again to quit now)');
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  return { signal: abort.signal, release: () => process.off('SIGINT', onSigint) };
}

async function runGenerate(request: GenerateRequest, o: GenerateOptions, io: CliIo): Promise<number> {
  const engine = startEngineWorker({ onNotice: (n) => io.err(`chord: warning: ${oneLine(n.message)}`) });
  const { signal, release } = interruptOnSigint(io);
  let progressShown = false;
  try {
    const result = await engine.generate(request, {
      signal,
      onProgress: io.progress
        ? (p) => {
            progressShown = true;
            const image = p.images > 1 ? `image ${p.image + 1}/${p.images}  ` : '';
            io.progress?.(`${image}step ${p.step}/${p.total}  ${(p.elapsedMs / 1000).toFixed(1)} s`);
          }
        : undefined,
    });
    if (progressShown) io.progress?.('');
    if (o.json) io.out(JSON.stringify(roundTimings(result)));
    else for (const image of result.images) io.out(image.file);
    return 0;
  } finally {
    if (progressShown) io.progress?.('');
    release();
    await engine.close();
  }
}

async function tokenize(prompts: string[], o: { model: string; json?: boolean; embeddingDir?: string[] }, io: CliIo): Promise<number> {
  const tok = await loadTokenizer(o.model);
  for (const prompt of prompts) {
    const ids = o.embeddingDir ? await promptTokenIds(tok, o.model, prompt, o.embeddingDir) : tokenizePrompt(tok, prompt);
    if (o.json) io.out(JSON.stringify({ ids, count: ids.length }));
    else io.out(`${ids.length} tokens: ${ids.join(' ')}`);
  }
  return 0;
}

async function info(image: string, o: { json?: boolean }, io: CliIo): Promise<number> {
  const i = await readImageInfo(image);
  if (o.json) {
    io.out(JSON.stringify({ width: i.width, height: i.height, hasMetadata: i.hasMetadata, parameters: i.parameters, chord: i.chord }));
    return 0;
  }
  io.out(`${image}: ${i.width}x${i.height}`);
  if (!i.hasMetadata) io.out('no generation settings stored');
  if (i.parameters !== undefined) io.out(i.parameters);
  const ti = i.a1111?.tiHashes ?? [];
  if (ti.length > 0) io.out(`Embeddings (TI hashes): ${ti.map((e) => `${e.name} ${e.hash}`).join(', ')}`);
  if (i.chord) {
    const loras = i.chord.loras.map((l) => `${l.name} (${l.weight})`).join(', ') || 'none';
    io.out(`Chord: ${i.chord.method}, LoRAs: ${loras}, engine ${i.chord.engineVersion}`);
  }
  return 0;
}

async function loraInspect(file: string, o: { json?: boolean }, io: CliIo): Promise<number> {
  const i = await inspectLora(file);
  if (o.json) {
    io.out(JSON.stringify(i));
    return 0;
  }
  const rank = i.rank ? (i.rank.min === i.rank.max ? `${i.rank.common}` : `${i.rank.min}-${i.rank.max} (mostly ${i.rank.common})`) : '?';
  const algorithms = Object.entries(i.algorithms)
    .filter(([, n]) => n > 0)
    .map(([a, n]) => `${a} ${n}`)
    .join(', ');
  io.out(`${i.name}  (${i.file})`);
  io.out(`base model: ${i.baseModel} (${i.baseModelReason})`);
  io.out(`format: ${i.format}; modules: ${i.modules.total} (unet ${i.modules.unet}, text encoder ${i.modules.text_encoder}); ${algorithms}`);
  io.out(`rank: ${rank}`);
  if (i.triggerWords.length > 0) io.out(`trigger words: ${i.triggerWords.join(', ')}`);
  if (i.hashes) {
    io.out(`sha256: ${i.hashes.sha256}`);
    io.out(`addnet: ${i.hashes.addnet}`);
    io.out(`A1111 "Lora hashes": ${i.hashes.a1111}`);
  }
  for (const w of i.warnings) io.out(`warning: ${oneLine(w)}`);
  return 0;
}

async function loraFuse(o: { model: string; lora?: LoraSpec[]; out: string }, io: CliIo): Promise<number> {
  const result = await fuseLorasIntoFolder(o.model, o.lora ?? [], o.out);
  for (const l of result.loras) {
    const absent = Object.entries(l.absentModules).map(([part, n]) => `, skipped ${n} ${part} modules (no ${part}/ in the model folder)`);
    io.out(`${l.path} x${l.weight}: ${l.summary}; fused ${l.fusedModules} modules${l.skippedModules ? `, skipped ${l.skippedModules} DoRA modules` : ''}${absent.join('')}`);
  }
  if (result.absentParts.length > 0) {
    io.out(`note: the model folder has no ${result.absentParts.map((p) => `${p}/`).join(' or ')}; fused ${result.fusedParts.map((p) => `${p}/`).join(' and ')} only.`);
  }
  io.out(result.outDir);
  return 0;
}

interface LoraProfileOptions {
  model: string;
  json?: boolean;
  seed?: number;
  seeds?: number;
  steps?: number;
  threshold?: number;
  prompt?: string;
}

/**
 * Runs in this process (two small images per seed and LoRA); Ctrl-C stops after the current
 * denoising step, a second Ctrl-C at once.
 */
async function loraProfile(files: string[], o: LoraProfileOptions, io: CliIo): Promise<number> {
  const threshold = o.threshold ?? DEFAULT_THRESHOLD;
  const profiler = await LoraProfiler.open(o.model, {
    settings: { seed: o.seed, seeds: o.seeds, steps: o.steps },
    threshold,
    onNotice: (n) => io.err(`chord: warning: ${oneLine(n.message)}`),
  });
  const { signal, release } = interruptOnSigint(io);
  try {
    if (!o.json) io.out(`${'name'.padEnd(16)} class       dH       ms  file`);
    for (const file of files) {
      if (signal.aborted) throw new ChordError('CANCELLED', 'Profiling cancelled.');
      io.progress?.(`profiling ${file}...`);
      const p = await profiler.profile(file, signal, o.prompt);
      io.progress?.('');
      if (o.json) {
        const radial = p.radial.map((v) => Math.round(v * 1e6) / 1e6);
        io.out(JSON.stringify({ file: p.file, name: p.name, dH: p.dH, class: p.class, radial, ms: Math.round(p.ms), prompt: p.prompt, cached: p.cached }));
      } else {
        const dH = `${p.dH >= 0 ? '+' : ''}${p.dH.toFixed(4)}`;
        io.out(`${p.name.padEnd(16)} ${p.class.padEnd(5)} ${dH.padStart(8)} ${String(Math.round(p.ms)).padStart(8)}  ${p.file}${p.cached ? ' (cached)' : ''}`);
      }
    }
    if (!o.json) io.out(`class H: dH above ${threshold}; dH = high-band statistic of the LoRA images minus the base images'`);
    return 0;
  } finally {
    io.progress?.('');
    release();
    await profiler.close();
  }
}

/**
 * A command another part of Chord adds (e.g. `chord serve` from src/server, which the engine may
 * not import): it registers itself on the program, runs through `run` so its exit code and errors
 * are handled like every other command's.
 */
export type CliExtension = (
  program: Command,
  tools: { io: CliIo; run: (fn: () => Promise<number>) => Promise<void>; wholeNumber: (name: string, min: number) => (text: string) => number },
) => void;

function buildProgram(io: CliIo, setExit: (code: number) => void, extensions: readonly CliExtension[]): Command {
  const program = new Command('chord')
    .description('Compose several LoRAs on a Stable Diffusion model, locally on ONNX Runtime.')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, '')),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
      outputError: (s, write) => write(`chord: ${oneLine(s.replace(/^error: /, ''))}\n`),
    })
    .showSuggestionAfterError(true);
  const run = (fn: () => Promise<number>) => fn().then(setExit);
  const modelOption = () => new Option('--model <dir>', 'model folder (diffusers ONNX layout)').default(DEFAULT_MODEL_DIR, 'models/glyph-sd');

  program
    .command('generate')
    .description('make images from a prompt')
    .argument('[prompt]', 'what to draw')
    .option('--negative <text>', 'negative prompt')
    .addOption(modelOption())
    .option('--lora <file[:weight]>', 'apply a LoRA (repeatable)', collect(parseLoraSpec))
    .option('--embedding-dir <dir>', 'folder of textual-inversion embeddings the prompts may name (repeatable)', collect(String))
    .option('--steps <n>', 'denoising steps (default 20)', wholeNumberOption('--steps', 1))
    .option('--cfg <scale>', 'guidance scale (default 7)', decimal('--cfg'))
    .addOption(new Option('--sampler <name>', 'sampler (default euler_a)').choices(SAMPLER_CHOICES))
    .option('--karras', 'Karras sigmas (dpmpp_2m)')
    .option('--seed <n>', 'seed (default: random)', wholeNumberOption('--seed', 0))
    .option('--width <px>', 'image width (default: the model size)', wholeNumberOption('--width', 1))
    .option('--height <px>', 'image height (default: the model size)', wholeNumberOption('--height', 1))
    .option('--batch-count <n>', 'images in a row, seeds seed, seed+1, ...', wholeNumberOption('--batch-count', 1))
    .option('--out <file>', 'output PNG (numbered when --batch-count > 1)')
    .option('--outdir <dir>', 'output folder (default ./outputs)')
    .addOption(new Option('--provider <name>', 'execution provider (default auto)').choices(['auto', ...PROVIDER_NAMES, 'directml']))
    .addOption(new Option('--method <name>', 'how several LoRAs are composed (default merge)').choices([...METHOD_NAMES]))
    .option('--order <rule>', 'LoRA order: freq, reverse, user, category, or NAME,NAME,... (default: the method\'s)')
    .option('--high-frequency <names>', 'cmlora: NAME,NAME,... are the high-frequency set H, the rest L (default: measured)')
    .option('--switch-interval <n>', 'switch: steps between switches (default 5)', wholeNumberOption('--switch-interval', 1))
    .option('--cache-interval <c1,c2>', 'cmlora: cache refresh intervals (default 2,3)', cacheIntervals)
    .option('--no-cache', 'cmlora: full UNet passes only (no cached shallow passes)')
    .option('--method-option <name=value>', "any option of the method (repeatable), e.g. mix=0.5 for spectral", collect((t: string) => t))
    .option(
      '--method-preset <name>',
      `a named set of the method's options, which the other method flags can change (${METHODS.flatMap((m) => (m.presets?.length ? [`${m.name}: ${m.presets.map((p) => p.name).join(', ')}`] : [])).join('; ')})`,
    )
    .option('--max-batch-rows <n>', 'most batch rows in one UNet call (default: from the image size)', wholeNumberOption('--max-batch-rows', 2))
    .option('--region <spec>', 'regional: X0,Y0,X1,Y1|PROMPT|NEGATIVE|FILE:W,FILE:W, box in image fractions from the top-left (repeatable; implies --method regional)', collect((s: string) => s))
    .option('--regions <file>', 'regional: the regions as JSON [{"box":[x0,y0,x1,y1],"prompt":"...","negative":"...","loras":[{"path":"...","weight":1}]}]')
    .option('--no-isolation', 'regional: boxes may attend to each other in self-attention')
    .option('--no-region-gate', "regional: a region's LoRA layers act on the whole image, not only its box")
    .option('--no-reinit', 'regional: keep the initial noise as seeded (no latent re-initialisation)')
    .option('--no-region-norm', 'regional: group normalisation over the whole image, not per region')
    .option('--from <image>', 'make an image again from the settings stored in it')
    .option('--lora-dir <dir>', 'a folder of LoRA files, looked up by name: <lora:name:w> tags in the prompt, --from (repeatable)', collect((d: string) => d))
    .option('--json', 'print a JSON summary: files, per-stage timings, method and per-step log')
    .action((prompt: string | undefined, o: GenerateOptions) => run(() => generate(prompt, o, io)));

  program
    .command('compare')
    .description('one labelled grid PNG: LoRA orderings as rows, composition methods as columns')
    .argument('<prompt>', 'what to draw (the same in every cell)')
    .option('--negative <text>', 'negative prompt')
    .addOption(modelOption())
    .option('--lora <file[:weight]>', 'a LoRA of the stack (at least 2; repeatable)', collect(parseLoraSpec))
    .option('--orders <list>', 'rows: all (every permutation, up to 4 LoRAs) or freq,reverse,user,category (default freq,reverse,user)')
    .option('--methods <list>', `columns: ${METHOD_NAMES.filter((m) => m !== 'regional').join(',')} (default cmlora)`)
    .option('--steps <n>', 'denoising steps (default 20)', wholeNumberOption('--steps', 1))
    .option('--cfg <scale>', 'guidance scale (default 7)', decimal('--cfg'))
    .addOption(new Option('--sampler <name>', 'sampler (default euler_a)').choices(SAMPLER_CHOICES))
    .option('--seed <n>', 'seed of every cell (default: random, one for the grid)', wholeNumberOption('--seed', 0))
    .option('--width <px>', 'image width (default: the model size)', wholeNumberOption('--width', 1))
    .option('--height <px>', 'image height (default: the model size)', wholeNumberOption('--height', 1))
    .addOption(new Option('--provider <name>', 'execution provider (default auto)').choices(['auto', ...PROVIDER_NAMES, 'directml']))
    .option('--out <file>', 'the grid PNG; the cells go to <name>-cells/ beside it')
    .option('--json', 'print one JSON object: grid file and size, rows, columns, cell files')
    .action((prompt: string, o: CompareOptions) =>
      run(() => {
        const { signal, release } = interruptOnSigint(io);
        return runCompare(prompt, o, { io, signal, provider: o.provider ? parseProviderChoice(o.provider) : 'auto' }).finally(release);
      }),
    );

  program
    .command('tokenize')
    .description('show the token ids of prompts (with BOS and EOS, no padding or truncation)')
    .argument('<prompt...>', 'one or more prompts')
    .addOption(modelOption())
    .option('--json', 'one JSON object per prompt and line: {"ids":[...],"count":N}')
    .option('--embedding-dir <dir>', 'show the embeddings of these folders as their placeholder ids (repeatable)', collect(String))
    .action((prompts: string[], o: { model: string; json?: boolean; embeddingDir?: string[] }) => run(() => tokenize(prompts, o, io)));

  program
    .command('info')
    .description("show an image's size and generation settings")
    .argument('<image>', 'a PNG')
    .option('--json', 'print JSON')
    .action((image: string, o: { json?: boolean }) => run(() => info(image, o, io)));

  const lora = program.command('lora').description('LoRA files');
  lora
    .command('inspect')
    .description('what a LoRA file holds: base model, modules, rank, trigger words')
    .argument('<file>', '.safetensors file or PEFT folder')
    .option('--json', 'print JSON')
    .action((file: string, o: { json?: boolean }) => run(() => loraInspect(file, o, io)));
  lora
    .command('fuse')
    .description('write a copy of a model with LoRAs baked into its weights')
    .addOption(modelOption())
    .requiredOption('--lora <file[:weight]>', 'LoRA to fuse (repeatable)', collect(parseLoraSpec))
    .requiredOption('--out <dir>', 'new model folder (must not exist or be empty)')
    .action((o: { model: string; lora?: LoraSpec[]; out: string }) => run(() => loraFuse(o, io)));

  lora
    .command('profile')
    .description('measure how much high-frequency detail LoRAs add (class H or L, for the frequency order)')
    .argument('<file...>', '.safetensors files or PEFT folders')
    .addOption(modelOption())
    .option('--seed <n>', `first seed (default ${DEFAULT_PROFILE_SETTINGS.seed})`, wholeNumberOption('--seed', 0))
    .option('--seeds <n>', `image pairs per LoRA, seeds seed, seed+1, ... (default ${DEFAULT_PROFILE_SETTINGS.seeds})`, wholeNumberOption('--seeds', 1))
    .option('--steps <n>', `denoising steps (default ${DEFAULT_PROFILE_SETTINGS.steps})`, wholeNumberOption('--steps', 1))
    .option('--prompt <text>', 'prompt for every file instead of its trigger words')
    .option('--threshold <dH>', `class H above this dH (default ${DEFAULT_THRESHOLD})`, decimal('--threshold'))
    .option('--json', 'one JSON object per LoRA and line: {"file","name","dH","class","radial":[...],"ms",...}')
    .action((files: string[], o: LoraProfileOptions) => run(() => loraProfile(files, o, io)));

  for (const extend of extensions) extend(program, { io, run, wholeNumber: wholeNumberOption });

  return program;
}

/** Runs the CLI on `argv` (without node and script) and returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo = processIo(), extensions: readonly CliExtension[] = []): Promise<number> {
  let code = 0;
  const program = buildProgram(
    io,
    (c) => {
      code = c;
    },
    extensions,
  );
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return 0;
    }
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander has printed its one line already (or help / version)
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version' ? 0 : e.exitCode || EXIT_ERROR;
    }
    if (isChordError(e)) {
      io.err(`chord: ${oneLine(e.userText())}`);
      return e.code === 'CANCELLED' ? EXIT_CANCELLED : EXIT_ERROR;
    }
    const message = e instanceof Error ? e.message : String(e);
    if (process.env.CHORD_DEBUG) io.err(e instanceof Error && e.stack ? e.stack : message);
    else io.err(`chord: unexpected error: ${oneLine(message).slice(0, 300)} (run with CHORD_DEBUG=1 for details)`);
    return EXIT_ERROR;
  }
}

/** Entry point of bin/chord.js. */
export async function main(extensions: readonly CliExtension[] = []): Promise<void> {
  process.exitCode = await runCli(process.argv.slice(2), processIo(), extensions);
}
