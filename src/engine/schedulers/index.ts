/** Samplers: pick one by name for a model's noise schedule. */
import { ChordError } from '../errors';
import type { SchedulerConfig } from './config';
import { DdimScheduler } from './ddim';
import { DpmSolverMultistepScheduler } from './dpmSolver';
import { EulerScheduler } from './euler';
import { EulerAncestralScheduler } from './eulerAncestral';
import { LcmScheduler } from './lcm';
import { SAMPLER_NAMES, type SamplerName, type Scheduler } from './types';

export function isSamplerName(name: string): name is SamplerName {
  return (SAMPLER_NAMES as readonly string[]).includes(name);
}

/** A fresh scheduler (call `setTimesteps` before use). */
export function createScheduler(name: string, config: SchedulerConfig): Scheduler {
  if (!isSamplerName(name)) {
    throw new ChordError('BAD_ARGUMENT', `Unknown sampler "${name}". Choose one of: ${SAMPLER_NAMES.join(', ')}.`);
  }
  switch (name) {
    case 'euler':
      return new EulerScheduler(config);
    case 'euler_a':
      return new EulerAncestralScheduler(config);
    case 'ddim':
      return new DdimScheduler(config);
    case 'dpmpp_2m':
      return new DpmSolverMultistepScheduler(config, false);
    case 'dpmpp_2m_karras':
      return new DpmSolverMultistepScheduler(config, true);
    case 'lcm':
      return new LcmScheduler(config);
  }
}

export { SAMPLER_NAMES, type NoiseSource, type SamplerName, type Scheduler } from './types';
export {
  loadSchedulerConfig,
  parseSchedulerConfig,
  SD15_SCHEDULER_CONFIG,
  type SchedulerConfig,
  type BetaSchedule,
  type PredictionType,
  type TimestepSpacing,
} from './config';
export { NoiseGenerator, randn } from './noise';
export { EulerScheduler, EulerAncestralScheduler, DdimScheduler, DpmSolverMultistepScheduler, LcmScheduler };
