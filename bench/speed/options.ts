/**
 * Command line of the speed benchmark (`npm run bench:speed -- ...`). Parsing is pure so the
 * defaults and the checks are testable; finding folders on disk happens in speed.ts.
 */
import { parseArgs } from 'node:util';

export const MEASUREMENTS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'] as const;
export type Measurement = (typeof MEASUREMENTS)[number];
/** What a run without --only measures: a-f (g and h, the composition methods, take longer; name them). */
export const DEFAULT_MEASUREMENTS: readonly Measurement[] = ['a', 'b', 'c', 'd', 'e', 'f'];

export interface SpeedOptions {
  /** UNet-only folder for a-d (`<dir>/unet/model.onnx`) */
  sd15?: string;
  /** model folder for e-f; undefined: models/glyph-sd */
  model?: string;
  /** timed UNet steps per repetition and configuration (a-d) */
  steps: number;
  /** repetitions per configuration (a-d), and fresh processes for e */
  reps: number;
  /** steps and reps given on the command line are kept; defaults may shrink to fit the budget */
  fixed: { steps: boolean; reps: boolean };
  /** minutes the whole run should take at most (a-d shrink their defaults to fit) */
  budgetMinutes: number;
  /** denoising steps of the images of e and f */
  imageSteps: number;
  /** further images per fresh process, timed for f */
  imagesPerProcess: number;
  /** image side in pixels for a-d (latents are side / 8, CFG batch 2) */
  size: number;
  /** LoRAs of c and d: how many, and their rank */
  loraCount: number;
  loraRank: number;
  /** ONNX Runtime intra-op threads; undefined: its own choice (as the engine) */
  threads?: number;
  /** Chord's cache folder for the rewritten graph; undefined: the engine's default */
  cacheDir?: string;
  /** where the results go; undefined: no document */
  doc?: string;
  /** raw results as JSON */
  json?: string;
  only: Measurement[];
  quick: boolean;
  help: boolean;
}

export const DEFAULT_DOC = 'docs/performance.md';

/** Full run: sized to finish in about 10 minutes with an SD 1.5-sized UNet on 2 cores. */
const FULL = { steps: 2, reps: 4, imagesPerProcess: 3 };
/** --quick: the least that still exercises every path (smoke runs, tests). */
const QUICK = { steps: 1, reps: 2, imagesPerProcess: 2 };

export const USAGE = `usage: npm run bench:speed -- [--sd15 DIR] [--model DIR] [--steps N] [--reps N] [--image-steps N]
       [--images N] [--size PX] [--budget MIN] [--threads N] [--cache-dir DIR] [--doc FILE | --no-doc] [--json FILE]
       [--only a,b,c,d,e,f,g,h] [--quick]
  a-d run on --sd15 DIR (a UNet-only folder: python3 models/recipe/recipe.py sd15-random --out DIR)
  e-f run on --model DIR (default models/glyph-sd)
  g-h (composition methods; only when named): g on --model, h on --sd15 (bench/methods-speed.ts)`;

export class UsageError extends Error {}

function whole(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max} (got ${value}).`);
  return n;
}

const SPEC = {
  sd15: { type: 'string' },
  model: { type: 'string' },
  steps: { type: 'string' },
  reps: { type: 'string' },
  'image-steps': { type: 'string' },
  images: { type: 'string' },
  budget: { type: 'string' },
  size: { type: 'string' },
  loras: { type: 'string' },
  rank: { type: 'string' },
  threads: { type: 'string' },
  'cache-dir': { type: 'string' },
  doc: { type: 'string' },
  'no-doc': { type: 'boolean' },
  json: { type: 'string' },
  only: { type: 'string' },
  quick: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parse(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], allowPositionals: false, options: SPEC });
  } catch (e) {
    // node's own message names the option ("Unknown option '--x'")
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}

export function parseSpeedArgs(argv: readonly string[]): SpeedOptions {
  const parsed = parse(argv);
  const v = parsed.values;
  const quick = v.quick ?? false;
  const base = quick ? QUICK : FULL;
  const only = v.only === undefined ? [...DEFAULT_MEASUREMENTS] : parseOnly(v.only);
  const size = whole(v.size, 'size', 64, 2048) ?? 256;
  if (size % 64 !== 0) throw new UsageError(`--size must be a multiple of 64 (got ${size}).`);
  if (v.doc !== undefined && v['no-doc']) throw new UsageError('Give --doc FILE or --no-doc, not both.');
  return {
    sd15: v.sd15,
    model: v.model,
    steps: whole(v.steps, 'steps', 1, 1000) ?? base.steps,
    reps: whole(v.reps, 'reps', 1, 100) ?? base.reps,
    fixed: { steps: v.steps !== undefined, reps: v.reps !== undefined },
    budgetMinutes: whole(v.budget, 'budget', 1, 1440) ?? 10,
    imageSteps: whole(v['image-steps'], 'image-steps', 1, 1000) ?? 20,
    imagesPerProcess: whole(v.images, 'images', 1, 100) ?? base.imagesPerProcess,
    size,
    loraCount: whole(v.loras, 'loras', 1, 16) ?? 3,
    loraRank: whole(v.rank, 'rank', 1, 256) ?? 16,
    threads: whole(v.threads, 'threads', 1, 256),
    cacheDir: v['cache-dir'],
    doc: v['no-doc'] ? undefined : (v.doc ?? DEFAULT_DOC),
    json: v.json,
    only,
    quick,
    help: v.help ?? false,
  };
}

function parseOnly(text: string): Measurement[] {
  const picked = new Set<Measurement>();
  for (const part of text.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)) {
    if (!(MEASUREMENTS as readonly string[]).includes(part)) throw new UsageError(`--only takes letters from a to h, comma-separated (got "${part}").`);
    picked.add(part as Measurement);
  }
  if (picked.size === 0) throw new UsageError('--only needs at least one of a, b, c, d, e, f, g, h.');
  return MEASUREMENTS.filter((m) => picked.has(m));
}

/** Whether any of the UNet measurements (a-d), which need --sd15, is selected. */
export function needsUnet(o: Pick<SpeedOptions, 'only'>): boolean {
  return o.only.some((m) => m === 'a' || m === 'b' || m === 'c' || m === 'd');
}

/** The composition-method measurements selected (g, h). */
export function methodMeasurements(o: Pick<SpeedOptions, 'only'>): ('g' | 'h')[] {
  return o.only.filter((m): m is 'g' | 'h' => m === 'g' || m === 'h');
}

/** Whether e or f, which need a whole model folder, is selected. */
export function needsModel(o: Pick<SpeedOptions, 'only'>): boolean {
  return o.only.some((m) => m === 'e' || m === 'f');
}
