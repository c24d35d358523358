/**
 * How several LoRAs are combined during denoising (docs/composition.md). A method decides, per
 * step, which UNet calls to make with which LoRA weights and how to combine their noise
 * predictions; the denoising loop (txt2img.ts) never changes when a method is added: a new method
 * is one new file implementing this interface, plus one entry in the registry (methods.ts).
 */
import type { LoraWeights, UnetDepth, UnetOutput, UnetRun } from '../model/model';
import type { RegionalLayout } from '../model/regional-pass';
import type { FloatTensor } from '../tensor';

/** The two halves of a classifier-free-guidance batch, each [1, C, h, w]. */
export interface NoisePrediction {
  uncond: Float32Array;
  cond: Float32Array;
}

/** The deep feature of one LoRA configuration on the CFG pair: [2, ...], uncond row first. */
export interface DeepFeature {
  data: Float32Array;
  dims: readonly number[];
}

/**
 * One UNet call of the current step: every LoRA configuration (the weight of each LoRA, 0 = off)
 * is evaluated on the CFG pair (uncond, cond), so n configurations are one batched call of 2n
 * rows (split into several calls only when the batch would not fit in memory).
 */
export interface UnetRequest {
  configs: readonly LoraWeights[];
  /** 'full' (default); 'fill': also return each configuration's deep feature; 'shallow': from `deep` */
  depth?: UnetDepth;
  /** 'shallow' only: one cached deep feature per configuration */
  deep?: readonly DeepFeature[];
  /**
   * One text context per configuration ([2, seq, C'], uncond row first) instead of the prompt's:
   * the per-region-pass method runs each region with its own prompt.
   */
  contexts?: readonly FloatTensor[];
  /** regional attention (docs/regional.md): every configuration runs with this context and layout */
  regional?: { context: FloatTensor; layout: RegionalLayout };
}

export interface UnetResult {
  /** one per configuration, in order */
  predictions: NoisePrediction[];
  /** 'fill' only: one per configuration */
  deep?: DeepFeature[];
}

/** Provided by the loop; a method may call it any number of times per step. */
export type UnetCall = (request: UnetRequest) => Promise<UnetResult>;

/** What a method did in one step (for the step log and the compare view). */
export interface MethodStep {
  /** before guidance */
  prediction: NoisePrediction;
  /** indices of the LoRAs that contributed to this step */
  active: readonly number[];
  /** the LoRA weighted up this step (CMLoRA) */
  dominant?: number;
  /** LoRAs whose cache was refreshed by a full pass this step (CMLoRA) */
  refreshed?: readonly number[];
}

/** A prompt, its negative and the LoRA weights it is encoded with (a region's). */
export interface PromptRequest {
  prompt: string;
  negative: string;
  weights: LoraWeights;
}

/** What a method may do once per image, before the first step (regional composition). */
export interface MethodSetup {
  /** the prompt's context as the loop encoded it: [2, seq, C'], uncond row first */
  context: FloatTensor;
  /** the method's own prompts (`prompts()`) as the loop encoded them: one [2, 77 n, C'] context each, in order */
  prompts: readonly FloatTensor[];
  /** the seeded initial latent [C, h, w] (already scaled by the scheduler's init sigma) */
  latents: Float32Array;
  /** [1, C, h, w] */
  latentDims: readonly number[];
  /** the first step's timestep and model input */
  timestep: number;
  modelInput(latents: Float32Array): Float32Array;
  /** the model, for the regional graph and one-off UNet passes */
  model: { useRegional(on?: boolean): Promise<void>; runUnet(run: UnetRun): Promise<UnetOutput> };
}

export interface CompositionMethod {
  /** the registry name, stored in image records */
  readonly name: string;
  /** settings as used, stored in image records (e.g. { tau: 5 } for Switch) */
  readonly options: Readonly<Record<string, number | string | boolean>>;
  /** the order the method takes the LoRAs in (indices into the stack) */
  readonly order: readonly number[];
  /** LoRA weights while the prompts are encoded */
  promptWeights(): LoraWeights;
  /**
   * Optional: prompts the method needs besides the image's own (each region's), each with its
   * negative and LoRA weights. The loop encodes them in the same text-encoder call as the image's
   * prompt and hands them to `prepare`.
   */
  prompts?(): readonly PromptRequest[];
  /**
   * Called before the first step of every image (a method keeps per-image state, such as caches).
   * `cachedPasses`: whether the UNet can run shallow passes; `latentDims`: [1, C, h, w].
   */
  begin(totalSteps: number, cachedPasses: boolean, latentDims?: readonly number[]): void;
  /**
   * Optional, once per image before the first step (after `begin`): may use its encoded prompts and
   * return a replacement initial latent (regional composition's latent re-initialisation).
   */
  prepare?(setup: MethodSetup): Promise<Float32Array | undefined>;
  /** Whether the method would use shallow passes (the loop then asks the model for them). */
  readonly wantsCachedPasses: boolean;
  /** Step `step` (0-based) of `totalSteps`. */
  predict(step: number, totalSteps: number, unet: UnetCall): Promise<MethodStep>;
}

/** Weights with only LoRA `k` on, at `weight`. */
export function alone(count: number, k: number, weight: number): number[] {
  const w = new Array<number>(count).fill(0);
  w[k] = weight;
  return w;
}
