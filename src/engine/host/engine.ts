/**
 * The engine as a service: keeps models open, turns a generation request into saved images, and
 * reports progress. It runs on whatever thread calls it; ONNX Runtime blocks that thread during
 * every graph call, so hosts run it in a worker (worker.ts, client.ts), never on a UI thread.
 */
import { mkdir, readdir, realpath } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { ChordError } from '../errors';
import { wholeNumber } from '../numbers';
import { chordCacheDir, loadHashCache, saveHashCache } from '../model/cache-dir';
import { ModelCache } from '../model/cache';
import type { LoadedLora } from '../model/model';
import type { ProviderChoice, ProviderName } from '../model/providers';
import type { EngineNotice } from '../model/session';
import { findMethod, resolveMethodOptions } from '../pipeline/methods';
import { imageRecord } from '../pipeline/record';
import { resolveSettings, type SettingsInput } from '../pipeline/settings';
import { txt2img, type StageTimings, type StepLog, type StepProgress } from '../pipeline/txt2img';
import { resolveOrder } from './ordering';
import { profileOnModel, type ProfileHooks, type ProfileRequest, type ProfileResult } from './profiling';
import { type HashCache, modelHash } from '../hash';
import { saveImage } from '../png/image';
import { findUsedEmbeddings, loadPromptEmbeddings, type PromptEmbeddings } from '../embeddings/prompt';
import { extractLoraTags } from '../prompt/lora-tags';
import { mergeLoraRequests, resolveLoraTags } from '../prompt/library';

export interface LoraRequest {
  /** a .safetensors file or a PEFT adapter folder */
  path: string;
  /** user weight; default 1 */
  weight?: number;
  /** the weight while the prompts are encoded, when it differs (Merge only); default `weight` */
  textEncoderWeight?: number;
  /** a `<lora:...>` tag in the prompt stands for this LoRA (remaking an image; see ignorePromptTags) */
  promptTag?: boolean;
}

/** One region of regional composition (docs/regional.md). */
export interface RegionRequest {
  /** [x0, y0, x1, y1] as fractions of the image from the top-left */
  box: [number, number, number, number];
  prompt: string;
  /** default '' */
  negative?: string;
  /** LoRAs bound to this region */
  loras?: LoraRequest[];
}

/** A composition method by its registry name (pipeline/methods.ts) and options. */
export interface MethodRequest {
  name: string;
  options?: Record<string, number | boolean>;
}

export interface GenerateRequest extends SettingsInput {
  /** model folder (diffusers ONNX layout) */
  model: string;
  loras?: LoraRequest[];
  /** images in a row, seeds seed, seed + 1, ...; default 1 */
  batchCount?: number;
  /** where images go: one file (numbered -1, -2, ... when batchCount > 1) or a folder */
  output: { file: string } | { dir: string };
  provider?: ProviderChoice;
  /** attach latent previews to progress events */
  preview?: boolean;
  /** default: merge */
  method?: MethodRequest;
  /**
   * the order the method takes the LoRAs in: 'user' (as listed), 'reverse', 'freq' (frequency
   * order), 'category', or LoRA names separated by commas; default: the method's own
   */
  order?: string;
  /**
   * CMLoRA: the LoRAs (by name) to treat as the high-frequency set H, overriding their measured
   * classes; the others are L
   */
  highFrequency?: string[];
  /** regional methods: the regions, their prompts and LoRAs (global LoRAs stay in `loras`) */
  regions?: RegionRequest[];
  /** most batch rows in one UNet call (default: from the latent size and the memory budget) */
  maxBatchRows?: number;
  /** the model's hash must be this (remaking an image): checked before the first step */
  expectModelHash?: string;
  /** folders where `<lora:name:w>` tags in the prompt are looked up (with their subfolders) */
  loraDirs?: string[];
  /** folders of textual-inversion embeddings the prompts may name */
  embeddingDirs?: string[];
  /**
   * the prompt's `<lora:...>` tags are already in `loras` (remaking an image): they are removed
   * from the text without being looked up
   */
  ignorePromptTags?: boolean;
  /** the embeddings the prompts must use, by name and file sha256 (remaking an image) */
  expectEmbeddings?: { name: string; fileHash: string }[];
}

/** One step of an image as its method ran it, with LoRA names. */
export interface StepReport {
  step: number;
  active: string[];
  dominant: string | null;
  refreshed: string[];
  full: number;
  shallow: number;
}

export interface ImageTimings extends StageTimings {
  save: number;
  total: number;
}

export interface GeneratedImage {
  file: string;
  seed: number;
  width: number;
  height: number;
  timings: ImageTimings;
  method: { name: string; options: Record<string, number | string | boolean>; order: string[] };
  /** regional methods: the regions as used, each with the names of its LoRAs */
  regions?: { box: number[]; prompt: string; negative: string; loras: string[] }[];
  steps: StepReport[];
  /** UNet evaluations of one CFG row pair over all steps */
  totals: { full: number; shallow: number };
}

export interface GenerateResult {
  images: GeneratedImage[];
  model: { name: string; dir: string; hash: string };
  /** the provider the UNet ran on (after any fallback) */
  provider: ProviderName;
  loras: { name: string; path: string; weight: number; summary: string }[];
  timings: {
    /** opening the model and creating its sessions (0 when it was already open) */
    loadModel: number;
    /** reading LoRA files (and, the first time, rewriting the graphs) */
    loras: number;
    total: number;
  };
}

export interface GenerateProgress extends StepProgress {
  /** 0-based index of the image in the batch */
  image: number;
  images: number;
}

export interface GenerateHooks {
  signal?: AbortSignal;
  onProgress?: (progress: GenerateProgress) => void;
}

export interface EngineOptions {
  /** rewritten graphs and remembered hashes; default chordCacheDir() */
  cacheDir?: string;
  onNotice?: (notice: EngineNotice) => void;
  /** ONNX Runtime intra-op threads */
  threads?: number;
  /** models kept open */
  maxModels?: number;
}

const MAX_BATCH_COUNT = 10_000;

export class Engine {
  private readonly cacheDir: string;
  private readonly models: ModelCache;
  private hashes?: Promise<HashCache>;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: EngineOptions = {}) {
    this.cacheDir = options.cacheDir ?? chordCacheDir();
    const hashes = new Map<string, string>();
    this.models = new ModelCache({ cacheDir: this.cacheDir, onNotice: options.onNotice, threads: options.threads, hashes }, options.maxModels ?? 2);
    // the persisted memo is merged into the same map the models use
    this.hashes = loadHashCache(this.cacheDir).then((saved) => {
      for (const [k, v] of saved) if (!hashes.has(k)) hashes.set(k, v);
      return hashes;
    });
  }

  /** Runs one request; requests are served one at a time, in order. */
  generate(request: GenerateRequest, hooks: GenerateHooks = {}): Promise<GenerateResult> {
    const run = this.queue.then(() => this.run(request, hooks));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async run(request: GenerateRequest, hooks: GenerateHooks): Promise<GenerateResult> {
    const start = performance.now();
    const { signal, onProgress } = hooks;
    if (signal?.aborted) throw new ChordError('CANCELLED', 'Generation cancelled.');
    const batchCount = wholeNumber(request.batchCount ?? 1, 'Batch count', 1, MAX_BATCH_COUNT);
    const regionRequests = request.regions ?? [];
    regionRequests.forEach((r, i) => {
      if (extractLoraTags(r.prompt).tags.length > 0 || extractLoraTags(r.negative ?? '').tags.length > 0) {
        throw new ChordError('BAD_ARGUMENT', `Region ${i + 1} has a <lora:...> tag in its prompt; region LoRAs are bound with the region, not by tags.`, 'Give it in the region: "X0,Y0,X1,Y1|PROMPT|NEGATIVE|FILE:W".');
      }
    });
    for (const l of [...(request.loras ?? []), ...regionRequests.flatMap((r) => r.loras ?? [])]) {
      if (l.weight !== undefined && !Number.isFinite(l.weight)) throw new ChordError('BAD_ARGUMENT', `LoRA weight of ${l.path} must be a number.`);
    }
    // <lora:...> tags leave the text the encoder sees; the image keeps the prompt as typed
    const tagged = extractLoraTags(request.prompt);
    if (extractLoraTags(request.negativePrompt ?? '').tags.length > 0) {
      throw new ChordError('BAD_ARGUMENT', 'The negative prompt has a <lora:...> tag; LoRA tags work in the prompt only.', 'Move the tag to the prompt, or give the LoRA with --lora.');
    }
    const tags = request.ignorePromptTags ? [] : await resolveLoraTags(tagged.tags, request.loraDirs ?? []);
    const realKey = (path: string) => realpath(path).catch(() => path);
    const stack = mergeLoraRequests(
      await Promise.all((request.loras ?? []).map(async (l) => ({ path: l.path, weight: l.weight ?? 1, textEncoderWeight: l.textEncoderWeight, promptTag: l.promptTag, key: await realKey(l.path) }))),
      await Promise.all(tags.map(async (t) => ({ ...t, key: await realKey(t.path) }))),
    );
    for (const message of stack.notices) this.options.onNotice?.({ code: 'LORA_DUPLICATE', message });
    // region LoRAs follow the global ones on the stack, each its own entry (the same file may be
    // global and bound, or bound to two regions); each knows its region (-1: global)
    const loraRequests = [
      ...stack.loras,
      ...regionRequests.flatMap((r) => (r.loras ?? []).map((l) => ({ path: l.path, weight: l.weight ?? 1, textEncoderWeight: l.weight ?? 1, promptTag: false, tagName: undefined }))),
    ];
    const loraRegion = [...stack.loras.map(() => -1), ...regionRequests.flatMap((r, i) => (r.loras ?? []).map(() => i))];

    let t = performance.now();
    const model = await this.models.get(request.model, request.provider ?? 'auto');
    const settings = resolveSettings(request, model.folder);
    if (settings.seed + batchCount - 1 > Number.MAX_SAFE_INTEGER) throw new ChordError('BAD_ARGUMENT', 'Seed plus batch count is too large.');
    const hashes = await (this.hashes as Promise<HashCache>);
    // hashing the UNet reads the whole file: overlap it with the work below
    const hashing = modelHash(model.folder.dir, hashes);
    hashing.catch(() => undefined);
    const loadModel0 = performance.now() - t;

    t = performance.now();
    const loaded: LoadedLora[] = await model.useLoras(loraRequests.map((l) => l.path));
    for (const l of loaded) {
      if (l.skippedModules > 0) {
        this.options.onNotice?.({
          code: 'LORA_PARTLY_APPLIED',
          message: `${l.name}: ${l.skippedModules} modules are LoHa/LoKr/DoRA/full weights, which run-time LoRA does not apply yet; use \`chord lora fuse\` to bake them.`,
        });
      }
    }
    // embeddings: only the files the prompts name are read; the text encoder switches once
    const embeddingFiles = await findUsedEmbeddings(model.tokenizer, [tagged.prompt, settings.negativePrompt], request.embeddingDirs ?? []);
    let embeddings: PromptEmbeddings | undefined;
    if (embeddingFiles.length > 0) embeddings = await loadPromptEmbeddings(model.tokenizer, embeddingFiles, await model.useEmbeddings(), hashes);
    for (const expected of request.expectEmbeddings ?? []) {
      const found = embeddings?.embeddings.find((e) => e.name === expected.name);
      if (found?.fileHash !== expected.fileHash) {
        throw new ChordError(
          'BAD_ARGUMENT',
          found ? `The embedding ${found.path} is not the ${expected.name} this image was made with (its hash differs).` : `The image was made with the embedding ${expected.name}, which no --embedding-dir folder holds.`,
          'Pass the folder holding the original embedding with --embedding-dir.',
        );
      }
    }
    const lorasMs = performance.now() - t;
    const weights = loraRequests.map((l) => l.weight);
    const textEncoderWeights = loraRequests.map((l) => l.textEncoderWeight);
    const definition = findMethod(request.method?.name ?? 'merge');
    const methodOptions = resolveMethodOptions(definition, request.method?.options);
    if (loaded.length < definition.minLoras) {
      throw new ChordError('BAD_ARGUMENT', `The ${definition.label} method composes LoRAs; give at least ${definition.minLoras}.`, 'Add a LoRA, or use --method merge.');
    }
    if (definition.regional && regionRequests.length === 0) {
      throw new ChordError('BAD_ARGUMENT', `The ${definition.label} method needs regions.`, 'Add --region "X0,Y0,X1,Y1|PROMPT|NEGATIVE|FILE:W" (repeatable) or --regions FILE.json.');
    }
    if (!definition.regional && regionRequests.length > 0) {
      throw new ChordError('BAD_ARGUMENT', `Regions are given but the ${definition.label} method does not use them.`, 'Use --method regional (or regional-passes).');
    }
    const regions = regionRequests.map((r) => ({
      box: { x0: r.box[0], y0: r.box[1], x1: r.box[2], y1: r.box[3] },
      prompt: r.prompt,
      negative: r.negative ?? '',
    }));
    const regionRecords = regionRequests.map((r) => ({ box: [...r.box] as [number, number, number, number], prompt: r.prompt, negativePrompt: r.negative ?? '' }));
    const twoWeights = loraRequests.find((l) => l.textEncoderWeight !== l.weight);
    if (twoWeights && definition.name !== 'merge') {
      throw new ChordError('BAD_ARGUMENT', `${twoWeights.tagName ?? twoWeights.path} has separate text-encoder and UNet weights, which only the Merge method applies.`, 'Give the tag one weight, or use --method merge.');
    }
    const ordering = await resolveOrder(request.order ?? definition.defaultOrder, loaded, {
      needsClasses: definition.needsFrequencyClasses,
      highFrequency: request.highFrequency,
      model,
      profiler: { cacheDir: this.cacheDir, onNotice: this.options.onNotice },
      signal,
    });
    if (ordering.notice) this.options.onNotice?.({ code: 'ORDER_AS_GIVEN', message: ordering.notice });
    if (request.expectModelHash && (await hashing) !== request.expectModelHash) {
      throw new ChordError('BAD_ARGUMENT', `${model.folder.name} is not the model this image was made with (its hash differs).`, 'Pass the original model with --model.');
    }

    t = performance.now();
    await model.load();
    const loadModel = loadModel0 + (performance.now() - t);
    const provider = await model.provider();

    const files = await outputFiles(request.output, batchCount, settings.seed);
    const method = definition.create({ weights, textEncoderWeights, order: ordering.order, highFrequency: ordering.highFrequency, regions, loraRegion }, methodOptions);
    if (methodOptions.norm === true && definition.name === 'regional') {
      await model.useRegional();
      if (model.regionNorms === 0) {
        this.options.onNotice?.({
          code: 'REGION_NORM_UNAVAILABLE',
          message: `${model.folder.name}: its UNet's group normalisations are not in the exported form Chord rewrites (Reshape, InstanceNormalization, Reshape at the UNet's two coarsest resolutions), so regions share whole-image statistics (as with --no-region-norm).`,
        });
      }
    }
    const names = loaded.map((l) => l.name);
    const images: GeneratedImage[] = [];
    for (let b = 0; b < batchCount; b++) {
      const imageStart = performance.now();
      const imageSettings = { ...settings, seed: settings.seed + b };
      const result = await txt2img(model, { ...imageSettings, prompt: tagged.prompt }, {
        method,
        embeddings,
        signal,
        preview: request.preview,
        onProgress: onProgress && ((p) => onProgress({ ...p, image: b, images: batchCount })),
        maxBatchRows: request.maxBatchRows,
      });
      t = performance.now();
      const hash = await hashing;
      const record = imageRecord(
        imageSettings,
        { name: model.folder.name, hash },
        loaded.map((l, k) => ({
          name: l.name,
          fileHash: l.fileHash,
          a1111Hash: l.a1111Hash,
          weight: weights[k],
          ...(textEncoderWeights[k] !== weights[k] ? { textEncoderWeight: textEncoderWeights[k] } : {}),
          ...(loraRequests[k].promptTag ? { promptTag: true } : {}),
          ...(loraRegion[k] >= 0 ? { region: regionRecords[loraRegion[k]] } : {}),
        })),
        method,
        b,
        { rule: ordering.rule, highFrequency: ordering.highFrequency ? [...ordering.highFrequency] : undefined },
        definition.name === 'merge' ? undefined : result.steps,
        (embeddings?.embeddings ?? []).map((e) => ({ name: e.name, fileHash: e.fileHash })),
        regionRecords,
      );
      await saveImage(files[b], result.rgb, result.width, result.height, record);
      const save = performance.now() - t;
      images.push({
        file: files[b],
        seed: imageSettings.seed,
        width: result.width,
        height: result.height,
        timings: { ...result.timings, save, total: performance.now() - imageStart },
        method: { name: method.name, options: { ...method.options }, order: method.order.map((k) => names[k]) },
        ...(regions.length > 0
          ? { regions: regionRecords.map((r, i) => ({ box: r.box, prompt: r.prompt, negative: r.negativePrompt, loras: names.filter((_, k) => loraRegion[k] === i) })) }
          : {}),
        steps: result.steps.map((s) => stepReport(s, names)),
        totals: { full: sum(result.steps.map((s) => s.full)), shallow: sum(result.steps.map((s) => s.shallow)) },
      });
    }
    await saveHashCache(this.cacheDir, hashes);
    return {
      images,
      model: { name: model.folder.name, dir: model.folder.dir, hash: await hashing },
      provider,
      loras: loaded.map((l, k) => ({ name: l.name, path: l.path, weight: weights[k], summary: l.summary })),
      timings: { loadModel, loras: lorasMs, total: performance.now() - start },
    };
  }

  /**
   * Measures LoRAs' frequency profiles (profiling.ts) on the request's model; in turn with the
   * generations, since it uses the same open model.
   */
  profile(request: ProfileRequest, hooks: ProfileHooks = {}): Promise<ProfileResult> {
    const run = this.queue.then(async () => {
      if (hooks.signal?.aborted) throw new ChordError('CANCELLED', 'Measuring cancelled.');
      const model = await this.models.get(request.model, request.provider ?? 'auto');
      return profileOnModel(model, request, hooks, { cacheDir: this.cacheDir, onNotice: this.options.onNotice });
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  async release(): Promise<void> {
    await this.queue;
    await this.models.release();
  }
}

function stepReport(s: StepLog, names: readonly string[]): StepReport {
  return {
    step: s.step,
    active: s.active.map((k) => names[k]),
    dominant: s.dominant === undefined ? null : names[s.dominant],
    refreshed: s.refreshed.map((k) => names[k]),
    full: s.full,
    shallow: s.shallow,
  };
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/**
 * The file of each image. A file name gets -1, -2, ... before its extension when there are
 * several; a folder gets A1111-style names `<5-digit counter>-<seed>.png`, the counter continuing
 * after the highest one already there. Folders are created as needed.
 */
export async function outputFiles(output: GenerateRequest['output'], count: number, seed: number): Promise<string[]> {
  const makeDir = async (dir: string) => {
    try {
      await mkdir(dir, { recursive: true });
    } catch (e) {
      throw new ChordError('WRITE_FAILED', `Cannot create the folder ${dir} (${(e as NodeJS.ErrnoException).code ?? 'error'}).`, 'Choose another output folder.', { cause: e });
    }
  };
  if ('file' in output) {
    await makeDir(dirname(output.file));
    if (count === 1) return [output.file];
    const ext = extname(output.file);
    const stem = output.file.slice(0, output.file.length - ext.length);
    return Array.from({ length: count }, (_, i) => `${stem}-${i + 1}${ext || '.png'}`);
  }
  await makeDir(output.dir);
  let next = 0;
  for (const name of await readdir(output.dir)) {
    const m = /^(\d{5,})-/.exec(basename(name));
    if (m) next = Math.max(next, Number(m[1]) + 1);
  }
  return Array.from({ length: count }, (_, i) => join(output.dir, `${String(next + i).padStart(5, '0')}-${seed + i}.png`));
}
