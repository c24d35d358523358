/**
 * Euler ancestral (diffusers' EulerAncestralDiscreteScheduler, k-diffusion's "euler_a"): each step
 * goes deterministically down to sigma_down, then adds fresh noise of size sigma_up, such that
 * sigma_down^2 + sigma_up^2 = sigmaNext^2 (eta = 1). Same sigma schedule as Euler.
 */
import type { SchedulerConfig } from './config';
import { eulerInitNoiseSigma, eulerSigmaSchedule, predictOriginalVE, scaleBySigma, type SigmaSchedule } from './euler';
import {
  checkStepArgs,
  checkStepCount,
  checkStepIndex,
  drawNoise,
  maxInferenceSteps,
  trainingSchedule,
  type TrainingSchedule,
} from './schedule';
import type { NoiseSource, Scheduler } from './types';

export class EulerAncestralScheduler implements Scheduler {
  readonly name = 'euler_a' as const;
  readonly stochastic = true;
  private readonly training: TrainingSchedule;
  private schedule: SigmaSchedule = { timesteps: new Float32Array(0), sigmas: new Float64Array(1) };
  private noiseSigma = 1;

  constructor(private readonly config: SchedulerConfig) {
    this.training = trainingSchedule(config);
  }

  get timesteps(): Float32Array {
    return this.schedule.timesteps;
  }

  get sigmas(): Float64Array {
    return this.schedule.sigmas;
  }

  get initNoiseSigma(): number {
    return this.noiseSigma;
  }

  setTimesteps(steps: number): void {
    checkStepCount(this.name, steps, maxInferenceSteps(this.config));
    this.schedule = eulerSigmaSchedule(this.config, this.training, steps);
    this.noiseSigma = eulerInitNoiseSigma(this.config, this.schedule.sigmas);
  }

  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(this.name, this.timesteps.length, stepIndex);
    return scaleBySigma(sample, this.schedule.sigmas[stepIndex]);
  }

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
