/**
 * What the app (Electron main, `chord serve`) shows and is asked for: the LoRA library, the queue,
 * the gallery. These mirror the API contract in src/shared/api.ts field for field (the engine
 * imports nothing outside itself); a type test fails if the two drift apart.
 */
import type { LoraCategory } from '../png/record';
import type { FrequencyClass } from '../spectral/spectrum';

export type { LoraCategory, FrequencyClass };

export type AppSampler = 'euler' | 'euler_a' | 'ddim' | 'dpmpp_2m' | 'dpmpp_2m_karras' | 'lcm';

/** A validated request from the app: the engine's GenerateRequest minus where images go. */
export interface AppGenerateRequest {
  prompt: string;
  negativePrompt: string;
  model: string;
  loras: { path: string; weight: number }[];
  steps: number;
  cfg: number;
  sampler: AppSampler;
  seed?: number;
  width?: number;
  height?: number;
  batchCount: number;
  method: { name: string; options?: Record<string, number | boolean> };
  order?: string;
  provider: 'auto' | 'cpu' | 'cuda' | 'dml' | 'coreml' | 'webgpu';
  highFrequency?: string[];
  regions?: AppRegionRequest[];
}

/** A region of a regional request (engine RegionRequest, with the defaults filled in). */
export interface AppRegionRequest {
  box: [number, number, number, number];
  prompt: string;
  negative: string;
  loras: { path: string; weight: number }[];
}

export interface MethodOptionInfo {
  name: string;
  kind: 'int' | 'number' | 'boolean';
  min?: number;
  max?: number;
  default: number | boolean;
  description: string;
}

export interface MethodPresetInfo {
  name: string;
  label: string;
  description: string;
  options: Record<string, number | boolean>;
}

export interface MethodInfo {
  name: string;
  label: string;
  summary: string;
  cost: string;
  options: MethodOptionInfo[];
  presets: MethodPresetInfo[];
  regional: boolean;
}

export interface AppInfo {
  version: string;
  engine: { version: string; providers: string[]; methods: MethodInfo[] };
}

export interface ModelSummary {
  id: string;
  name: string;
  bundled: boolean;
  width: number;
  height: number;
}

export interface LoraEntry {
  id: string;
  path: string;
  name: string;
  baseModel: string;
  rank: number | null;
  triggerWords: string[];
  category: LoraCategory | null;
  sha256: string;
  previewUrl: string | null;
  missing: boolean;
  frequency: LoraFrequency[];
  classOverride: FrequencyClass | null;
}

export interface LoraFrequency {
  model: string;
  dH: number;
  class: FrequencyClass;
  pairs: number;
}

export interface SpectraRequest {
  model: string;
  loras: string[];
}

export interface LoraSpectrum {
  loraId: string;
  name: string;
  dH: number;
  class: FrequencyClass;
  radial: number[];
  baseRadial: number[];
  cached: boolean;
}

export interface SpectraResult {
  model: string;
  pairs: number;
  threshold: number;
  loras: LoraSpectrum[];
  frequencyOrder: string[];
}

export interface LoraImport {
  added: LoraEntry[];
  failed: { file: string; message: string }[];
}

export interface LoraPatch {
  category?: LoraCategory | null;
  triggerWords?: string[];
  classOverride?: FrequencyClass | null;
}

export interface ImageSettings {
  prompt: string;
  negativePrompt: string;
  steps?: number;
  cfg?: number;
  sampler?: AppSampler;
  seed?: number;
  width?: number;
  height?: number;
  loras: { name: string; weight: number; path: string | null }[];
  method?: string;
  methodOptions?: Record<string, number | boolean>;
  source: 'chord' | 'a1111';
  regions?: ImageRegion[];
  /** Chord images: the order the method ran the LoRAs in, as indices into `loras` (Reuse puts the stack in this order). */
  order?: number[];
  /** Chord images: the engine version that made the image */
  engineVersion?: string;
}

export interface ImageRegion {
  box: [number, number, number, number];
  prompt: string;
  negative: string;
  /** indices into `ImageSettings.loras` */
  loras: number[];
}

export interface ImageStep {
  active: number[];
  dominant: number | null;
  refreshed: number[];
  full: number;
  shallow: number;
}

export interface ImageStepLog {
  steps: ImageStep[];
  shallowCost: number;
  shallowCostBasis: string;
}

export interface GalleryImage {
  name: string;
  url: string;
  width: number;
  height: number;
  createdAt: number;
  settings: ImageSettings | null;
  file: string;
  stepLog?: ImageStepLog;
}

export interface QueuedJob {
  jobId: string;
  request: AppGenerateRequest;
  state: 'queued' | 'running';
  imagesDone: number;
  createdAt: number;
}

export interface JobError {
  code: string;
  message: string;
  hint?: string;
}

export type JobEvent =
  | { type: 'queue'; jobs: QueuedJob[] }
  | {
      type: 'progress';
      jobId: string;
      image: number;
      images: number;
      phase: 'loading' | 'denoising' | 'decoding';
      step: number;
      steps: number;
      elapsedMs: number;
      preview?: string;
    }
  | { type: 'image'; jobId: string; image: number; item: GalleryImage }
  | { type: 'notice'; code: string; message: string }
  | { type: 'done'; jobId: string }
  | { type: 'cancelled'; jobId: string }
  | { type: 'failed'; jobId: string; error: JobError }
  | { type: 'comparison'; comparison: Comparison }
  | { type: 'spectra'; loraId: string; lora: number; loras: number; image: number; images: number };

/** The compare view's request: what every cell shares, the rows' orderings and the columns' methods. */
export interface AppComparisonRequest {
  settings: Omit<AppGenerateRequest, 'batchCount' | 'method' | 'order'>;
  orders: ('freq' | 'reverse' | 'user' | 'category' | 'all')[];
  methods: { name: string; options?: Record<string, number | boolean> }[];
}

export interface ComparisonCell {
  row: number;
  column: number;
  jobId: string;
  state: 'pending' | 'done' | 'failed' | 'cancelled';
  image: GalleryImage | null;
  order: string[] | null;
  error: string | null;
}

export interface ComparisonRow {
  kind: 'freq' | 'reverse' | 'user' | 'category' | 'permutation';
  order: string;
  names: string[] | null;
  label: string;
}

export interface ComparisonColumn {
  method: string;
  label: string;
  options: Record<string, number | boolean>;
}

export interface ComparisonGrid {
  name: string;
  url: string | null;
  file: string;
  width: number;
  height: number;
  cellWidth: number;
  cellHeight: number;
}

export interface Comparison {
  id: string;
  createdAt: number;
  settings: Omit<AppGenerateRequest, 'batchCount' | 'method' | 'order'> & { seed: number };
  loras: string[];
  rows: ComparisonRow[];
  columns: ComparisonColumn[];
  cells: ComparisonCell[];
  grid: ComparisonGrid | null;
}
