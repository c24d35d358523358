/**
 * ONNX graph reading and rewriting: LoRA targets, run-time LoRA branches, fp16 -> fp32, graph cuts
 * for cached composition, weight fusion, and loading/saving with external weights.
 * See docs/runtime-lora.md.
 */
export { readModel, writeModel, rewriteCacheKey, type WriteModelOptions } from './io';
export { findLoraTargets, analyzeLoraTargets, modulePathFromNodeName, type TargetAnalysis, type SkippedLayer } from './targets';
export {
  addLoraBranches,
  loraInputSpecs,
  rewrittenTargets,
  loraDownInput,
  loraUpInput,
  loraSlotsInput,
  loraRankDim,
  LORA_GATE_INPUT,
  LORA_TOTAL_RANK_DIM,
  LORA_BATCH_DIM,
  LORA_REWRITE_VERSION,
  REWRITE_METADATA_KEY,
  TARGETS_METADATA_KEY,
  type LoraBranchOptions,
  type LoraInputSpec,
} from './branches';
export { upcastToFloat32, UPCAST_METADATA_KEY } from './upcast';
export { exposeTensor, extractSubgraph, scopeOutputs, type TensorInfo } from './cuts';
export {
  cutUnet,
  findUnetCut,
  exposeDeepFeature,
  shallowUnet,
  unetCutPart,
  blockNodeCounts,
  DEEP_FEATURE,
  UNET_CUT_VERSION,
  UNET_CUT_METADATA_KEY,
  type UnetCut,
  type UnetCutPoint,
} from './unet-cut';
export { fuseDeltas, type WeightDelta } from './fuse';
export { encodeModel, decodeModel, metadata, DataType, type ModelProto } from './proto';
export { addEmbeddingRows, findTokenEmbedding, EXTRA_ROWS_INPUT, EMBEDDING_REWRITE_VERSION, EMBEDDING_METADATA_KEY, type TokenTable } from './embeddings';
