/**
 * How several LoRAs are combined during denoising (docs/composition.md). A method decides, per
 * step, which UNet calls to make with which LoRA weights and how to combine their noise
 * predictions; the denoising loop (txt2img.ts) never changes when a method is added: a new method
 * is one new file implementing this interface, plus one entry in the registry (methods.ts).
 */
import type { LoraWeights, UnetDepth } from '../model/model';

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
   * Called before the first step of every image (a method keeps per-image state, such as caches).
   * `cachedPasses`: whether the UNet can run shallow passes; `latentDims`: [1, C, h, w].
   */
  begin(totalSteps: number, cachedPasses: boolean, latentDims?: readonly number[]): void;
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
