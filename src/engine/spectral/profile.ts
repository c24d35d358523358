/**
 * The frequency profile of a LoRA on a model (docs/spectral.md): images from the base model and
 * with the LoRA alone at weight 1, in pairs with the same prompt (the LoRA's trigger words), seed
 * and settings; dH = high-band statistic of the LoRA images' mean profile minus that of the base
 * images' (the statistic is linear, so this is also the mean of the pairs' dH).
 *
 * Profiles are cached on disk (<cache dir>/spectral/), keyed by what decides the result: the
 * model hash, the LoRA file's sha256, the prompt, the settings and PROFILE_VERSION. Changing any
 * of them makes a new entry; nothing else makes the images again. The base image's profile is
 * cached apart (model, prompt, settings), so a re-trained LoRA costs one image, not two. The class
 * is not cached: it follows from dH and the threshold at read time.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ChordError } from '../errors';
import { writeFileAtomic } from '../fsutil';
import { loraFileHashes } from '../lora/hash';
import { inspectLora } from '../lora/metadata';
import { chordCacheDir, loadHashCache, saveHashCache } from '../model/cache-dir';
import { type Model, openModel, type OpenModelOptions } from '../model/model';
import type { ProviderChoice } from '../model/providers';
import { Merge } from '../pipeline/merge';
import { resolveSettings, type GenerationSettings } from '../pipeline/settings';
import { txt2img } from '../pipeline/txt2img';
import { checkSeed } from '../schedulers/noise';
import { type HashCache, modelHash } from '../hash';
import { deltaHigh, frequencyClass, type FrequencyClass, radialProfile } from './spectrum';

/**
 * Bumped whenever the images or the profile would come out differently for the same inputs
 * (the spectrum maths, the pipeline's use of the settings), so that old cache entries are not read.
 */
export const PROFILE_VERSION = 1;

/**
 * dH above this is class H. Chosen on the demo LoRAs (docs/spectral.md): the middle of the gap
 * between the two background LoRAs (dH <= -0.04 over 16 seeds) and every other LoRA (>= +0.007).
 */
export const DEFAULT_THRESHOLD = -0.02;

export interface ProfileSettings {
  steps: number;
  /** a sampler the pipeline knows, e.g. 'ddim' */
  sampler: string;
  cfg: number;
  /** the first seed */
  seed: number;
  /**
   * image pairs, seeds seed .. seed + seeds - 1; the profiles are their means. One pair, or even
   * 8, is too noisy on the demo model to tell a background from an object (docs/spectral.md)
   */
  seeds: number;
  /** default: the model's own size */
  width?: number;
  height?: number;
}

/** Modest and deterministic: DDIM has no per-step noise, so an image depends on its seed only. */
export const DEFAULT_PROFILE_SETTINGS: Readonly<ProfileSettings> = { steps: 20, sampler: 'ddim', cfg: 7, seed: 0, seeds: 16 };
export const MAX_PROFILE_SEEDS = 64;

export interface LoraProfile {
  /** as given */
  file: string;
  /** the LoRA's own name (kohya output name, modelspec title, else the file name) */
  name: string;
  /** the prompt both images were made from */
  prompt: string;
  dH: number;
  class: FrequencyClass;
  /** normalised radial profile of the LoRA images (mean over the seeds), ring 0 (the DC term) first */
  radial: number[];
  /** the same of the base images */
  baseRadial: number[];
  /** wall time of this call for this LoRA (small when it came from the cache) */
  ms: number;
  /** read from the cache, no image made */
  cached: boolean;
}

export interface ProfilerOptions {
  /** default chordCacheDir() */
  cacheDir?: string;
  settings?: Partial<ProfileSettings>;
  /** dH above this is class H; default DEFAULT_THRESHOLD */
  threshold?: number;
  provider?: ProviderChoice;
  threads?: number;
  onNotice?: OpenModelOptions['onNotice'];
  /**
   * an open model to make the images on (the engine's own, so no second set of sessions is
   * created); it is not released by close(), and its current LoRAs are replaced while profiling
   */
  model?: Model;
  /**
   * told after each image a profile makes (not for cached ones): `done` of `total` for this file,
   * so a window can show progress while a LoRA is measured
   */
  onImage?: (file: string, done: number, total: number) => void;
}

interface CachedProfile {
  version: number;
  radial: number[];
}

const isNumberArray = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x));

/** The settings, checked: every bad value is a ChordError naming it. */
export function resolveProfileSettings(partial: Partial<ProfileSettings> = {}): ProfileSettings {
  // an option left undefined (an unset CLI flag) takes the default
  const given = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined));
  const s: ProfileSettings = { ...DEFAULT_PROFILE_SETTINGS, ...given };
  if (!Number.isInteger(s.steps) || s.steps < 1) throw new ChordError('BAD_ARGUMENT', `Profile steps must be a whole number of at least 1 (got ${s.steps}).`);
  if (!Number.isInteger(s.seeds) || s.seeds < 1 || s.seeds > MAX_PROFILE_SEEDS) {
    throw new ChordError('BAD_ARGUMENT', `Profile seeds must be a whole number from 1 to ${MAX_PROFILE_SEEDS} (got ${s.seeds}).`);
  }
  checkSeed(s.seed);
  checkSeed(s.seed + s.seeds - 1);
  if (!Number.isFinite(s.cfg) || s.cfg < 0) throw new ChordError('BAD_ARGUMENT', `Profile guidance scale must be a number of at least 0 (got ${s.cfg}).`);
  return s;
}

/** The cache key of an entry: sha256 of what decides its result. */
export function profileCacheKey(kind: 'lora' | 'base', parts: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify({ kind, version: PROFILE_VERSION, ...parts })).digest('hex');
}

/**
 * Profiles LoRAs on one model. ONNX sessions are made on the first profile that is not cached, so
 * a fully cached run makes none. Not for concurrent use: one profile at a time.
 */
export class LoraProfiler {
  private model?: Promise<Model>;
  private hashOfModel?: Promise<string>;
  private readonly cacheDir: string;
  private readonly settings: ProfileSettings;
  private readonly threshold: number;

  private constructor(
    readonly modelDir: string,
    private readonly hashes: HashCache,
    private readonly options: ProfilerOptions,
  ) {
    this.cacheDir = options.cacheDir ?? chordCacheDir();
    this.settings = resolveProfileSettings(options.settings);
    this.threshold = options.threshold ?? DEFAULT_THRESHOLD;
    if (!Number.isFinite(this.threshold)) throw new ChordError('BAD_ARGUMENT', `The frequency threshold must be a number (got ${this.threshold}).`);
  }

  static async open(modelDir: string, options: ProfilerOptions = {}): Promise<LoraProfiler> {
    const hashes = await loadHashCache(options.cacheDir ?? chordCacheDir());
    return new LoraProfiler(modelDir, hashes, options);
  }

  private openedModel(): Promise<Model> {
    if (this.options.model) return Promise.resolve(this.options.model);
    if (!this.model) {
      this.model = openModel(this.modelDir, {
        cacheDir: this.cacheDir,
        hashes: this.hashes,
        provider: this.options.provider,
        threads: this.options.threads,
        onNotice: this.options.onNotice,
      });
      this.model.catch(() => (this.model = undefined));
    }
    return this.model;
  }

  private modelHash(): Promise<string> {
    this.hashOfModel ??= modelHash(this.modelDir, this.hashes);
    return this.hashOfModel;
  }

  /**
   * The profile of one LoRA file (or PEFT folder), from the cache when its inputs are unchanged.
   * `prompt` replaces the trigger words (for a file that names none, or names them wrongly).
   */
  async profile(file: string, signal?: AbortSignal, prompt?: string): Promise<LoraProfile> {
    const start = performance.now();
    const info = await inspectLora(file, { hashes: false });
    const { sha256 } = await loraFileHashes(info.file, this.hashes);
    if (prompt === undefined) prompt = info.triggerWords.length > 0 ? info.triggerWords.join(', ') : info.name;
    const model = await this.modelHash();
    const { folder } = await this.openedModel();
    const settings = { ...this.settings, width: this.settings.width ?? folder.defaultWidth, height: this.settings.height ?? folder.defaultHeight };
    const baseKey = profileCacheKey('base', { model, prompt, settings });
    const loraKey = profileCacheKey('lora', { model, lora: sha256, prompt, settings, weight: 1 });

    let base = await this.readEntry(baseKey);
    let lora = await this.readEntry(loraKey);
    const cached = base !== undefined && lora !== undefined;
    if (!base || !lora) {
      const m = await this.openedModel();
      const generation = resolveSettings({ prompt, steps: settings.steps, cfg: settings.cfg, sampler: settings.sampler, seed: settings.seed, width: settings.width, height: settings.height }, m.folder);
      const [loaded] = await m.useLoras([info.path]);
      if (loaded.skippedModules > 0) {
        this.options.onNotice?.({
          code: 'LORA_PARTLY_APPLIED',
          message: `${info.name}: ${loaded.skippedModules} modules are LoHa/LoKr/DoRA/full weights, which run-time LoRA does not apply yet; the profile is measured without them.`,
        });
      }
      const total = this.settings.seeds * ((base ? 0 : 1) + (lora ? 0 : 1));
      let done = 0;
      const onImage = () => this.options.onImage?.(file, ++done, total);
      if (!base) {
        base = await this.imageProfile(m, generation, 0, signal, onImage);
        await this.writeEntry(baseKey, base);
      }
      if (!lora) {
        lora = await this.imageProfile(m, generation, 1, signal, onImage);
        await this.writeEntry(loraKey, lora);
      }
    }
    const dH = deltaHigh(lora, base);
    return {
      file,
      name: info.name,
      prompt,
      dH,
      class: frequencyClass(dH, this.threshold),
      radial: lora,
      baseRadial: base,
      ms: performance.now() - start,
      cached,
    };
  }

  /** The mean radial profile of the images of every seed, with the LoRA at `weight`. */
  private async imageProfile(model: Model, settings: GenerationSettings, weight: number, signal: AbortSignal | undefined, onImage: () => void): Promise<number[]> {
    let sum: number[] = [];
    for (let k = 0; k < this.settings.seeds; k++) {
      const image = await txt2img(model, { ...settings, seed: settings.seed + k }, { method: new Merge([weight]), signal });
      const profile = radialProfile(image.rgb, image.width, image.height);
      sum = k === 0 ? profile : sum.map((v, r) => v + profile[r]);
      onImage();
    }
    return sum.map((v) => v / this.settings.seeds);
  }

  private entryPath(key: string): string {
    return join(this.cacheDir, 'spectral', `${key}.json`);
  }

  /** A missing, unreadable or damaged entry is no entry: it is made again. */
  private async readEntry(key: string): Promise<number[] | undefined> {
    try {
      const raw = JSON.parse(await readFile(this.entryPath(key), 'utf8')) as Partial<CachedProfile>;
      return raw.version === PROFILE_VERSION && isNumberArray(raw.radial) ? raw.radial : undefined;
    } catch {
      return undefined;
    }
  }

  /** Best effort: a cache that cannot be written only costs time later. */
  private async writeEntry(key: string, radial: number[]): Promise<void> {
    try {
      await mkdir(join(this.cacheDir, 'spectral'), { recursive: true });
      const entry: CachedProfile = { version: PROFILE_VERSION, radial };
      await writeFileAtomic(this.entryPath(key), JSON.stringify(entry));
    } catch {
      // ignored on purpose
    }
  }

  /** Releases the model's sessions and remembers the file hashes for the next run. */
  async close(): Promise<void> {
    await saveHashCache(this.cacheDir, this.hashes);
    const model = this.model;
    this.model = undefined;
    if (model) await model.then((m) => m.release(), () => undefined);
  }
}

/** Profiles every file on one model, in order; `onProfile` sees each as soon as it is known. */
export async function profileLoras(
  modelDir: string,
  files: readonly string[],
  options: ProfilerOptions & { signal?: AbortSignal; onProfile?: (p: LoraProfile) => void } = {},
): Promise<LoraProfile[]> {
  const profiler = await LoraProfiler.open(modelDir, options);
  try {
    const out: LoraProfile[] = [];
    for (const file of files) {
      const p = await profiler.profile(file, options.signal);
      options.onProfile?.(p);
      out.push(p);
    }
    return out;
  } finally {
    await profiler.close();
  }
}
