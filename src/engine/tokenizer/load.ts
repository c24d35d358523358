/**
 * Finds and loads the tokenizer of a diffusers model folder: `tokenizer/tokenizer.json` when present
 * (HF format, used by the demo model), else CLIP's `tokenizer/vocab.json` + `tokenizer/merges.txt`
 * (SD 1.5). Special tokens and the window length come from the files, with CLIP's values as defaults.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ChordError } from '../errors';
import { isFile } from '../fsutil';
import { ClipBpe } from './clip-bpe';
import { createHfTokenizer, encodeWithHf } from './hf-json';
import type { Tokenizer } from './types';

const DEFAULT_BOS = '<|startoftext|>';
const DEFAULT_EOS = '<|endoftext|>';
const DEFAULT_MAX_LENGTH = 77;
/** HF writes a huge sentinel (1e30) when a tokenizer has no real limit; anything past this is that. */
const MAX_SANE_LENGTH = 1_000_000;

/** What tokenizer_config.json / special_tokens_map.json say, each field optional. */
export interface SpecialTokenNames {
  bos?: string;
  eos?: string;
  pad?: string;
  unk?: string;
  modelMaxLength?: number;
}

async function isDir(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isDirectory(), () => false);
}

async function readJson(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new ChordError('TOKENIZER_INVALID', `${path} is not valid JSON (${reason}).`, 'Replace it with the file that came with the model.', { cause: e });
  }
}

async function readJsonIfPresent(path: string): Promise<Record<string, unknown>> {
  if (!(await isFile(path))) return {};
  const v = await readJson(path);
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** A token in these files is either a string or an AddedToken object with `content`. */
function tokenName(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && 'content' in v && typeof v.content === 'string') return v.content;
  return undefined;
}

/** tokenizer_config.json first, then special_tokens_map.json for what it leaves out. */
export function specialTokenNames(config: Record<string, unknown>, map: Record<string, unknown>): SpecialTokenNames {
  const pick = (key: string) => tokenName(config[key]) ?? tokenName(map[key]);
  const names: SpecialTokenNames = { bos: pick('bos_token'), eos: pick('eos_token'), pad: pick('pad_token'), unk: pick('unk_token') };
  const len = config.model_max_length;
  if (typeof len === 'number' && Number.isInteger(len) && len <= MAX_SANE_LENGTH) names.modelMaxLength = len;
  return names;
}

/** The folder holding the tokenizer files: `<model>/tokenizer`, or the given folder itself. */
async function tokenizerDir(modelDir: string): Promise<string> {
  if (!(await isDir(modelDir))) {
    throw new ChordError('FILE_NOT_FOUND', `Model folder not found: ${modelDir}.`, 'Choose the folder that holds model_index.json.');
  }
  const sub = join(modelDir, 'tokenizer');
  if (await isDir(sub)) return sub;
  // also accept being pointed at the tokenizer folder itself
  for (const name of ['tokenizer.json', 'vocab.json']) if (await isFile(join(modelDir, name))) return modelDir;
  return sub;
}

function idOf(lookup: (token: string) => number | undefined, token: string, role: string, where: string): number {
  const id = lookup(token);
  if (id === undefined) {
    throw new ChordError('TOKENIZER_INVALID', `${where} has no ${role} token ${JSON.stringify(token)}.`, 'Replace the tokenizer files with the ones that came with the model.');
  }
  return id;
}

function checkedMaxLength(n: number, where: string): number {
  if (n < 3) {
    throw new ChordError('TOKENIZER_INVALID', `${where} sets model_max_length to ${n}; a prompt window needs at least 3 tokens.`, 'Fix model_max_length (77 for CLIP).');
  }
  return n;
}

/**
 * Loads the tokenizer of a model folder (or of a tokenizer folder given directly).
 * Throws FILE_NOT_FOUND when the folder does not exist, TOKENIZER_INVALID when its files are
 * missing or broken.
 */
export async function loadTokenizer(modelDir: string): Promise<Tokenizer> {
  const dir = await tokenizerDir(modelDir);
  const config = await readJsonIfPresent(join(dir, 'tokenizer_config.json'));
  const names = specialTokenNames(config, await readJsonIfPresent(join(dir, 'special_tokens_map.json')));
  const bosName = names.bos ?? DEFAULT_BOS;
  const eosName = names.eos ?? DEFAULT_EOS;

  const jsonPath = join(dir, 'tokenizer.json');
  if (await isFile(jsonPath)) {
    const { hf, extras } = createHfTokenizer({ json: await readJson(jsonPath), config, where: jsonPath });
    const lookup = (t: string) => hf.token_to_id(t);
    const eos = idOf(lookup, eosName, 'end-of-text', jsonPath);
    return {
      format: 'tokenizer.json',
      bos: idOf(lookup, bosName, 'start-of-text', jsonPath),
      eos,
      pad: names.pad !== undefined ? idOf(lookup, names.pad, 'padding', jsonPath) : (extras.padId ?? eos),
      maxLength: checkedMaxLength(names.modelMaxLength ?? extras.maxLength ?? DEFAULT_MAX_LENGTH, jsonPath),
      encode: (text) => encodeWithHf(hf, text),
      idToToken: (id) => hf.id_to_token(id),
    };
  }

  const vocabPath = join(dir, 'vocab.json');
  const mergesPath = join(dir, 'merges.txt');
  const missing: string[] = [];
  if (!(await isFile(vocabPath))) missing.push('vocab.json');
  if (!(await isFile(mergesPath))) missing.push('merges.txt');
  if (missing.length > 0) {
    throw new ChordError(
      'TOKENIZER_INVALID',
      `No tokenizer in ${dir}: it needs tokenizer.json, or vocab.json and merges.txt (missing: tokenizer.json, ${missing.join(', ')}).`,
      'Copy the tokenizer folder from the original model.',
    );
  }
  const vocab = await readJson(vocabPath);
  if (!isVocab(vocab)) {
    throw new ChordError('TOKENIZER_INVALID', `${vocabPath} is not a vocabulary (an object of token -> integer id).`, 'Replace it with the vocab.json that came with the model.');
  }
  const lookup = (t: string): number | undefined => (Object.hasOwn(vocab, t) ? vocab[t] : undefined);
  const eos = idOf(lookup, eosName, 'end-of-text', vocabPath);
  const clip = new ClipBpe({
    vocab,
    merges: await readFile(mergesPath, 'utf8'),
    mergesWhere: mergesPath,
    specialTokens: [bosName, eosName],
    unk: names.unk !== undefined ? (lookup(names.unk) ?? eos) : eos,
  });
  return {
    format: 'clip-bpe',
    bos: idOf(lookup, bosName, 'start-of-text', vocabPath),
    eos,
    pad: names.pad !== undefined ? idOf(lookup, names.pad, 'padding', vocabPath) : eos,
    maxLength: checkedMaxLength(names.modelMaxLength ?? DEFAULT_MAX_LENGTH, join(dir, 'tokenizer_config.json')),
    encode: (text) => clip.encode(text),
    idToToken: (id) => clip.idToToken(id),
  };
}

function isVocab(v: unknown): v is Record<string, number> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  for (const id of Object.values(v)) if (!Number.isInteger(id)) return false;
  return true;
}
