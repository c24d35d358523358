import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChordError } from '../../src/engine/errors';
import { chunkForEncoder, loadTokenizer, tokenizePrompt, type Tokenizer } from '../../src/engine/tokenizer';

const FIXTURE = fileURLToPath(new URL('../fixtures/tokenizer/tiny-json', import.meta.url));
const FIXTURE_JSON = join(FIXTURE, 'tokenizer', 'tokenizer.json');
const SD15 = fileURLToPath(new URL('../fixtures/sd15-layout', import.meta.url));

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'chord-tokenizer-'));
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

/** a model folder under the scratch dir whose tokenizer/ holds the given files */
function modelWith(name: string, files: Record<string, string>): string {
  const dir = join(scratch, name);
  mkdirSync(join(dir, 'tokenizer'), { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, 'tokenizer', file), text);
  return dir;
}

async function loadError(dir: string): Promise<ChordError> {
  try {
    await loadTokenizer(dir);
  } catch (e) {
    if (e instanceof ChordError) return e;
    throw e;
  }
  throw new Error(`loading ${dir} did not fail`);
}

describe('tokenizer.json (the demo model kind: lowercase, whitespace/punctuation split, BPE with </w>)', () => {
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await loadTokenizer(FIXTURE);
  });

  it('reads special tokens from the file and model_max_length from tokenizer_config.json', () => {
    expect(tok.format).toBe('tokenizer.json');
    expect(tok.bos).toBe(0);
    expect(tok.eos).toBe(1);
    expect(tok.pad).toBe(1);
    expect(tok.maxLength).toBe(16);
    expect(tok.idToToken(47)).toBe('circle</w>');
  });

  it('lower-cases, splits punctuation off and merges whole words', () => {
    // a</w> red</w> circle</w> ,</w> blue</w> square</w>
    expect(tok.encode('A Red circle, BLUE square')).toEqual([20, 39, 47, 33, 42, 52]);
    expect(tok.encode('red,blue')).toEqual([39, 33, 42]);
    expect(tok.encode('')).toEqual([]);
  });

  it('stops at the merges it has and maps unknown characters to <|endoftext|>', () => {
    // r e d s</w>: only "r e" merges ("re d</w>" needs d at the word end)
    expect(tok.encode('reds')).toEqual([38, 5, 31]);
    // z is not in the vocabulary; e b r a</w> has no merge
    expect(tok.encode('zebra')).toEqual([1, 6, 3, 12, 20]);
    // ( red : 1 . 2 ): the digits are unknown here
    expect(tok.encode('(red:1.2)')).toEqual([34, 39, 36, 1, 37, 1, 35]);
  });

  it('adds BOS and EOS once in tokenizePrompt (the file\'s own post-processor is not applied)', () => {
    expect(tokenizePrompt(tok, 'red on blue')).toEqual([0, 39, 53, 42, 1]);
  });

  it('cuts windows of maxLength - 2 content tokens, after a comma when one is near', () => {
    // 15 tokens: red circle , blue square , red square , | blue circle red circle blue square
    const windows = chunkForEncoder(tok, 'red circle, blue square, red square, blue circle red circle blue square');
    expect(windows.map((w) => Array.from(w))).toEqual([
      [0, 39, 47, 33, 42, 52, 33, 39, 52, 33, 1, 1, 1, 1, 1, 1],
      [0, 42, 47, 39, 47, 42, 52, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    ]);
  });

  it('uses CLIP defaults without tokenizer_config.json, and accepts the tokenizer folder itself', async () => {
    const dir = modelWith('json-only', { 'tokenizer.json': readFileSync(FIXTURE_JSON, 'utf8') });
    for (const where of [dir, join(dir, 'tokenizer')]) {
      const t = await loadTokenizer(where);
      expect([t.bos, t.eos, t.pad, t.maxLength]).toEqual([0, 1, 1, 77]);
    }
  });

  it('prefers tokenizer.json over vocab.json + merges.txt', async () => {
    const dir = modelWith('both', { 'vocab.json': '{"a</w>": 7}', 'merges.txt': '#version: 0.2\n' });
    copyFileSync(FIXTURE_JSON, join(dir, 'tokenizer', 'tokenizer.json'));
    const t = await loadTokenizer(dir);
    expect(t.format).toBe('tokenizer.json');
    expect(t.encode('a')).toEqual([20]);
  });
});

describe('tokenizer files that are missing or broken', () => {
  it('names the missing files', async () => {
    const e = await loadError(modelWith('empty', {}));
    expect(e.code).toBe('TOKENIZER_INVALID');
    expect(e.message).toMatch(/tokenizer\.json/);
    expect(e.message).toMatch(/vocab\.json, merges\.txt/);
    const half = await loadError(modelWith('no-merges', { 'vocab.json': '{}' }));
    expect(half.message).toMatch(/missing: tokenizer\.json, merges\.txt\)/);
  });

  it('reports a model folder that does not exist', async () => {
    const e = await loadError(join(scratch, 'nowhere'));
    expect(e.code).toBe('FILE_NOT_FOUND');
  });

  it('reports bad JSON and a tokenizer.json without a model', async () => {
    const badJson = await loadError(modelWith('bad-json', { 'tokenizer.json': '{"model": ' }));
    expect(badJson.code).toBe('TOKENIZER_INVALID');
    expect(badJson.message).toMatch(/not valid JSON/);
    const noModel = await loadError(modelWith('no-model', { 'tokenizer.json': '{"normalizer": null}' }));
    expect(noModel.code).toBe('TOKENIZER_INVALID');
    expect(noModel.message).toMatch(/no "model"/);
  });

  it('reports a vocabulary without the end-of-text token', async () => {
    const e = await loadError(modelWith('no-eos', { 'vocab.json': '{"a</w>": 0}', 'merges.txt': '#version: 0.2\n' }));
    expect(e.code).toBe('TOKENIZER_INVALID');
    expect(e.message).toMatch(/end-of-text token "<\|endoftext\|>"/);
  });
});

describe('the SD 1.5 vocabulary as a tokenizer.json (HF CLIPTokenizerFast layout)', () => {
  it('gives the same ids through @huggingface/tokenizers as the CLIP tokenizer', async () => {
    const vocab = JSON.parse(readFileSync(join(SD15, 'tokenizer', 'vocab.json'), 'utf8')) as Record<string, number>;
    const merges = readFileSync(join(SD15, 'tokenizer', 'merges.txt'), 'utf8').trim().split('\n').slice(1, 48895);
    // what transformers' CLIPConverter writes
    const json = {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [
        { id: 49406, content: '<|startoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
        { id: 49407, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      ],
      normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }] },
      pre_tokenizer: {
        type: 'Sequence',
        pretokenizers: [
          { type: 'Split', pattern: { Regex: "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+" }, behavior: 'Removed', invert: true },
          { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
        ],
      },
      post_processor: { type: 'RobertaProcessing', sep: ['<|endoftext|>', 49407], cls: ['<|startoftext|>', 49406], trim_offsets: false, add_prefix_space: false },
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: { type: 'BPE', dropout: null, unk_token: '<|endoftext|>', continuing_subword_prefix: '', end_of_word_suffix: '</w>', fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
    };
    const fast = await loadTokenizer(modelWith('clip-fast', { 'tokenizer.json': JSON.stringify(json) }));
    const slow = await loadTokenizer(SD15);
    expect(fast.format).toBe('tokenizer.json');
    expect([fast.bos, fast.eos, fast.pad, fast.maxLength]).toEqual([49406, 49407, 49407, 77]);
    const prompts = [
      'a photo of a cat',
      'masterpiece, best quality, (detailed eyes:1.3), [[ugly]], {blue}',
      "don't stop, it's mine, 'sun, I'M OK",
      '1234567890 2024-01-05 3.14159 100% !!! ??? ... :-)',
      'café naïve résumé crème brûlée Ångström straße İstanbul',
      '東京タワー 夜景 美しい кошка ελληνικά',
      '🐱 🐶🐶 ❤️ 👍🏽 👨‍👩‍👧 🇯🇵 cat🐱dog',
      'photorealistic, ultra-detailed, 8k uhd, dslr, soft lighting, film grain, Fujifilm XT3',
      'a\u00a0b\u3000c\u2003d   e\t\nf',
    ];
    for (const p of prompts) expect(fast.encode(p), p).toEqual(slow.encode(p));
  });
});
