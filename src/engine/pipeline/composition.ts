/**
 * How several LoRAs are combined during denoising (docs/composition.md). A method decides, per step,
 * which UNet passes to run with which LoRA weights and how to combine their noise predictions;
 * the denoising loop (txt2img.ts) never changes when a method is added: a new method is one new
 * file implementing this interface.
 */
import type { LoraWeights } from '../model/model';

/** The two halves of a classifier-free-guidance batch, each [1, C, h, w]. */
export interface NoisePrediction {
  uncond: Float32Array;
  cond: Float32Array;
}

/**
 * One UNet evaluation of the current step on the CFG batch (uncond, cond), with each LoRA at the
 * given weight (0 = off). Provided by the loop; a method may call it any number of times.
 */
export type UnetPass = (weights: LoraWeights) => Promise<NoisePrediction>;

export interface CompositionMethod {
  /** the name stored in image records */
  readonly name: 'merge' | 'switch' | 'composite' | 'cmlora' | 'regional';
  /** method settings as used, stored in image records (e.g. { tau: 5 } for Switch) */
  readonly options: Readonly<Record<string, number | string | boolean>>;
  /** LoRA weights while the prompts are encoded */
  promptWeights(): LoraWeights;
  /** The noise prediction of step `step` (0-based) of `totalSteps`, before guidance. */
  predict(step: number, totalSteps: number, unet: UnetPass): Promise<NoisePrediction>;
}
