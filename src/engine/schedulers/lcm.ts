/**
 * LCM multistep sampling (Luo et al. 2023, "Latent Consistency Models", algorithm 3; diffusers'
 * LCMScheduler). The consistency function f(x, t) = c_skip(t) x + c_out(t) x0(x, t) maps any
 * point of the trajectory to its clean end; each step evaluates it, then re-noises the result to
 * the next timestep with fresh noise (the last step returns f itself).
 *
 * Timesteps come from the distillation grid of `originalInferenceSteps` (50) evenly spaced
 * training steps, not from `timestepSpacing`/`stepsOffset`: e.g. 4 steps -> 999, 759, 499, 259.
 */
import type { SchedulerConfig } from './config';
import { splitPrediction } from './ddim';
import {
  checkStepArgs,
  checkStepCount,
  checkStepIndex,
  drawNoise,
  linspace,
  trainingSchedule,
  type TrainingSchedule,
} from './schedule';
import type { NoiseSource, Scheduler } from './types';

/** sigma_data of the consistency-model parametrisation (Song et al. 2023, appendix C). */
const SIGMA_DATA = 0.5;

export function lcmTimesteps(numTrain: number, originalSteps: number, steps: number): Float32Array {
  const k = Math.floor(numTrain / originalSteps);
  // distillation grid, noisiest first: k*origSteps - 1, ..., 2k - 1, k - 1
  const grid = new Float64Array(originalSteps);
  for (let i = 0; i < originalSteps; i++) grid[i] = (originalSteps - i) * k - 1;
  // `steps` indices evenly spread over the grid (np.linspace without endpoint, floored)
  const picks = linspace(0, originalSteps, steps + 1);
  const out = new Float32Array(steps);
  for (let i = 0; i < steps; i++) out[i] = grid[Math.floor(picks[i])];
  return out;
}

/** The boundary-condition scalings: f(x, 0) = x requires c_skip(0) = 1, c_out(0) = 0. */
export function lcmBoundaryScalings(timestep: number, timestepScaling: number): { cSkip: number; cOut: number } {
  const t = timestep * timestepScaling;
  const d2 = SIGMA_DATA * SIGMA_DATA;
  return { cSkip: d2 / (t * t + d2), cOut: t / Math.sqrt(t * t + d2) };
}

export class LcmScheduler implements Scheduler {
  readonly name = 'lcm' as const;
  readonly stochastic = true;
  readonly initNoiseSigma = 1;
  private readonly training: TrainingSchedule;
  private steps: Float32Array = new Float32Array(0);

  constructor(private readonly config: SchedulerConfig) {
    this.training = trainingSchedule(config);
  }

  get timesteps(): Float32Array {
    return this.steps;
  }

  setTimesteps(steps: number): void {
    // LCM only ever visits its distillation grid, so it cannot take more steps than that grid has
    checkStepCount(this.name, steps, this.config.originalInferenceSteps);
    this.steps = lcmTimesteps(this.config.numTrainTimesteps, this.config.originalInferenceSteps, steps);
  }

  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(this.name, this.steps.length, stepIndex);
    return sample;
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise?: NoiseSource): Float32Array {
    checkStepArgs(this.name, this.steps.length, stepIndex, modelOutput, sample);
    const timestep = this.steps[stepIndex];
    const ac = this.training.alphasCumprod;
    const { x0 } = splitPrediction(this.config, modelOutput, sample, ac[timestep]);
    const { cSkip, cOut } = lcmBoundaryScalings(timestep, this.config.timestepScaling);
    const out = new Float32Array(sample.length);
    const last = stepIndex === this.steps.length - 1;
    if (last) {
      for (let k = 0; k < out.length; k++) out[k] = cOut * x0[k] + cSkip * sample[k];
      return out;
    }
    const z = drawNoise(this.name, noise, sample.length);
    const aNext = ac[this.steps[stepIndex + 1]];
    const sa = Math.sqrt(aNext);
    const sb = Math.sqrt(1 - aNext);
    for (let k = 0; k < out.length; k++) out[k] = sa * (cOut * x0[k] + cSkip * sample[k]) + sb * z[k];
    return out;
  }
}
