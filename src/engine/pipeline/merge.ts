/**
 * Merge (algorithms.md): every LoRA active at once at its own weight, W + sum_k s_k dW_k (a sum,
 * not an average). One UNet pass per step; the text encoder also sees all LoRAs.
 */
import type { LoraWeights } from '../model/model';
import type { CompositionMethod, NoisePrediction, UnetPass } from './composition';

export class Merge implements CompositionMethod {
  readonly name = 'merge' as const;
  readonly options = {};

  /**
   * `weights[k]`: the user weight of LoRA k (the file's alpha/rank is applied by the model);
   * `textEncoderWeights`: the weights while the prompts are encoded, when they differ
   * (`<lora:name:w_te:w_unet>`)
   */
  constructor(
    private readonly weights: LoraWeights,
    private readonly textEncoderWeights: LoraWeights = weights,
  ) {}

  promptWeights(): LoraWeights {
    return this.textEncoderWeights;
  }

  predict(_step: number, _totalSteps: number, unet: UnetPass): Promise<NoisePrediction> {
    return unet(this.weights);
  }
}
