/**
 * Messages between the benchmark (parent) and its child processes. Each graph session lives in
 * a child of its own, so its peak RSS is its own and the parent can interleave the
 * configurations of two graphs (ABAB) while only one of them runs at a time.
 */

/** Which graph a graph worker holds. */
export type GraphKind = 'original' | 'lora';

/** The timed configurations, by the graph worker that runs them. */
export const ORIGINAL_CONFIGS = ['bare', 'engine'] as const;
export const LORA_CONFIGS = ['rank0', 'kohya', 'locon', 'steady', 'switch'] as const;
export type OriginalConfig = (typeof ORIGINAL_CONFIGS)[number];
export type LoraConfig = (typeof LORA_CONFIGS)[number];
export type GraphConfig = OriginalConfig | LoraConfig;

export interface OpenRequest {
  type: 'open';
  kind: GraphKind;
  /** the source graph, `<dir>/unet/model.onnx` */
  unetPath: string;
  /** image side in pixels; latents are side / 8 */
  size: number;
  /** where the rewritten graph goes (lora only) */
  cacheDir: string;
  threads?: number;
  /**
   * LoRAs of the 'kohya', 'locon', 'steady' and 'switch' configurations: count x rank (3 x 16:
   * the layers they touch run at rank 48)
   */
  loraCount: number;
  loraRank: number;
}

export interface RunRequest {
  type: 'run';
  config: GraphConfig;
  steps: number;
}

/** Direct costs of a LoRA change (lora worker only). */
export interface CostsRequest {
  type: 'costs';
  /** timed repetitions of building the per-pass feeds (cheap) */
  feedReps: number;
  /** timed repetitions of building a whole new LoRA stack (a new set of LoRAs) */
  stackReps: number;
}

export interface CloseRequest {
  type: 'close';
}

export type GraphRequest = OpenRequest | RunRequest | CostsRequest | CloseRequest;

/** Memory of the worker process, in bytes. */
export interface Memory {
  /** resident set now */
  rss: number;
  /** high-water mark of the resident set so far (process.resourceUsage().maxRSS) */
  maxRss: number;
}

export interface Opened extends Memory {
  type: 'opened';
  /** the graph the session runs (the rewritten one in the cache folder for 'lora') */
  graphPath: string;
  /** making the rewritten graph, 0 when it came from the cache */
  rewriteMs: number;
  rewriteCached: boolean;
  sessionMs: number;
  /** cross-attention width read from the graph (768 for SD 1.x) */
  contextWidth: number;
  latent: [number, number, number];
  /** bytes of model.onnx plus its external weights */
  weightBytes: number;
  /** lora only: layers with a branch, and the width of the gate (every LoRA's rank side by side) */
  branches?: number;
  rank?: number;
  /** lora only: the layers standard kohya LoRAs touch (attention, ff, proj_in/out) */
  kohyaLayers?: number;
}

export interface Ran extends Memory {
  type: 'ran';
  config: GraphConfig;
  /** wall time of the whole block / steps */
  msPerStep: number;
}

export interface Costs extends Memory {
  type: 'costs';
  /** median ms of building one pass's LoRA feeds (gate + down/up) and wrapping them as tensors */
  feedsMs: number;
  /** median ms of building the LoRA stack for a new set of LoRAs */
  stackMs: number;
  /** ONNX Runtime sessions this worker created in all (1 expected) */
  sessionsCreated: number;
  /** every switching step ran on the session object created at open */
  sameSession: boolean;
}

export interface Failed {
  type: 'error';
  message: string;
}

export type GraphReply = Opened | Ran | Costs | Failed;

/** What one fresh image process reports (e, f). */
export interface ImageReport extends Memory {
  type: 'image';
  /** ms from process start to the first line of the worker (node + tsx boot) */
  bootMs: number;
  /** ms from process start until the engine modules were imported */
  importedMs: number;
  /** ms from process start until the first image was saved */
  firstImageMs: number;
  /** the same moment as epoch ms (performance.timeOrigin + firstImageMs), for the parent's clock */
  firstImageAt: number;
  /** engine timings of the first request */
  loadModelMs: number;
  firstImageTotalMs: number;
  /** maxRSS right after the first image */
  maxRssFirst: number;
  /** total ms of each further image (same process, warm) */
  imageMs: number[];
  provider: string;
  width: number;
  height: number;
}

export type ImageReply = ImageReport | Failed;

/** (d) through the engine's API on a whole model folder (Model.useLoras). */
export interface LoraSwitchReport extends Memory {
  type: 'lora-switch';
  /** LoRAs in the first set, and their rank */
  count: number;
  rank: number;
  /** the first useLoras: rewriting both graphs (or taking them from the cache) and their sessions */
  firstUseMs: number;
  /** median UNet pass while the gate switches the active LoRA every pass */
  gatePassMs: number;
  /** median UNet pass with the same weights every pass */
  steadyPassMs: number;
  /** useLoras with another set (one LoRA fewer, so another total rank) */
  setSwitchMs: number;
  /** the first UNet pass after that (ONNX Runtime plans memory for the new shapes) */
  passAfterSetSwitchMs: number;
  /** the UNet and text-encoder sessions are the same objects before and after both kinds of switch */
  sameSessions: boolean;
}

export type LoraSwitchReply = LoraSwitchReport | Failed;
