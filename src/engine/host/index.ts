/** Running the engine: in this thread (Engine) or on a worker thread (EngineWorker). */
export {
  Engine,
  outputFiles,
  type EngineOptions,
  type GenerateHooks,
  type GenerateProgress,
  type GenerateRequest,
  type GenerateResult,
  type GeneratedImage,
  type ImageTimings,
  type LoraRequest,
  type MethodRequest,
  type StepReport,
} from './engine';
export { requestFromRecord, findRecordedLora } from './remake';
export { resolveOrder, type Ordering } from './ordering';
export { EngineWorker, startEngineWorker, type EngineWorkerOptions } from './client';
export type { EngineMessage, HostMessage, SerializedError } from './protocol';
export { RestartingEngine, forkEngineProcess, type EngineChannel, type EngineSpawner, type ForkEngineOptions, type RestartingEngineOptions } from './process';
export { runEngineLoop, type EnginePort } from './loop';
export { profileOnModel, type ProfileHooks, type ProfileProgress, type ProfileRequest, type ProfileResult, type ProfiledLora } from './profiling';
