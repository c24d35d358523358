/**
 * Switch (Zhong et al. 2024, docs/composition.md): exactly one LoRA active per step, in the
 * method's order. After the scheduler step of step i, when i > 0 and i % tau == 0, the next LoRA
 * takes over, cycling; so the first block is tau + 1 steps long, as evaluated in the paper. The
 * prompt is encoded with the first LoRA's text-encoder part active. One pass per step.
 */
import type { LoraWeights } from '../model/model';
import { alone, type CompositionMethod, type MethodStep, type UnetCall } from './composition';

/** Which entry of the order is active at step i (0-based), switching every `tau` steps. */
export function switchSlot(step: number, tau: number, count: number): number {
  if (step <= 0) return 0;
  return Math.floor((step - 1) / tau) % count;
}

export class Switch implements CompositionMethod {
  readonly name = 'switch';
  readonly options: { tau: number };
  readonly wantsCachedPasses = false;

  constructor(
    private readonly weights: LoraWeights,
    readonly order: readonly number[],
    tau: number,
  ) {
    this.options = { tau };
  }

  promptWeights(): LoraWeights {
    return alone(this.weights.length, this.order[0], this.weights[this.order[0]]);
  }

  begin(): void {}

  async predict(step: number, _totalSteps: number, unet: UnetCall): Promise<MethodStep> {
    const k = this.order[switchSlot(step, this.options.tau, this.order.length)];
    const { predictions } = await unet({ configs: [alone(this.weights.length, k, this.weights[k])] });
    return { prediction: predictions[0], active: [k] };
  }
}
