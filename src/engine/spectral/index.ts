/** Frequency profiles of LoRAs and the orders built on them (CMLoRA, Switch). See docs/spectral.md. */
export { dft, fftMagnitude, fftShift } from './fft2d';
export {
  grayscale,
  logMagnitudeSpectrum,
  radialMean,
  normalizeToMax,
  radialProfile,
  highFrequencyStatistic,
  deltaHigh,
  frequencyClass,
  LOG_EPSILON,
  HIGH_BAND_START,
  type FrequencyClass,
} from './spectrum';
export {
  LoraProfiler,
  profileLoras,
  resolveProfileSettings,
  profileCacheKey,
  DEFAULT_PROFILE_SETTINGS,
  DEFAULT_THRESHOLD,
  MAX_PROFILE_SEEDS,
  PROFILE_VERSION,
  type LoraProfile,
  type ProfileSettings,
  type ProfilerOptions,
} from './profile';
export {
  orderLoras,
  parseOrder,
  categoryFromMetadata,
  CATEGORY_ORDER,
  ORDER_RULES,
  type OrderInput,
  type OrderOptions,
  type OrderRuleName,
  type OrderSpec,
  type LoraOrdering,
} from './order';
