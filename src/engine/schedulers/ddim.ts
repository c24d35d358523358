/**
 * DDIM (Song et al. 2021, eq. 12) with eta = 0: deterministic, works directly on the
 * variance-preserving sample x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps, so no input scaling. As
 * diffusers' DDIMScheduler, except that the step goes to the next timestep of the schedule
 * instead of t - N/steps (identical for the default leading spacing; see docs/schedulers.md).
 */
import type { SchedulerConfig } from './config';
import {
  checkStepArgs,
  checkStepCount,
  checkStepIndex,
  maxInferenceSteps,
  spacedTimesteps,
  trainingSchedule,
  type TrainingSchedule,
} from './schedule';
import type { Scheduler } from './types';

/** x0 and eps from the model output on the VP sample at cumulative alpha `a` (epsilon or v). */
export function splitPrediction(
  config: SchedulerConfig,
  modelOutput: Float32Array,
  sample: Float32Array,
  a: number,
): { x0: Float64Array; eps: Float64Array } {
  const sa = Math.sqrt(a);
  const sb = Math.sqrt(1 - a);
  const x0 = new Float64Array(sample.length);
  const eps = new Float64Array(sample.length);
  for (let k = 0; k < sample.length; k++) {
    if (config.predictionType === 'epsilon') {
      eps[k] = modelOutput[k];
      x0[k] = (sample[k] - sb * modelOutput[k]) / sa;
    } else {
      x0[k] = sa * sample[k] - sb * modelOutput[k];
      eps[k] = sa * modelOutput[k] + sb * sample[k];
    }
  }
  if (config.clipSample) {
    const r = config.clipSampleRange;
    for (let k = 0; k < x0.length; k++) x0[k] = Math.min(Math.max(x0[k], -r), r);
  }
  return { x0, eps };
}

export class DdimScheduler implements Scheduler {
  readonly name = 'ddim' as const;
  readonly stochastic = false;
  readonly initNoiseSigma = 1;
  private readonly training: TrainingSchedule;
  private readonly finalAlphaCumprod: number;
  private steps: Float32Array = new Float32Array(0);

  constructor(private readonly config: SchedulerConfig) {
    this.training = trainingSchedule(config);
    this.finalAlphaCumprod = config.setAlphaToOne ? 1 : this.training.alphasCumprod[0];
  }

  get timesteps(): Float32Array {
    return this.steps;
  }

  setTimesteps(steps: number): void {
    checkStepCount(this.name, steps, maxInferenceSteps(this.config));
    const ts = spacedTimesteps(this.config.timestepSpacing, this.config.numTrainTimesteps, steps, this.config.stepsOffset, {
      fractional: false,
      skipZero: false,
    });
    this.steps = Float32Array.from(ts);
  }

  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(this.name, this.steps.length, stepIndex);
    return sample;
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array): Float32Array {
    checkStepArgs(this.name, this.steps.length, stepIndex, modelOutput, sample);
    const ac = this.training.alphasCumprod;
    const a = ac[this.steps[stepIndex]];
    const aNext = stepIndex + 1 < this.steps.length ? ac[this.steps[stepIndex + 1]] : this.finalAlphaCumprod;
    const { x0, eps } = splitPrediction(this.config, modelOutput, sample, a);
    const sa = Math.sqrt(aNext);
    const sb = Math.sqrt(1 - aNext);
    const out = new Float32Array(sample.length);
    for (let k = 0; k < out.length; k++) out[k] = sa * x0[k] + sb * eps[k];
    return out;
  }
}
