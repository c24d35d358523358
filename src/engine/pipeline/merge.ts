/**
 * Merge (docs/composition.md): every LoRA active at once at its own weight, W + sum_k s_k dW_k (a
 * sum, not an average). One UNet pass per step; the text encoder also sees all LoRAs.
 */
import type { LoraWeights } from '../model/model';
import type { CompositionMethod, MethodStep, UnetCall } from './composition';

export class Merge implements CompositionMethod {
  readonly name = 'merge';
  readonly options = {};
  readonly order: readonly number[];
  readonly wantsCachedPasses = false;

  /**
   * `weights[k]`: the user weight of LoRA k (the file's alpha/rank is applied by the model);
   * `textEncoderWeights`: the weights while the prompts are encoded, when they differ
   * (`<lora:name:w_te:w_unet>`)
   */
  constructor(
    private readonly weights: LoraWeights,
    private readonly textEncoderWeights: LoraWeights = weights,
  ) {
    this.order = weights.map((_, k) => k);
  }

  promptWeights(): LoraWeights {
    return this.textEncoderWeights;
  }

  begin(): void {}

  async predict(_step: number, _totalSteps: number, unet: UnetCall): Promise<MethodStep> {
    const { predictions } = await unet({ configs: [this.weights] });
    return { prediction: predictions[0], active: this.order.filter((k) => this.weights[k] !== 0) };
  }
}
