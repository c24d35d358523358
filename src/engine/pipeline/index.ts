/** The text-to-image pipeline and the composition methods it runs. See docs/engine.md. */
export { txt2img, type StageTimings, type StepProgress, type Txt2ImgOptions, type Txt2ImgResult } from './txt2img';
export type { CompositionMethod, NoisePrediction, UnetPass } from './composition';
export { Merge } from './merge';
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
