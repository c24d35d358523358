/**
 * Euler ancestral (diffusers' EulerAncestralDiscreteScheduler, k-diffusion's "euler_a"): each step
 * goes deterministically down to sigma_down, then adds fresh noise of size sigma_up, such that
 * sigma_down^2 + sigma_up^2 = sigmaNext^2 (eta = 1). Same sigma schedule as Euler.
 */
import { EulerFamilyScheduler, predictOriginalVE } from './euler';
import { checkStepArgs, drawNoise } from './schedule';
import type { NoiseSource } from './types';

export class EulerAncestralScheduler extends EulerFamilyScheduler {
  readonly name = 'euler_a' as const;
  readonly stochastic = true;

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise?: NoiseSource): Float32Array {
    checkStepArgs(this.name, this.timesteps.length, stepIndex, modelOutput, sample);
    const sigma = this.schedule.sigmas[stepIndex];
    const sigmaNext = this.schedule.sigmas[stepIndex + 1];
    const sigmaUp = Math.sqrt((sigmaNext * sigmaNext * (sigma * sigma - sigmaNext * sigmaNext)) / (sigma * sigma));
    const sigmaDown = Math.sqrt(sigmaNext * sigmaNext - sigmaUp * sigmaUp);
    const x0 = predictOriginalVE(this.config.predictionType, modelOutput, sample, sigma);
    // the last step (sigmaNext = 0) adds no noise, so it draws none
    const z = sigmaUp > 0 ? drawNoise(this.name, noise, sample.length) : null;
    const ratio = (sigmaDown - sigma) / sigma;
    const out = new Float32Array(sample.length);
    for (let k = 0; k < out.length; k++) {
      out[k] = sample[k] + (sample[k] - x0[k]) * ratio + (z ? z[k] * sigmaUp : 0);
    }
    return out;
  }
}
