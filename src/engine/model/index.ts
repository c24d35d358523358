/** Model folders, execution providers and sessions. See docs/engine.md. */
export { openModel, Model, checkGraphInputs, type OpenModelOptions, type LoadedLora, type LoraWeights } from './model';
export { inspectModelFolder, SD_DEFAULTS, GRAPH_NAMES, type GraphName, type ModelFolder } from './folder';
export {
  PROVIDER_NAMES,
  PROVIDER_LABELS,
  CUDA_HINT,
  parseProviderChoice,
  providerPlan,
  platformGpuProvider,
  detectProviderEnvironment,
  type ProviderName,
  type ProviderChoice,
  type ProviderEnvironment,
} from './providers';
export { createSession, ModelSession, shortOrtMessage, type EngineNotice, type NoticeSink, type Feed, type InputInfo } from './session';
export { ModelCache } from './cache';
export { chordCacheDir, loadHashCache, saveHashCache } from './cache-dir';
export { LoraStack, branchInputs, layerInputs, placeModule, type BranchInput, type LayerInputs, type RankBlock } from './lora-stack';
export { derivedGraph, type DerivedGraph } from './derived-graphs';
export { applyPasses, chainName, chainVersion, type GraphPass } from './graph-passes';
export { UPCAST_PASS, LORA_PASS, LORA_CPU_PASS, loraPass } from './passes';
export { DEEP_FEATURE, UNET_DEEP_OUTPUT_PASS, UNET_SHALLOW_PASS } from './unet-cut-passes';
