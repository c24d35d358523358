/** Text tokenizer: model folder -> Tokenizer; prompt -> ids and text-encoder windows. See docs/tokenizer.md. */
export type { Tokenizer } from './types';
export { loadTokenizer } from './load';
export { tokenizePrompt, chunkForEncoder, windowsFromIds, makeWindow, emptyWindow, padToSameWindowCount, commaIdOf } from './prompt';
export type { WindowOptions } from './prompt';
export { planChunks, DEFAULT_COMMA_BACKTRACK } from './chunk-plan';
export type { ChunkPlanOptions } from './chunk-plan';
