/**
 * Composite (Zhong et al. 2024, docs/composition.md): every step, each LoRA alone gives u_k, c_k
 * on the CFG pair; u and c are their equal-weight means, and guidance follows as usual. The text
 * encoder runs once with all LoRAs active. N evaluations per step, made as one batched UNet call
 * of 2N rows (the loop splits it when it would not fit in memory).
 */
import { mean } from '../tensor';
import type { LoraWeights } from '../model/model';
import { alone, type CompositionMethod, type MethodStep, type NoisePrediction, type UnetCall } from './composition';

/** The equal-weight mean of several predictions, half by half. */
export function meanPrediction(predictions: readonly NoisePrediction[]): NoisePrediction {
  return { uncond: mean(predictions.map((p) => p.uncond)), cond: mean(predictions.map((p) => p.cond)) };
}

export class Composite implements CompositionMethod {
  readonly name = 'composite';
  readonly options = {};
  readonly wantsCachedPasses = false;

  constructor(
    private readonly weights: LoraWeights,
    readonly order: readonly number[],
  ) {}

  promptWeights(): LoraWeights {
    return this.weights;
  }

  begin(): void {}

  async predict(_step: number, _totalSteps: number, unet: UnetCall): Promise<MethodStep> {
    const { predictions } = await unet({ configs: this.order.map((k) => alone(this.weights.length, k, this.weights[k])) });
    return { prediction: meanPrediction(predictions), active: this.order };
  }
}
