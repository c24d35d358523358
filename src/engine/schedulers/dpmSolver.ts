/**
 * DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", algorithm 2) as diffusers'
 * DPMSolverMultistepScheduler with algorithm_type "dpmsolver++", solver_order 2, solver_type
 * "midpoint", lower_order_final and final_sigmas_type "zero": a data-prediction multistep solver
 * in log-SNR time. The first step is first order (no history yet), so is the last (it lands on
 * sigma = 0, where the update is exactly the predicted x0). `karras: true` replaces the spaced
 * timesteps with Karras et al. 2022's sigmas (the "DPM++ 2M Karras" of other tools).
 *
 * Works on the variance-preserving sample, so no input scaling and unit initial noise.
 */
import type { SchedulerConfig } from './config';
import {
  checkStepArgs,
  checkStepCount,
  checkStepIndex,
  karrasSigmas,
  maxInferenceSteps,
  roundHalfEven,
  sigmaToTimestep,
  spacedTimesteps,
  trainingSchedule,
  type TrainingSchedule,
} from './schedule';
import type { Scheduler } from './types';

/** alpha_t, sigma_t (VP) and lambda_t = log(alpha_t / sigma_t) of a VE sigma. */
function vpOf(sigma: number): { alpha: number; sigma: number; lambda: number } {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  const s = sigma * alpha;
  return { alpha, sigma: s, lambda: Math.log(alpha) - Math.log(s) };
}

export class DpmSolverMultistepScheduler implements Scheduler {
  readonly name: 'dpmpp_2m' | 'dpmpp_2m_karras';
  readonly stochastic = false;
  readonly initNoiseSigma = 1;
  private readonly training: TrainingSchedule;
  private steps: Float32Array = new Float32Array(0);
  /** VE sigma per step plus the final 0 */
  private stepSigmas: Float64Array = new Float64Array(1);
  /** the data prediction of the previous step, for the second-order correction */
  private previousX0: Float64Array | null = null;
  private previousIndex = -1;

  constructor(
    private readonly config: SchedulerConfig,
    private readonly karras = false,
  ) {
    this.name = karras ? 'dpmpp_2m_karras' : 'dpmpp_2m';
    this.training = trainingSchedule(config);
  }

  get timesteps(): Float32Array {
    return this.steps;
  }

  get sigmas(): Float64Array {
    return this.stepSigmas;
  }

  setTimesteps(steps: number): void {
    checkStepCount(this.name, steps, maxInferenceSteps(this.config));
    const { sigmas: trainSigmas, logSigmas } = this.training;
    const sigmas = new Float64Array(steps + 1);
    const ts = new Float32Array(steps);
    if (this.karras) {
      // from the noisiest to the cleanest training sigma; timesteps are the nearest (rounded)
      // training timesteps of those sigmas, which the UNet sees while the solver uses the sigmas
      const ks = karrasSigmas(trainSigmas[0], trainSigmas[trainSigmas.length - 1], steps);
      for (let i = 0; i < steps; i++) {
        sigmas[i] = ks[i];
        ts[i] = roundHalfEven(sigmaToTimestep(ks[i], logSigmas));
      }
    } else {
      const spaced = spacedTimesteps(this.config.timestepSpacing, this.config.numTrainTimesteps, steps, this.config.stepsOffset, {
        fractional: false,
        skipZero: true,
      });
      for (let i = 0; i < steps; i++) {
        ts[i] = spaced[i];
        sigmas[i] = trainSigmas[spaced[i]];
      }
    }
    this.steps = ts;
    this.stepSigmas = sigmas;
    this.previousX0 = null;
    this.previousIndex = -1;
  }

  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(this.name, this.steps.length, stepIndex);
    return sample;
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array): Float32Array {
    checkStepArgs(this.name, this.steps.length, stepIndex, modelOutput, sample);
    const s0 = vpOf(this.stepSigmas[stepIndex]);
    const x0 = new Float64Array(sample.length);
    for (let k = 0; k < x0.length; k++) {
      x0[k] =
        this.config.predictionType === 'epsilon'
          ? (sample[k] - s0.sigma * modelOutput[k]) / s0.alpha
          : s0.alpha * sample[k] - s0.sigma * modelOutput[k];
    }
    const history = this.previousIndex === stepIndex - 1 ? this.previousX0 : null;
    this.previousX0 = x0;
    this.previousIndex = stepIndex;

    const out = new Float32Array(sample.length);
    const sigmaNext = this.stepSigmas[stepIndex + 1];
    if (sigmaNext === 0) {
      // first-order update to sigma = 0: exp(-h) = 0 and sigma_t = 0 leave exactly x0
      for (let k = 0; k < out.length; k++) out[k] = x0[k];
      return out;
    }
    const t = vpOf(sigmaNext);
    const h = t.lambda - s0.lambda;
    const decay = t.sigma / s0.sigma;
    const gain = -t.alpha * Math.expm1(-h); // alpha_t * (1 - e^{-h})
    if (!history) {
      for (let k = 0; k < out.length; k++) out[k] = decay * sample[k] + gain * x0[k];
      return out;
    }
    // midpoint second order: D1 = (x0 - x0_prev) / r0 with r0 = h_prev / h, weighted by 1/2
    const s1 = vpOf(this.stepSigmas[stepIndex - 1]);
    const r0 = (s0.lambda - s1.lambda) / h;
    const c1 = (0.5 * gain) / r0;
    for (let k = 0; k < out.length; k++) {
      out[k] = decay * sample[k] + gain * x0[k] + c1 * (x0[k] - history[k]);
    }
    return out;
  }
}
