/**
 * The one interface every sampler implements (diffusers' scheduler shape, in TypeScript). A
 * pipeline only ever does:
 *
 *   scheduler.setTimesteps(steps)
 *   x = initialNoise * scheduler.initNoiseSigma
 *   for i in 0..timesteps.length-1:
 *     eps = unet(scheduler.scaleModelInput(x, i), scheduler.timesteps[i], ...)
 *     x = scheduler.step(eps, i, x, noise)
 *
 * Steps are addressed by index, not by timestep value, so schedules with repeated timesteps
 * (Karras at high step counts) stay unambiguous.
 */

export const SAMPLER_NAMES = ['euler', 'euler_a', 'ddim', 'dpmpp_2m', 'dpmpp_2m_karras', 'lcm'] as const;

export type SamplerName = (typeof SAMPLER_NAMES)[number];

/** Returns fresh standard-normal noise of the latent's length on each call (see `noise.ts`). */
export type NoiseSource = () => Float32Array;

export interface Scheduler {
  readonly name: SamplerName;
  /** True when `step` injects fresh noise and therefore needs a `NoiseSource` (euler_a, lcm). */
  readonly stochastic: boolean;
  /** Chooses the inference schedule; resets any multistep history. */
  setTimesteps(steps: number): void;
  /** The model's timestep input per step, in denoising order (empty until `setTimesteps`). */
  readonly timesteps: Float32Array;
  /** Standard deviation of the initial latent noise: multiply unit noise by this. */
  readonly initNoiseSigma: number;
  /** The UNet input for step `stepIndex`. Schedulers that need no scaling return `sample` itself. */
  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array;
  /** One denoising step; returns the sample for the next step as a new array. */
  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise?: NoiseSource): Float32Array;
}
