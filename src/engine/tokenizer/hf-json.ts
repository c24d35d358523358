/**
 * HF `tokenizer.json` through `@huggingface/tokenizers` (a faithful JS port of the Rust crate's
 * normalizers, pre-tokenizers and BPE). Chord only adds the checks that turn a broken file into a
 * ChordError and the BOS/EOS/pad lookup.
 */
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { ChordError } from '../errors';

export interface HfTokenizerFile {
  /** parsed tokenizer.json */
  json: unknown;
  /** parsed tokenizer_config.json, or {} */
  config: Record<string, unknown>;
  /** file path, for messages */
  where: string;
}

/** The parts of tokenizer.json that Chord reads itself (the library reads the rest). */
export interface TokenizerJsonExtras {
  /** `padding.pad_id`, when the file sets fixed padding */
  padId?: number;
  /** `truncation.max_length`, when present */
  maxLength?: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks the shape the library relies on (it would otherwise fail with a TypeError deep inside). */
function checkShape(json: unknown, where: string): Record<string, unknown> {
  const bad = (what: string) =>
    new ChordError('TOKENIZER_INVALID', `${where} is not a tokenizer.json: ${what}.`, 'Replace it with the tokenizer.json that came with the model.');
  if (!isRecord(json)) throw bad('it is not a JSON object');
  if (!isRecord(json.model)) throw bad('it has no "model"');
  for (const key of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) {
    if (!(key in json)) throw bad(`it has no "${key}" (null is allowed)`);
  }
  if (json.added_tokens !== undefined && !Array.isArray(json.added_tokens)) throw bad('"added_tokens" is not a list');
  return json;
}

export function extrasOf(json: Record<string, unknown>): TokenizerJsonExtras {
  const extras: TokenizerJsonExtras = {};
  if (isRecord(json.padding) && typeof json.padding.pad_id === 'number') extras.padId = json.padding.pad_id;
  if (isRecord(json.truncation) && typeof json.truncation.max_length === 'number') extras.maxLength = json.truncation.max_length;
  return extras;
}

export interface LoadedHfTokenizer {
  hf: HfTokenizer;
  extras: TokenizerJsonExtras;
}

export function createHfTokenizer(file: HfTokenizerFile): LoadedHfTokenizer {
  const json = checkShape(file.json, file.where);
  // the library iterates added_tokens unconditionally
  const withAdded = json.added_tokens === undefined ? { ...json, added_tokens: [] } : json;
  try {
    return { hf: new HfTokenizer(withAdded, file.config), extras: extrasOf(json) };
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new ChordError(
      'TOKENIZER_INVALID',
      `${file.where} could not be loaded: ${reason}.`,
      'Replace it with the tokenizer.json that came with the model.',
      { cause: e },
    );
  }
}

/** ids of `text` without the post-processor's special tokens */
export function encodeWithHf(hf: HfTokenizer, text: string): number[] {
  return hf.encode(text, { add_special_tokens: false }).ids;
}
