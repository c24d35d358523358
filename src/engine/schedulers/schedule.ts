/**
 * Noise-schedule arithmetic shared by the samplers: the training schedule (betas, cumulative
 * alphas, the equivalent sigmas), the three timestep spacings of "Common Diffusion Noise Schedules
 * and Sample Steps are Flawed" (Lin et al. 2023, table 2), Karras sigmas and the argument checks
 * every `step` does. Everything is computed in float64; see docs/schedulers.md for how that
 * differs from diffusers' float32.
 */
import { ChordError } from '../errors';
import type { SchedulerConfig, TimestepSpacing } from './config';

export interface TrainingSchedule {
  /** alpha-bar_t = prod_{s<=t} (1 - beta_s), t = 0..N-1 */
  alphasCumprod: Float64Array;
  /** sigma_t = sqrt((1 - alpha-bar_t) / alpha-bar_t): the same noise level in the variance-exploding view */
  sigmas: Float64Array;
  logSigmas: Float64Array;
}

/** numpy's linspace: element i is start + i * (stop - start) / (num - 1), the last is exactly stop. */
export function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  if (num === 1) {
    out[0] = start;
    return out;
  }
  const step = (stop - start) / (num - 1);
  for (let i = 0; i < num; i++) out[i] = start + i * step;
  out[num - 1] = stop;
  return out;
}

/** Rounds half to even, like numpy's round (so 0.5 -> 0, 2.5 -> 2, 499.5 -> 500). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function trainingBetas(config: SchedulerConfig): Float64Array {
  const n = config.numTrainTimesteps;
  if (config.trainedBetas) return Float64Array.from(config.trainedBetas);
  if (config.betaSchedule === 'linear') return linspace(config.betaStart, config.betaEnd, n);
  // scaled_linear: linear in sqrt(beta), the latent-diffusion schedule
  const roots = linspace(Math.sqrt(config.betaStart), Math.sqrt(config.betaEnd), n);
  return roots.map((r) => r * r);
}

export function trainingSchedule(config: SchedulerConfig): TrainingSchedule {
  const betas = trainingBetas(config);
  const n = betas.length;
  const alphasCumprod = new Float64Array(n);
  const sigmas = new Float64Array(n);
  const logSigmas = new Float64Array(n);
  let product = 1;
  for (let t = 0; t < n; t++) {
    product *= 1 - betas[t];
    alphasCumprod[t] = product;
    sigmas[t] = Math.sqrt((1 - product) / product);
    logSigmas[t] = Math.log(sigmas[t]);
  }
  return { alphasCumprod, sigmas, logSigmas };
}

/**
 * How the samplers differ in picking timesteps (each mirrors its diffusers counterpart):
 * - `fractional`: Euler keeps linspace timesteps unrounded (as float32), others round them.
 * - `skipZero`: DPM-Solver lays `steps + 1` points on the grid and drops the last (t = 0), so its
 *   leading/linspace schedules never include the cleanest timestep.
 */
export interface SpacingStyle {
  fractional: boolean;
  skipZero: boolean;
}

/** Inference timesteps in denoising order (descending), `steps` of them. */
export function spacedTimesteps(
  spacing: TimestepSpacing,
  numTrain: number,
  steps: number,
  stepsOffset: number,
  style: SpacingStyle,
): Float64Array {
  const out = new Float64Array(steps);
  const points = style.skipZero ? steps + 1 : steps;
  if (spacing === 'leading') {
    const ratio = Math.floor(numTrain / points);
    // the offset can push the first timestep past the grid at very high step counts; clamp it
    for (let i = 0; i < steps; i++) out[i] = Math.min((points - 1 - i) * ratio + stepsOffset, numTrain - 1);
  } else if (spacing === 'trailing') {
    // diffusers builds this with np.arange(N, 0, -N/steps), which for some step counts (61, 103,
    // ...) yields one extra entry (timestep -1) through float error; Chord takes exactly `steps`.
    const ratio = numTrain / steps;
    for (let i = 0; i < steps; i++) out[i] = roundHalfEven(numTrain - i * ratio) - 1;
  } else {
    const grid = linspace(0, numTrain - 1, points);
    for (let i = 0; i < steps; i++) {
      const t = grid[points - 1 - i];
      out[i] = style.fractional ? Math.fround(t) : roundHalfEven(t);
    }
  }
  return out;
}

/** Linear interpolation of a function sampled at t = 0, 1, ..., n-1 (np.interp on an integer grid). */
export function interpolateAtTimestep(values: Float64Array, t: number): number {
  const last = values.length - 1;
  if (t <= 0) return values[0];
  if (t >= last) return values[last];
  const lo = Math.floor(t);
  const w = t - lo;
  return w === 0 ? values[lo] : values[lo] + (values[lo + 1] - values[lo]) * w;
}

/** Karras et al. 2022 (eq. 5): sigmas evenly spaced in sigma^(1/rho), rho = 7, from max to min. */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, steps: number, rho = 7): Float64Array {
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  return linspace(0, 1, steps).map((r) => (maxInv + r * (minInv - maxInv)) ** rho);
}

/** The (fractional) training timestep whose sigma is `sigma`, interpolating linearly in log sigma. */
export function sigmaToTimestep(sigma: number, logSigmas: Float64Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  // last index whose log sigma is <= logSigma (0 if none), kept so that index + 1 exists
  let low = 0;
  for (let t = 0; t < logSigmas.length; t++) if (logSigmas[t] <= logSigma) low = t;
  low = Math.min(low, logSigmas.length - 2);
  const w = Math.min(Math.max((logSigmas[low] - logSigma) / (logSigmas[low] - logSigmas[low + 1]), 0), 1);
  return (1 - w) * low + w * (low + 1);
}

/** The most steps any sampler accepts: beyond half the training steps, spacings degenerate. */
export function maxInferenceSteps(config: SchedulerConfig): number {
  return Math.floor(config.numTrainTimesteps / 2);
}

export function checkStepCount(name: string, steps: number, max: number): void {
  if (!Number.isInteger(steps) || steps < 1 || steps > max) {
    throw new ChordError('BAD_ARGUMENT', `${name} needs a whole number of steps from 1 to ${max} (got ${steps}).`);
  }
}

export function checkStepIndex(name: string, steps: number, stepIndex: number): void {
  if (steps === 0) {
    throw new ChordError('BAD_ARGUMENT', `The ${name} sampler has no schedule yet; call setTimesteps(steps) first.`);
  }
  if (!Number.isInteger(stepIndex) || stepIndex < 0 || stepIndex >= steps) {
    throw new ChordError('BAD_ARGUMENT', `Step index ${stepIndex} is outside the ${steps}-step schedule of ${name}.`);
  }
}

/** The argument checks of every `step` call; they cost nothing next to a UNet pass. */
export function checkStepArgs(
  name: string,
  steps: number,
  stepIndex: number,
  modelOutput: Float32Array,
  sample: Float32Array,
): void {
  checkStepIndex(name, steps, stepIndex);
  if (modelOutput.length !== sample.length) {
    throw new ChordError(
      'BAD_ARGUMENT',
      `The model output has ${modelOutput.length} values but the sample has ${sample.length}; they must match.`,
    );
  }
}

/** Draws one noise array and checks it fits the sample. */
export function drawNoise(name: string, noise: (() => Float32Array) | undefined, length: number): Float32Array {
  if (!noise) {
    throw new ChordError('BAD_ARGUMENT', `The ${name} sampler adds fresh noise each step; pass a noise source to step().`);
  }
  const z = noise();
  if (z.length !== length) {
    throw new ChordError('BAD_ARGUMENT', `The noise source gave ${z.length} values for a sample of ${length}.`);
  }
  return z;
}
