/**
 * The API contract between the UI and whatever hosts the engine (Electron main, `chord serve`).
 *
 * `ChordApi` is what the renderer programs against. The wire form of each call is a `Reply`
 * envelope (value or error data) because neither Electron IPC nor contextBridge carries an
 * error's code and hint across: a thrown error arrives as a bare, reworded message. Requests are
 * validated here, once, with valibot, by the host that receives them (`dispatch.ts`).
 *
 * This module imports nothing of ours: the renderer, preload, main and server all depend on it.
 */
import * as v from 'valibot';

// ---------------------------------------------------------------------------------------------
// Values

/** Sampler names; the engine's `SAMPLER_NAMES` (src/engine/schedulers) must match (a test pins it). */
export const SAMPLERS = ['euler', 'euler_a', 'ddim', 'dpmpp_2m', 'dpmpp_2m_karras', 'lcm'] as const;
export type Sampler = (typeof SAMPLERS)[number];

/** Execution providers a request may ask for; `auto` picks the best one here. The engine's `PROVIDER_NAMES` plus auto (a test pins it). */
export const PROVIDERS = ['auto', 'cpu', 'cuda', 'dml', 'coreml', 'webgpu'] as const;
export type Provider = (typeof PROVIDERS)[number];

/** LoRA roles the composition methods know; `LoraCategory` in src/engine/png/record.ts. */
export const LORA_CATEGORIES = ['character', 'clothing', 'style', 'background', 'object'] as const;
export type LoraCategory = (typeof LORA_CATEGORIES)[number];

/**
 * A LoRA's frequency class (docs/spectral.md): H when it mainly adds fine detail, L when it mainly
 * changes large areas; `FrequencyClass` in src/engine/spectral/spectrum.ts.
 */
export const FREQUENCY_CLASSES = ['H', 'L'] as const;
export type FrequencyClass = (typeof FREQUENCY_CLASSES)[number];

/**
 * Bounds a request must respect: the engine's own (src/engine/pipeline/settings.ts, host/engine.ts;
 * a test pins them). The engine further checks what the chosen model can do (its size multiple).
 */
export const LIMITS = {
  promptChars: 20_000,
  steps: { min: 1, max: 1000 },
  cfg: { min: 0, max: 100 },
  /** Pixels; the VAE works in 8-pixel cells, a model may need a larger multiple. */
  size: { min: 8, max: 4096, multiple: 8 },
  batchCount: { min: 1, max: 10_000 },
  loraWeight: { min: -10, max: 10 },
  loras: 16,
  /** The engine's noise generator takes any whole number in [0, 2^53 - 1]. */
  seed: { min: 0, max: Number.MAX_SAFE_INTEGER },
  /** Regions of the regional methods (the engine's MAX_REGIONS; a test pins it). */
  regions: 8,
} as const;

/**
 * What a request gets for each field it leaves out: the engine's defaults (a test pins them).
 * Width and height have none here: left out, the engine uses the model's own size.
 */
export const DEFAULTS = {
  negativePrompt: '',
  steps: 20,
  cfg: 7,
  sampler: 'euler_a' as Sampler,
  batchCount: 1,
  method: 'merge',
} as const;

// ---------------------------------------------------------------------------------------------
// Schemas (valibot): each message names the field and the allowed range, so the user can fix it.

function wholeNumber(field: string, min: number, max: number) {
  const message = `${field} must be a whole number from ${min} to ${max}`;
  return v.pipe(v.number(message), v.integer(message), v.minValue(min, message), v.maxValue(max, message));
}

function numberIn(field: string, min: number, max: number) {
  const message = `${field} must be a number from ${min} to ${max}`;
  return v.pipe(v.number(message), v.minValue(min, message), v.maxValue(max, message));
}

function imageSide(field: string) {
  const { min, max, multiple } = LIMITS.size;
  return v.pipe(
    wholeNumber(field, min, max),
    v.multipleOf(multiple, `${field} must be a multiple of ${multiple} pixels`),
  );
}

function text(field: string, maxChars: number) {
  return v.pipe(
    v.string(`${field} must be text`),
    v.maxLength(maxChars, `${field} is longer than ${maxChars} characters`),
  );
}

function nonEmptyText(field: string) {
  return v.pipe(v.string(`${field} must be text`), v.trim(), v.nonEmpty(`${field} is empty`));
}

export const LoraChoiceSchema = v.strictObject({
  /** A .safetensors file on the host's disk (a `LoraEntry.path`). */
  path: nonEmptyText('lora path'),
  weight: numberIn('lora weight', LIMITS.loraWeight.min, LIMITS.loraWeight.max),
});

/**
 * One generation, in the engine's own field names (`GenerateRequest` in src/engine/host/engine.ts
 * minus where the images go, which the host decides). A test checks that every validated request
 * is a valid engine request.
 */
export const MethodChoiceSchema = v.strictObject(
  {
  /** A composition method's name from `AppInfo.engine.methods`. */
  name: v.pipe(nonEmptyText('method'), v.maxLength(40, 'method name is too long')),
  /** Its options by name (e.g. { tau: 5 } for switch); left out: the method's defaults. */
  options: v.optional(
    v.pipe(
      v.record(v.string(), v.union([v.number(), v.boolean()], 'method options must be numbers or true/false'), 'method options must be an object'),
      v.check((o) => Object.keys(o).length <= 20, 'too many method options'),
    ),
  ),
  },
  'method must be an object with a name (and options)',
);

/** A fraction of the image's width or height, from the top-left. */
const fraction = (field: string) => numberIn(field, 0, 1);

/**
 * One region of the regional methods (docs/regional.md): a box as fractions of the image from the
 * top-left, its prompt and negative prompt, and the LoRAs bound to it. The host checks the rest of
 * the engine's rules (no overlaps) when the job is queued.
 */
export const RegionChoiceSchema = v.strictObject({
  box: v.pipe(
    v.tuple([fraction('region x0'), fraction('region y0'), fraction('region x1'), fraction('region y1')], 'a region box must be [x0, y0, x1, y1]'),
    v.check(([x0, y0, x1, y1]) => x0 < x1 && y0 < y1, 'a region box must have x0 < x1 and y0 < y1 (a positive area)'),
  ),
  prompt: v.optional(text('region prompt', LIMITS.promptChars), ''),
  negative: v.optional(text('region negative prompt', LIMITS.promptChars), ''),
  loras: v.optional(
    v.pipe(v.array(LoraChoiceSchema, 'region loras must be a list'), v.maxLength(LIMITS.loras, `at most ${LIMITS.loras} LoRAs per region`)),
    () => [],
  ),
});

export const GenerateRequestSchema = v.strictObject({
  prompt: text('prompt', LIMITS.promptChars),
  negativePrompt: v.optional(text('negative prompt', LIMITS.promptChars), DEFAULTS.negativePrompt),
  /** A `ModelSummary.id` from `listModels()`. */
  model: nonEmptyText('model'),
  loras: v.optional(
    v.pipe(
      v.array(LoraChoiceSchema, 'loras must be a list'),
      v.maxLength(LIMITS.loras, `at most ${LIMITS.loras} LoRAs at once`),
    ),
    () => [],
  ),
  steps: v.optional(wholeNumber('steps', LIMITS.steps.min, LIMITS.steps.max), DEFAULTS.steps),
  cfg: v.optional(numberIn('cfg', LIMITS.cfg.min, LIMITS.cfg.max), DEFAULTS.cfg),
  sampler: v.optional(v.picklist(SAMPLERS, `sampler must be one of ${SAMPLERS.join(', ')}`), DEFAULTS.sampler),
  /** Left out: the host picks one and reports it with each image. Image i of a batch uses seed + i. */
  seed: v.optional(wholeNumber('seed', LIMITS.seed.min, LIMITS.seed.max)),
  /** Left out: the model's own size (`ModelSummary.width`/`height`). */
  width: v.optional(imageSide('width')),
  height: v.optional(imageSide('height')),
  batchCount: v.optional(
    wholeNumber('batchCount', LIMITS.batchCount.min, LIMITS.batchCount.max),
    DEFAULTS.batchCount,
  ),
  /** How the LoRAs are combined; left out: merge. */
  method: v.optional(MethodChoiceSchema, () => ({ name: DEFAULTS.method })),
  /** The order the method takes the LoRAs in ('user', 'reverse', 'freq', 'category'); left out: the method's own. */
  order: v.optional(v.pipe(text('order', 2000), v.nonEmpty('order is empty'))),
  /** Where the UNet runs; a provider that cannot run here falls back to the CPU with a notice. */
  provider: v.optional(v.picklist(PROVIDERS, `provider must be one of ${PROVIDERS.join(', ')}`), 'auto'),
  /**
   * The LoRAs (by name) that are high-frequency (class H), the others L: the classes the window
   * shows (measured or set by the user), so that the engine's order and CMLoRA's split agree with
   * them. Left out: the engine measures the classes itself when the method or order needs them.
   */
  highFrequency: v.optional(
    v.pipe(v.array(text('LoRA name', 500), 'highFrequency must be a list of LoRA names'), v.maxLength(LIMITS.loras, `at most ${LIMITS.loras} names in highFrequency`)),
  ),
  /** Regional methods only: the boxes, each with its prompts and bound LoRAs (the stack's LoRAs act on the whole image). */
  regions: v.optional(
    v.pipe(
      v.array(RegionChoiceSchema, 'regions must be a list'),
      v.maxLength(LIMITS.regions, `at most ${LIMITS.regions} regions`),
    ),
  ),
});

export const JobIdSchema = nonEmptyText('job id');
export const LoraIdSchema = nonEmptyText('LoRA id');
/** A gallery file name: no folders, no dot files (the image route takes nothing else either). */
export const ImageNameSchema = v.pipe(
  v.string('image name must be text'),
  v.regex(/^[\w-][\w.-]{0,200}\.png$/, 'image name must be a PNG file name in the gallery'),
);
export const ModelPathSchema = v.pipe(nonEmptyText('model folder'), v.maxLength(4096, 'model folder path is too long'));
export const LoraPathsSchema = v.pipe(
  v.array(nonEmptyText('file path'), 'files must be a list of paths'),
  v.minLength(1, 'no files given'),
  v.maxLength(1000, 'at most 1000 files at once'),
);
export const LoraPatchSchema = v.strictObject({
  category: v.optional(v.nullable(v.picklist(LORA_CATEGORIES, `category must be one of ${LORA_CATEGORIES.join(', ')}`))),
  triggerWords: v.optional(v.pipe(v.array(text('trigger word', 200), 'trigger words must be a list'), v.maxLength(50))),
  /** The user's frequency class, which wins over the measured one; null: the measured one (auto). */
  classOverride: v.optional(v.nullable(v.picklist(FREQUENCY_CLASSES, 'class must be H or L (or null for the measured class)'))),
});
export const QueueMoveSchema = v.picklist([-1, 1], 'a job moves by -1 (earlier) or 1 (later)');
export const PngBytesSchema = v.pipe(
  v.instance(Uint8Array, 'the image must be the bytes of a PNG file'),
  v.check((bytes) => bytes.byteLength <= 64 * 1024 * 1024, 'the image is larger than 64 MB'),
);

/**
 * Compare view: the orderings a comparison's rows may use. `all` is every permutation of the
 * stack (up to `COMPARE_LIMITS.permutedLoras` LoRAs); the others are the engine's order rules.
 */
export const COMPARE_ORDERS = ['freq', 'reverse', 'user', 'category', 'all'] as const;
export type CompareOrder = (typeof COMPARE_ORDERS)[number];
/** A comparison makes at most `cells` images; `all` permutes at most `permutedLoras` LoRAs (4! = 24). */
export const COMPARE_LIMITS = { cells: 24, permutedLoras: 4 } as const;

export const ComparisonRequestSchema = v.strictObject({
  /** The prompt, stack and settings every cell shares (one seed for all; left out: the host picks one). */
  settings: v.omit(GenerateRequestSchema, ['batchCount', 'method', 'order']),
  /** The rows; none: one row in the stack's order (a comparison of methods only). */
  orders: v.pipe(
    v.array(v.picklist(COMPARE_ORDERS, `an ordering must be one of ${COMPARE_ORDERS.join(', ')}`), 'orders must be a list'),
    v.maxLength(COMPARE_ORDERS.length, 'too many orderings'),
  ),
  /** The columns, each a method with its options. */
  methods: v.pipe(v.array(MethodChoiceSchema, 'methods must be a list'), v.maxLength(COMPARE_LIMITS.cells, `at most ${COMPARE_LIMITS.cells} methods`)),
});
export const ComparisonIdSchema = v.pipe(nonEmptyText('comparison id'), v.maxLength(100, 'comparison id is too long'));
/** LoRAs of the library whose frequency profiles to measure (or read from the cache), on one model. */
export const SpectraRequestSchema = v.strictObject({
  /** A `ModelSummary.id`. */
  model: nonEmptyText('model'),
  /** `LoraEntry.id`s */
  loras: v.pipe(v.array(LoraIdSchema, 'loras must be a list of LoRA ids'), v.minLength(1, 'no LoRAs given'), v.maxLength(LIMITS.loras, `at most ${LIMITS.loras} LoRAs at once`)),
});

export type LoraChoice = v.InferOutput<typeof LoraChoiceSchema>;
export type RegionChoice = v.InferOutput<typeof RegionChoiceSchema>;
/** What a caller sends: everything but `prompt` and `model` may be left out. */
export type GenerateRequestInput = v.InferInput<typeof GenerateRequestSchema>;
/** What the engine receives: validated, defaults filled in. */
export type GenerateRequest = v.InferOutput<typeof GenerateRequestSchema>;
export type LoraPatch = v.InferOutput<typeof LoraPatchSchema>;
export type ComparisonRequestInput = v.InferInput<typeof ComparisonRequestSchema>;
export type ComparisonRequest = v.InferOutput<typeof ComparisonRequestSchema>;
export type SpectraRequest = v.InferOutput<typeof SpectraRequestSchema>;

// ---------------------------------------------------------------------------------------------
// Results and events

export interface MethodOptionInfo {
  name: string;
  kind: 'int' | 'number' | 'boolean';
  min?: number;
  max?: number;
  default: number | boolean;
  description: string;
}

/** A named set of a method's options (the app's preset buttons); `options` sets every option. */
export interface MethodPresetInfo {
  name: string;
  label: string;
  description: string;
  options: Record<string, number | boolean>;
}

/** A composition method the engine offers (the stack's method selector). */
export interface MethodInfo {
  name: string;
  label: string;
  summary: string;
  /** UNet passes per step for N LoRAs, for people ("1", "N") */
  cost: string;
  options: MethodOptionInfo[];
  presets: MethodPresetInfo[];
  /** Takes regions (`GenerateRequest.regions`): the app shows the region editor for it. */
  regional: boolean;
}

export interface AppInfo {
  /** The app's version (package.json). */
  version: string;
  engine: {
    /** The engine's version, as image records carry it (an image made by another may remake differently). */
    version: string;
    /** ONNX Runtime execution providers usable on this machine, e.g. ["cpu", "webgpu"]. */
    providers: string[];
    methods: MethodInfo[];
  };
}

export interface ModelSummary {
  /** Pass this as `GenerateRequest.model`. */
  id: string;
  /** For people: the folder name. */
  name: string;
  /** Shipped with the app (the demo model) rather than added by the user. */
  bundled: boolean;
  /** The model's own image size, used when a request leaves width/height out. */
  width: number;
  height: number;
}

/** A LoRA in the library (a card). */
export interface LoraEntry {
  /** Stable id in the library. */
  id: string;
  /** The file on the host's disk; pass it in `GenerateRequest.loras`. */
  path: string;
  name: string;
  /** 'sd1', 'sd2', 'sdxl', or the family its metadata names (e.g. 'glyph-sd-v1'); 'unknown' */
  baseModel: string;
  /** The most common rank; null when the file has no low-rank modules. */
  rank: number | null;
  triggerWords: string[];
  category: LoraCategory | null;
  /** sha256 of the file, to match the LoRAs an image record names. */
  sha256: string;
  /** URL of its preview image, or null. */
  previewUrl: string | null;
  /** The file is gone from where it was: shown, not usable. */
  missing: boolean;
  /** Its measured frequency class, per model it was measured on (remembered by the library). */
  frequency: LoraFrequency[];
  /** The user's class, which wins over the measured one; null: the measured one. */
  classOverride: FrequencyClass | null;
}

/** What a measurement found for a LoRA on one model. */
export interface LoraFrequency {
  /** The `ModelSummary.id` it was measured on. */
  model: string;
  /** High-band statistic of the LoRA's images minus the base model's (docs/spectral.md). */
  dH: number;
  /** H when dH is above the threshold. */
  class: FrequencyClass;
  /** Image pairs the profile is the mean of. */
  pairs: number;
}

/** One LoRA's frequency profile, for the spectra plot. */
export interface LoraSpectrum {
  loraId: string;
  name: string;
  dH: number;
  /** As measured; the user's class is `LoraEntry.classOverride`. */
  class: FrequencyClass;
  /** Normalised radial profile of the LoRA's images (mean over the pairs), ring 0 (the DC term) first. */
  radial: number[];
  /** The same of the base model's images, from the same prompt and seeds. */
  baseRadial: number[];
  /** Read from the cache: no image was made. */
  cached: boolean;
}

export interface SpectraResult {
  model: string;
  /** Image pairs each profile is the mean of. */
  pairs: number;
  /** dH above this is class H. */
  threshold: number;
  /** In the order asked for. */
  loras: LoraSpectrum[];
  /**
   * The `LoraEntry.id`s in the engine's frequency order (`freq`: class H by dH, largest first, then
   * class L by dH, largest first), with the user's classes.
   */
  frequencyOrder: string[];
}

export interface LoraImport {
  added: LoraEntry[];
  /** Files that could not be read as LoRAs, each with the reason in one line. */
  failed: { file: string; message: string }[];
}

/** Settings read back from an image (Chord's record, or A1111's infotext). */
export interface ImageSettings {
  prompt: string;
  negativePrompt: string;
  steps?: number;
  cfg?: number;
  sampler?: Sampler;
  seed?: number;
  width?: number;
  height?: number;
  /** LoRAs by name and weight; `path` when the library holds the same file. */
  loras: { name: string; weight: number; path: string | null }[];
  method?: string;
  methodOptions?: Record<string, number | boolean>;
  /** Where the settings came from. */
  source: 'chord' | 'a1111';
  /** Regional images: their regions, in order. */
  regions?: ImageRegion[];
  /** Chord images: the order the method ran the LoRAs in, as indices into `loras` (Reuse puts the stack in this order). */
  order?: number[];
  /** Chord images: the version of the engine that made the image. */
  engineVersion?: string;
}

/** A region an image was made with: its box (fractions from the top-left), prompts, bound LoRAs. */
export interface ImageRegion {
  box: [number, number, number, number];
  prompt: string;
  negative: string;
  /** the LoRAs bound to it, as indices into `ImageSettings.loras` */
  loras: number[];
}

/** One denoising step as the image's composition method ran it; LoRAs as indices into `ImageSettings.loras`. */
export interface ImageStep {
  active: number[];
  dominant: number | null;
  /** LoRAs whose cached deep features were computed afresh (a full pass) at this step */
  refreshed: number[];
  /** UNet evaluations of one CFG row pair: full passes and shallow (cached) passes */
  full: number;
  shallow: number;
}

/** What the composition method did at each step, and what a shallow pass costs, for the step timeline. */
export interface ImageStepLog {
  steps: ImageStep[];
  /** a shallow pass in full-pass equivalents (measured per model; see `shallowCostBasis`) */
  shallowCost: number;
  /** where `shallowCost` comes from, in a few words */
  shallowCostBasis: string;
}

export interface GalleryImage {
  /** File name in the gallery folder; the id for `deleteImage`. */
  name: string;
  url: string;
  width: number;
  height: number;
  /** ms since the epoch */
  createdAt: number;
  settings: ImageSettings | null;
  /** Where the file is on the host's disk (for "reveal"). */
  file: string;
  /** The per-step log of methods other than Merge (Switch, Composite, CMLoRA, ...), when the record has one. */
  stepLog?: ImageStepLog;
}

export type JobState = 'queued' | 'running';

export interface QueuedJob {
  jobId: string;
  request: GenerateRequest;
  state: JobState;
  /** Images of the batch already saved (a restarted job continues after them). */
  imagesDone: number;
  createdAt: number;
}

/** A generation accepted into the queue; its progress arrives as `JobEvent`s. */
export interface JobTicket {
  jobId: string;
}

/** A cell of a comparison: `pending` while its job is queued or running. */
export type ComparisonCellState = 'pending' | 'done' | 'failed' | 'cancelled';

export interface ComparisonCell {
  row: number;
  column: number;
  /** its job in the queue */
  jobId: string;
  state: ComparisonCellState;
  /** the image once made; null before, after a failure, or when it was deleted from the gallery */
  image: GalleryImage | null;
  /** the LoRA names in the order the method took them (from the image's record) */
  order: string[] | null;
  /** why the cell failed or was cancelled, in one line */
  error: string | null;
}

export interface ComparisonRow {
  /** an order rule, or one permutation of the stack */
  kind: 'freq' | 'reverse' | 'user' | 'category' | 'permutation';
  /** the `order` each cell of the row was queued with */
  order: string;
  /** the LoRA names in order, when known (a rule's order is known once a cell of the row is made) */
  names: string[] | null;
  /** the row's label (also in the exported grid) */
  label: string;
}

export interface ComparisonColumn {
  method: string;
  label: string;
  options: Record<string, number | boolean>;
}

/** The last exported grid PNG of a comparison. */
export interface ComparisonGrid {
  name: string;
  /** where the page can load or download it; null where the host serves no such URL */
  url: string | null;
  /** where the file is on the host's disk */
  file: string;
  width: number;
  height: number;
  cellWidth: number;
  cellHeight: number;
}

/** One stack, prompt and seed as a grid of orderings (rows) x methods (columns). */
export interface Comparison {
  id: string;
  /** ms since the epoch */
  createdAt: number;
  /** what every cell shares; the seed is fixed */
  settings: Omit<GenerateRequest, 'batchCount' | 'method' | 'order'> & { seed: number };
  /** the stack's LoRA names, in the stack's order */
  loras: string[];
  rows: ComparisonRow[];
  columns: ComparisonColumn[];
  /** row-major: cells[row * columns.length + column] */
  cells: ComparisonCell[];
  grid: ComparisonGrid | null;
}

export type JobPhase = 'loading' | 'denoising' | 'decoding';

/** `image` is the 0-based index within the batch. */
export type JobEvent =
  | { type: 'queue'; jobs: QueuedJob[] }
  | {
      type: 'progress';
      jobId: string;
      image: number;
      images: number;
      phase: JobPhase;
      step: number;
      steps: number;
      /** since this image started */
      elapsedMs: number;
      /** a data: URL of the denoising so far (small), when there is one */
      preview?: string;
    }
  | { type: 'image'; jobId: string; image: number; item: GalleryImage }
  /** Something the engine did differently from what was asked (e.g. ran on the CPU instead). */
  | { type: 'notice'; code: string; message: string }
  | { type: 'done'; jobId: string }
  | { type: 'cancelled'; jobId: string }
  | { type: 'failed'; jobId: string; error: ApiErrorData }
  /** A comparison changed (a cell finished, failed or was cancelled; a grid was exported). */
  | { type: 'comparison'; comparison: Comparison }
  /** Measuring frequency profiles (`measureSpectra`): LoRA `lora` of `loras`, image `image` of `images` (0 of 0: from the cache). */
  | { type: 'spectra'; loraId: string; lora: number; loras: number; image: number; images: number };

export type JobEventListener = (event: JobEvent) => void;
export type Unsubscribe = () => void;

// ---------------------------------------------------------------------------------------------
// The API

/** What the UI can ask for. Every method rejects with an `ApiError` whose message a user can act on. */
export interface ChordApi {
  getInfo(): Promise<AppInfo>;
  listModels(): Promise<ModelSummary[]>;
  /** Adds a diffusers-ONNX model folder on the host's disk (validated; referenced, not copied). */
  addModel(path: string): Promise<ModelSummary>;
  /** Forgets a model folder the user added (bundled models stay). */
  removeModel(id: string): Promise<void>;
  listLoras(): Promise<LoraEntry[]>;
  /** Adds LoRA files the host can read by path (Electron: files are referenced where they are). */
  addLoras(paths: string[]): Promise<LoraImport>;
  updateLora(id: string, patch: LoraPatch): Promise<LoraEntry>;
  removeLora(id: string): Promise<void>;
  /** Validates and queues; resolves as soon as the job is accepted. */
  generate(request: GenerateRequestInput): Promise<JobTicket>;
  /** Stops a queued or running job; a finished or unknown job is left as it is. */
  cancel(jobId: string): Promise<void>;
  listQueue(): Promise<QueuedJob[]>;
  /** Moves a queued job one place earlier (-1) or later (1). */
  moveJob(jobId: string, offset: -1 | 1): Promise<void>;
  listGallery(): Promise<GalleryImage[]>;
  deleteImage(name: string): Promise<void>;
  /** Shows the image's file in the system's file manager (on the machine Chord runs on). */
  revealImage(name: string): Promise<void>;
  /** The settings stored in a PNG's bytes. */
  imageSettings(png: Uint8Array): Promise<ImageSettings>;
  /** Events of every job, for as long as the listener is subscribed. */
  onJobEvent(listener: JobEventListener): Unsubscribe;
  /** Plans a comparison and queues each of its cells as a job (all or none); resolves once queued. */
  startComparison(request: ComparisonRequestInput): Promise<Comparison>;
  /** Every comparison, newest first. */
  listComparisons(): Promise<Comparison[]>;
  /** Composes the comparison's cells into one labelled PNG in the data folder. */
  exportComparison(id: string): Promise<ComparisonGrid>;
  /** Forgets a comparison and its exported grid (its images stay in the gallery; queued cells stay queued). */
  deleteComparison(id: string): Promise<void>;
  /**
   * The frequency profiles of library LoRAs on a model, measured in the engine (seconds per LoRA,
   * progress as `spectra` events) or read from its cache; each class is remembered in the library.
   */
  measureSpectra(request: SpectraRequest): Promise<SpectraResult>;
}

/** What a transport adds for files the user dropped (their paths, or an upload in a browser). */
export interface DroppedFiles {
  /** Adds dropped LoRA files to the library. */
  addLoraFiles(files: File[]): Promise<LoraImport>;
}

/** The request/response methods; `onJobEvent` is a stream, carried separately. */
export const API_METHODS = [
  'getInfo',
  'listModels',
  'addModel',
  'removeModel',
  'listLoras',
  'addLoras',
  'updateLora',
  'removeLora',
  'generate',
  'cancel',
  'listQueue',
  'moveJob',
  'listGallery',
  'deleteImage',
  'revealImage',
  'imageSettings',
  'startComparison',
  'listComparisons',
  'exportComparison',
  'deleteComparison',
  'measureSpectra',
] as const;
export type ApiMethod = (typeof API_METHODS)[number];

export type ApiResult<M extends ApiMethod> = Awaited<ReturnType<ChordApi[M]>>;

/**
 * What a transport carries (and what Electron exposes as `window.chord`): the same methods,
 * each resolving to a `Reply` instead of rejecting. `undefined` results travel as `null`.
 */
export type ChordBridge = {
  [M in ApiMethod]: (...args: Parameters<ChordApi[M]>) => Promise<Reply<WireValue<ApiResult<M>>>>;
} & Pick<ChordApi, 'onJobEvent'> & {
    addLoraFiles(files: File[]): Promise<Reply<LoraImport>>;
  };

type WireValue<T> = T extends void ? null : T;

// ---------------------------------------------------------------------------------------------
// Errors across the boundary

/** A ChordError as data. `code` is a `ChordErrorCode` (src/engine/errors.ts), or 'INTERNAL' for a bug. */
export interface ApiErrorData {
  code: string;
  message: string;
  hint?: string;
}

export type Reply<T> = { ok: true; value: T } | { ok: false; error: ApiErrorData };

/** The renderer-side face of a host's ChordError. */
export class ApiError extends Error {
  readonly code: string;
  readonly hint?: string;

  constructor(data: ApiErrorData) {
    super(data.message);
    this.name = 'ApiError';
    this.code = data.code;
    this.hint = data.hint;
  }

  /** One line for a status bar or toast: the message, then what to do. */
  userText(): string {
    return this.hint ? `${this.message} ${this.hint}` : this.message;
  }
}

export function unwrapReply<T>(reply: Reply<T>): T {
  if (reply.ok) return reply.value;
  throw new ApiError(reply.error);
}

/** Validates a generate request; a failure is one line naming the first bad field. */
export function parseGenerateRequest(input: unknown): Reply<GenerateRequest> {
  return parseWith(GenerateRequestSchema, input, 'Invalid generation settings');
}

export function parseJobId(input: unknown): Reply<string> {
  return parseWith(JobIdSchema, input, 'Invalid job');
}

/** Validates any argument with its schema; `what` starts the one-line message. */
export function parseWith<S extends v.GenericSchema>(
  schema: S,
  input: unknown,
  what: string,
): Reply<v.InferOutput<S>> {
  const result = v.safeParse(schema, input);
  if (result.success) return { ok: true, value: result.output };
  return {
    ok: false,
    error: {
      code: 'BAD_ARGUMENT',
      message: `${what}: ${describeIssues(result.issues)}.`,
      hint: 'Fix that setting and try again.',
    },
  };
}

function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  const [first] = issues;
  if (!first) return 'unknown problem';
  // Unknown keys are reported as a type mismatch on the key ("Expected never"): name the key.
  const where = v.getDotPath(first);
  let line = first.message;
  if (where && first.kind === 'schema' && first.expected === 'never') line = `unknown setting "${where}"`;
  else if (where && first.input === undefined) line = `${where} is missing`;
  return issues.length > 1 ? `${line} (and ${issues.length - 1} more)` : line;
}
