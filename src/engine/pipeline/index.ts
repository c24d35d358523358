/** The text-to-image pipeline and the composition methods it runs. See docs/engine.md. */
export { unetCall, unetRowsPerCall, type StepInputs } from './unet-call';
export { txt2img, type StageTimings, type StepLog, type StepProgress, type Txt2ImgOptions, type Txt2ImgResult } from './txt2img';
export type { CompositionMethod, DeepFeature, MethodStep, NoisePrediction, UnetCall, UnetRequest, UnetResult } from './composition';
export { Merge } from './merge';
export { Switch, switchSlot } from './switch';
export { Composite, meanPrediction } from './composite';
export { Cmlora, activeLoras, dominanceWeights, isRefreshStep, type CmloraOptions } from './cmlora';
export {
  METHODS,
  METHOD_NAMES,
  findMethod,
  resolveMethodOptions,
  describeMethods,
  type MethodDefinition,
  type MethodContext,
  type MethodOptionSpec,
  type MethodOptions,
  type DefaultOrder,
} from './methods';
export { guide } from './guidance';
export { latentPreview, SD1_LATENT_RGB, type PreviewImage } from './preview';
export {
  resolveSettings,
  resolveSampler,
  samplerRecord,
  SAMPLER_CHOICES,
  DEFAULT_CFG,
  DEFAULT_SAMPLER,
  DEFAULT_STEPS,
  type GenerationSettings,
  type SettingsInput,
} from './settings';
export { imageRecord, ENGINE_VERSION, type RecordLora } from './record';
