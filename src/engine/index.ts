/**
 * Chord's engine, the public API: open a model, generate images (in this thread or on a worker),
 * read and write image settings. Everything else under src/engine is internal: outside
 * src/engine only this file may be imported (docs/layering.md, checked by test/layering.test.ts).
 */
export { ChordError, isChordError, type ChordErrorCode } from './errors';

// models, providers, sessions
export {
  openModel,
  Model,
  inspectModelFolder,
  ModelCache,
  chordCacheDir,
  parseProviderChoice,
  providerPlan,
  detectProviderEnvironment,
  PROVIDER_NAMES,
  type OpenModelOptions,
  type ModelFolder,
  type LoadedLora,
  type LoraWeights,
  type ProviderName,
  type ProviderChoice,
  type EngineNotice,
} from './model';
export { fuseLorasIntoFolder, type FuseLora, type FuseResult } from './model/fuse';

// the pipeline
export {
  txt2img,
  Merge,
  METHODS,
  METHOD_NAMES,
  findMethod,
  resolveMethodOptions,
  describeMethods,
  resolveSettings,
  ENGINE_VERSION,
  SAMPLER_CHOICES,
  type CompositionMethod,
  type NoisePrediction,
  type UnetCall,
  type StepLog,
  type MethodDefinition,
  type GenerationSettings,
  type SettingsInput,
  type StageTimings,
  type StepProgress,
  type PreviewImage,
  type Txt2ImgOptions,
  type Txt2ImgResult,
} from './pipeline';

// running it
export {
  Engine,
  EngineWorker,
  startEngineWorker,
  type EngineOptions,
  type EngineWorkerOptions,
  type GenerateHooks,
  type GenerateProgress,
  type GenerateRequest,
  type GenerateResult,
  type GeneratedImage,
  type LoraRequest,
  type MethodRequest,
  type StepReport,
  requestFromRecord,
} from './host';
export {
  RestartingEngine,
  forkEngineProcess,
  runEngineLoop,
  type EngineChannel,
  type EngineSpawner,
  type EnginePort,
  type ForkEngineOptions,
} from './host';
export type { EngineMessage, HostMessage } from './host';
export type { ProfileHooks, ProfileProgress, ProfileRequest, ProfileResult, ProfiledLora } from './host';

// the app's services (Electron main, chord serve)
export * as app from './jobs';

// LoRA files
export { inspectLora, type LoraInfo } from './lora/metadata';

// images and tokens
export { saveImage, readImageInfo, type ImageInfo, type ChordImageRecord } from './png';
export { loadTokenizer, tokenizePrompt, type Tokenizer } from './tokenizer';

// prompt syntax (docs/prompts.md)
export { parseEmphasis, type PromptPiece } from './prompt/emphasis';
export { extractLoraTags, type LoraTag } from './prompt/lora-tags';
export { readEmbedding, type Embedding } from './embeddings/load';
export { runCli, main as runCliMain, type CliExtension, type CliIo } from './cli';
