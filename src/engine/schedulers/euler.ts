/**
 * Euler: the first-order solver of the probability-flow ODE in Karras et al. 2022's
 * variance-exploding form x = x0 + sigma * eps (as diffusers' EulerDiscreteScheduler with its
 * defaults: no churn, linear sigma interpolation, final sigma 0). The UNet was trained on the
 * variance-preserving x / sqrt(sigma^2 + 1), hence `scaleModelInput`.
 */
import type { PredictionType, SchedulerConfig } from './config';
import {
  checkStepArgs,
  checkStepCount,
  checkStepIndex,
  interpolateAtTimestep,
  maxInferenceSteps,
  spacedTimesteps,
  trainingSchedule,
  type TrainingSchedule,
} from './schedule';
import type { NoiseSource, Scheduler } from './types';

/** Timesteps and their sigmas (one more sigma than steps: the final 0). */
export interface SigmaSchedule {
  timesteps: Float32Array;
  sigmas: Float64Array;
}

export function eulerSigmaSchedule(config: SchedulerConfig, training: TrainingSchedule, steps: number): SigmaSchedule {
  const ts = spacedTimesteps(config.timestepSpacing, config.numTrainTimesteps, steps, config.stepsOffset, {
    fractional: true,
    skipZero: false,
  });
  const sigmas = new Float64Array(steps + 1);
  for (let i = 0; i < steps; i++) sigmas[i] = interpolateAtTimestep(training.sigmas, ts[i]);
  return { timesteps: Float32Array.from(ts), sigmas };
}

/**
 * Leading spacing never starts at the noisiest timestep, so its start is scaled as the VP sample
 * at that level (sqrt(sigma^2 + 1)); linspace/trailing start from pure noise at sigma_max.
 */
export function eulerInitNoiseSigma(config: SchedulerConfig, sigmas: Float64Array): number {
  let max = 0;
  for (const s of sigmas) max = Math.max(max, s);
  return config.timestepSpacing === 'leading' ? Math.sqrt(max * max + 1) : max;
}

export function scaleBySigma(sample: Float32Array, sigma: number): Float32Array {
  const scale = 1 / Math.sqrt(sigma * sigma + 1);
  const out = new Float32Array(sample.length);
  for (let k = 0; k < sample.length; k++) out[k] = sample[k] * scale;
  return out;
}

/** The denoised estimate x0 at noise level sigma (VE form), from an epsilon or v prediction. */
export function predictOriginalVE(
  prediction: PredictionType,
  modelOutput: Float32Array,
  sample: Float32Array,
  sigma: number,
): Float64Array {
  const x0 = new Float64Array(sample.length);
  if (prediction === 'epsilon') {
    for (let k = 0; k < x0.length; k++) x0[k] = sample[k] - sigma * modelOutput[k];
  } else {
    // v = alpha * eps - sigma_vp * x0 on the VP sample x / sqrt(sigma^2 + 1)
    const c = sigma * sigma + 1;
    const cOut = -sigma / Math.sqrt(c);
    for (let k = 0; k < x0.length; k++) x0[k] = modelOutput[k] * cOut + sample[k] / c;
  }
  return x0;
}

/**
 * What Euler and Euler ancestral share: the sigma schedule, the initial noise scale and the input
 * scaling. Each subclass only says how one step moves from sigma to the next.
 */
export abstract class EulerFamilyScheduler implements Scheduler {
  abstract readonly name: 'euler' | 'euler_a';
  abstract readonly stochastic: boolean;
  private readonly training: TrainingSchedule;
  protected schedule: SigmaSchedule = { timesteps: new Float32Array(0), sigmas: new Float64Array(1) };
  private noiseSigma = 1;

  constructor(protected readonly config: SchedulerConfig) {
    this.training = trainingSchedule(config);
  }

  get timesteps(): Float32Array {
    return this.schedule.timesteps;
  }

  /** sigma per step plus the final 0 */
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

  abstract step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise?: NoiseSource): Float32Array;
}

export class EulerScheduler extends EulerFamilyScheduler {
  readonly name = 'euler' as const;
  readonly stochastic = false;

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array): Float32Array {
    checkStepArgs(this.name, this.timesteps.length, stepIndex, modelOutput, sample);
    const sigma = this.schedule.sigmas[stepIndex];
    const sigmaNext = this.schedule.sigmas[stepIndex + 1];
    const x0 = predictOriginalVE(this.config.predictionType, modelOutput, sample, sigma);
    // x_next = x + (dx/dsigma) * (sigmaNext - sigma), with dx/dsigma = (x - x0) / sigma
    const ratio = (sigmaNext - sigma) / sigma;
    const out = new Float32Array(sample.length);
    for (let k = 0; k < out.length; k++) out[k] = sample[k] + (sample[k] - x0[k]) * ratio;
    return out;
  }
}
