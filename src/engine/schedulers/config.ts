/**
 * The noise-schedule settings of a model, read from `<model>/scheduler/scheduler_config.json`
 * (diffusers' file; its `_class_name` names the scheduler the model was exported with, but the
 * sampler a user picks is independent of it: only the training schedule below is shared).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as v from 'valibot';
import { ChordError } from '../errors';

export type BetaSchedule = 'linear' | 'scaled_linear';
export type PredictionType = 'epsilon' | 'v_prediction';
export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';

export interface SchedulerConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  /** Explicit training betas; when set, betaStart/betaEnd/betaSchedule are ignored (as in diffusers). */
  trainedBetas: readonly number[] | null;
  predictionType: PredictionType;
  timestepSpacing: TimestepSpacing;
  /** Added to every timestep of the `leading` spacing (1 for SD 1.x/2.x). */
  stepsOffset: number;
  /** DDIM/LCM: the alpha "before" the first training step is 1 (true) or that of step 0 (false). */
  setAlphaToOne: boolean;
  /** DDIM/LCM: clamp the predicted x0 to ±clipSampleRange (pixel-space models; off for latents). */
  clipSample: boolean;
  clipSampleRange: number;
  /** LCM: the distillation schedule length the inference timesteps are picked from. */
  originalInferenceSteps: number;
  /** LCM: timestep multiplier in the boundary-condition scalings c_skip / c_out. */
  timestepScaling: number;
}

/** SD 1.5's own settings (the file shipped with runwayml/stable-diffusion-v1-5). */
export const SD15_SCHEDULER_CONFIG: Readonly<SchedulerConfig> = Object.freeze({
  numTrainTimesteps: 1000,
  betaStart: 0.00085,
  betaEnd: 0.012,
  betaSchedule: 'scaled_linear',
  trainedBetas: null,
  predictionType: 'epsilon',
  timestepSpacing: 'leading',
  stepsOffset: 1,
  setAlphaToOne: false,
  clipSample: false,
  clipSampleRange: 1,
  originalInferenceSteps: 50,
  timestepScaling: 10,
});

/** A valibot message that states the requirement and what was found. */
const needs = (requirement: string) => (issue: v.BaseIssue<unknown>) =>
  `${requirement} (got ${issue.input === undefined ? 'nothing' : issue.received})`;

const wholeNumber = (min: number, max: number) =>
  v.pipe(
    v.number(needs(`must be a whole number from ${min} to ${max}`)),
    v.integer(needs(`must be a whole number from ${min} to ${max}`)),
    v.minValue(min, needs(`must be a whole number from ${min} to ${max}`)),
    v.maxValue(max, needs(`must be a whole number from ${min} to ${max}`)),
  );

const betaValue = v.pipe(
  v.number(needs('must be a number between 0 and 1')),
  v.gtValue(0, needs('must be a number between 0 and 1')),
  v.ltValue(1, needs('must be a number between 0 and 1')),
);

const flag = (fallback: boolean) => v.optional(v.boolean(needs('must be true or false')), fallback);

const notSupported = (what: string) =>
  v.optional(v.literal(false, needs(`is not supported by Chord (${what}); set it to false`)), false);

// Keys are diffusers' snake_case names. Defaults are diffusers' where they are harmless for latent
// models; clip_sample defaults to false (diffusers' DDIM default of true would clip latents).
const RawConfig = v.object({
  num_train_timesteps: wholeNumber(2, 100_000),
  beta_start: betaValue,
  beta_end: betaValue,
  beta_schedule: v.picklist(['linear', 'scaled_linear'], needs('must be "linear" or "scaled_linear"')),
  trained_betas: v.nullish(v.array(betaValue, needs('must be a list of numbers or null')), null),
  prediction_type: v.optional(
    v.picklist(['epsilon', 'v_prediction'], needs('must be "epsilon" or "v_prediction"')),
    'epsilon',
  ),
  timestep_spacing: v.optional(
    v.picklist(['leading', 'trailing', 'linspace'], needs('must be "leading", "trailing" or "linspace"')),
    'leading',
  ),
  steps_offset: v.optional(wholeNumber(0, 1000), 0),
  set_alpha_to_one: flag(true),
  clip_sample: flag(false),
  clip_sample_range: v.optional(
    v.pipe(v.number(needs('must be a positive number')), v.gtValue(0, needs('must be a positive number'))),
    1,
  ),
  original_inference_steps: v.optional(wholeNumber(1, 100_000), 50),
  timestep_scaling: v.optional(
    v.pipe(v.number(needs('must be a positive number')), v.gtValue(0, needs('must be a positive number'))),
    10,
  ),
  thresholding: notSupported('dynamic thresholding is for pixel-space models'),
  rescale_betas_zero_snr: notSupported('zero-terminal-SNR rescaling'),
});

const FIX_HINT = 'Fix that value, or re-export the model with diffusers (SD 1.x/2.x scheduler_config.json).';

/** Validates a parsed scheduler_config.json; `source` names the file in messages. */
export function parseSchedulerConfig(raw: unknown, source = 'scheduler_config.json'): SchedulerConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ChordError('SCHEDULER_INVALID', `${source} must hold a JSON object of scheduler settings.`, FIX_HINT);
  }
  const parsed = v.safeParse(RawConfig, raw);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const field = v.getDotPath(issue) ?? 'a field';
    // a required key that is absent is reported by the object schema, with its own wording
    const problem = issue.type === 'object' && issue.input === undefined ? 'is missing' : issue.message;
    throw new ChordError('SCHEDULER_INVALID', `${source}: ${field} ${problem}.`, FIX_HINT);
  }
  const c = parsed.output;
  if (c.trained_betas !== null && c.trained_betas.length !== c.num_train_timesteps) {
    throw new ChordError(
      'SCHEDULER_INVALID',
      `${source}: trained_betas has ${c.trained_betas.length} values but num_train_timesteps is ${c.num_train_timesteps}.`,
      FIX_HINT,
    );
  }
  if (c.original_inference_steps > c.num_train_timesteps) {
    throw new ChordError(
      'SCHEDULER_INVALID',
      `${source}: original_inference_steps (${c.original_inference_steps}) must not exceed num_train_timesteps (${c.num_train_timesteps}).`,
      FIX_HINT,
    );
  }
  return {
    numTrainTimesteps: c.num_train_timesteps,
    betaStart: c.beta_start,
    betaEnd: c.beta_end,
    betaSchedule: c.beta_schedule,
    trainedBetas: c.trained_betas,
    predictionType: c.prediction_type,
    timestepSpacing: c.timestep_spacing,
    stepsOffset: c.steps_offset,
    setAlphaToOne: c.set_alpha_to_one,
    clipSample: c.clip_sample,
    clipSampleRange: c.clip_sample_range,
    originalInferenceSteps: c.original_inference_steps,
    timestepScaling: c.timestep_scaling,
  };
}

/** Reads and validates `<modelDir>/scheduler/scheduler_config.json`. */
export async function loadSchedulerConfig(modelDir: string): Promise<SchedulerConfig> {
  const file = join(modelDir, 'scheduler', 'scheduler_config.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ChordError(
      'FILE_NOT_FOUND',
      `No scheduler settings at ${file}.`,
      'Pick a model folder in the diffusers ONNX layout (it has scheduler/scheduler_config.json).',
      { cause: e },
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ChordError('SCHEDULER_INVALID', `${file} is not valid JSON.`, FIX_HINT, { cause: e });
  }
  return parseSchedulerConfig(raw, file);
}
