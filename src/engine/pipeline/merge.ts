/**
 * Merge (docs/composition.md): every LoRA active at once at its own weight, W + sum_k s_k dW_k (a sum,
 * not an average). One UNet pass per step; the text encoder also sees all LoRAs.
 */
import type { LoraWeights } from '../model/model';
import type { CompositionMethod, NoisePrediction, UnetPass } from './composition';

export class Merge implements CompositionMethod {
  readonly name = 'merge' as const;
  readonly options = {};

  /** `weights[k]`: the user weight of LoRA k (the file's alpha/rank is applied by the model) */
  constructor(private readonly weights: LoraWeights) {}

  promptWeights(): LoraWeights {
    return this.weights;
  }

  predict(_step: number, _totalSteps: number, unet: UnetPass): Promise<NoisePrediction> {
    return unet(this.weights);
  }
}
