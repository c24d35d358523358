import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ChordError } from '../../src/engine/errors';
import { CLIP_MERGE_LIMIT, byteToUnicode, cleanText, parseMerges, preTokenize } from '../../src/engine/tokenizer/clip-bpe';
import { loadTokenizer, tokenizePrompt, type Tokenizer } from '../../src/engine/tokenizer';

/** the real SD 1.5 model folder layout (configs and tokenizer only), a committed test fixture */
const SD15 = fileURLToPath(new URL('../fixtures/sd15-layout', import.meta.url));
const vocab = JSON.parse(readFileSync(`${SD15}/tokenizer/vocab.json`, 'utf8')) as Record<string, number>;

describe('CLIP building blocks', () => {
  it('maps the 256 bytes to distinct printable characters, GPT-2 style', () => {
    const t = byteToUnicode();
    expect(new Set(t).size).toBe(256);
    expect(t[0x61]).toBe('a');
    expect(t[0x21]).toBe('!');
    expect(t[0xe9]).toBe('é');
    expect(t[0x00]).toBe('\u0100'); // first non-printable byte -> U+0100
    expect(t[0x20]).toBe('\u0120'); // space -> 'Ġ'
    expect(t[0xad]).toBe('\u0143'); // soft hyphen, the last remapped byte
  });

  it('cleans like the reference without ftfy: NFC, controls dropped, whitespace collapsed, lower-cased', () => {
    expect(cleanText('  A\tPhoto\n\n OF\u00a0a\u3000CAT  ')).toBe('a photo of a cat');
    expect(cleanText('cafe\u0301')).toBe('caf\u00e9');
    expect(cleanText('a\u0000b\u0007c\ufeffd')).toBe('abcd');
    expect(cleanText('\u0085x\u2028')).toBe('x');
    expect(cleanText('ΟΔΟΣ ΣΑ')).toBe('\u03bf\u03b4\u03bf\u03c2 \u03c3\u03b1'); // final sigma, as Python's str.lower
  });

  it('pre-tokenizes with the CLIP pattern', () => {
    expect(preTokenize("don't")).toEqual(['don', "'t"]);
    expect(preTokenize("'sun")).toEqual(["'s", 'un']); // contractions win even at a word start
    expect(preTokenize('1234')).toEqual(['1', '2', '3', '4']);
    expect(preTokenize('(masterpiece:1.2),')).toEqual(['(', 'masterpiece', ':', '1', '.', '2', '),']);
    expect(preTokenize('!!! ...?')).toEqual(['!!!', '...?']);
    expect(preTokenize('東京タワー 猫')).toEqual(['東京タワー', '猫']); // a letter run, not one piece per ideograph
    expect(preTokenize('cat🐱dog 👨‍👩‍👧')).toEqual(['cat', '🐱', 'dog', '👨‍👩‍👧']);
    expect(preTokenize('x²½')).toEqual(['x', '²', '½']); // No counts as a number: one per character
    expect(preTokenize('hi<|endoftext|>yo')).toEqual(['hi', '<|endoftext|>', 'yo']);
  });

  it('reads merges.txt by rank and keeps only the first 48894 merges, as HF does', () => {
    const ranks = parseMerges(readFileSync(`${SD15}/tokenizer/merges.txt`, 'utf8'));
    expect(ranks.size).toBe(CLIP_MERGE_LIMIT);
    expect(ranks.get('i n')).toBe(0);
    expect(ranks.get('t h')).toBe(1);
    const many = ['#version: 0.2', ...Array.from({ length: CLIP_MERGE_LIMIT + 5 }, (_, i) => `a${i} b`)].join('\n');
    const capped = parseMerges(many);
    expect(capped.size).toBe(CLIP_MERGE_LIMIT);
    expect(capped.has(`a${CLIP_MERGE_LIMIT} b`)).toBe(false);
  });

  it('rejects a malformed merge line with its line number', () => {
    expect(() => parseMerges('#version: 0.2\na b\nabc\n', '/m/merges.txt')).toThrowError(/merges\.txt line 3/);
    try {
      parseMerges('#version: 0.2\na b c\n');
    } catch (e) {
      expect(e).toBeInstanceOf(ChordError);
      expect((e as ChordError).code).toBe('TOKENIZER_INVALID');
    }
  });
});

describe('CLIP tokenizer on the real SD 1.5 files', () => {
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await loadTokenizer(SD15);
  });

  it('reads the special tokens and window length from the files', () => {
    expect(tok.format).toBe('clip-bpe');
    expect(tok.bos).toBe(49406);
    expect(tok.eos).toBe(49407);
    expect(tok.pad).toBe(49407);
    expect(tok.maxLength).toBe(77);
    expect(tok.idToToken(2368)).toBe('cat</w>');
  });

  it('encodes the well-known example', () => {
    expect(tokenizePrompt(tok, 'a photo of a cat')).toEqual([49406, 320, 1125, 539, 320, 2368, 49407]);
  });

  it('gives whole words their `word</w>` vocabulary entry', () => {
    for (const w of ['masterpiece', 'quality', 'portrait', 'sunset', 'cyberpunk', 'unbelievably', 'wallpaper', 'cinematic']) {
      expect(tok.encode(w), w).toEqual([vocab[`${w}</w>`]]);
    }
  });

  it('splits an unknown word into sub-words along the merges', () => {
    // "photorealistic" is not a vocabulary word; BPE ends at the in-word piece "photo" + "realistic</w>"
    expect(vocab['photorealistic</w>']).toBeUndefined();
    expect(tok.encode('photorealistic')).toEqual([vocab['photo'], vocab['realistic</w>']]);
    // "uhd": "hd</w>" merges, the lone "u" stays an in-word piece
    expect(tok.encode('uhd')).toEqual([vocab['u'], vocab['hd</w>']]);
  });

  // expected ids cross-checked against an independent re-implementation of OpenAI's simple_tokenizer
  const cases: Array<[string, number[]]> = [
    ['A Photo Of A CAT', [320, 1125, 539, 320, 2368]],
    ['  a   photo\tof\n a cat  ', [320, 1125, 539, 320, 2368]],
    ['masterpiece, best quality, 1girl, solo', [12066, 267, 949, 3027, 267, 272, 1611, 267, 5797]],
    // weight syntax is plain text here: brackets, colons and digits become tokens like any other
    [
      '(masterpiece:1.2), [ugly], ((detailed eyes))',
      [263, 12066, 281, 272, 269, 273, 2361, 314, 8159, 34067, 13796, 12609, 3095, 5167], // ... '((', 'detailed', 'eyes', '))'
    ],
    ["don't", [847, 713]],
    ["it's DON'T they've we're I'm you'll he'd", [585, 568, 847, 713, 889, 1200, 649, 982, 328, 880, 592, 1342, 797, 1896]],
    ["'sun", [568, 2271]],
    // every digit is its own token
    ['1234 3.14 100%', [272, 273, 274, 275, 274, 269, 272, 275, 272, 271, 271, 260]],
    // punctuation runs stay together when the vocabulary has them
    ['!!! ??? ... !?!? :) ***', [995, 3824, 678, 47081, 1408, 7829]],
    ['under_score kebab-case', [1798, 318, 4431, 36497, 268, 2068]],
    // accents: UTF-8 bytes, composed first (NFC), so both spellings of "café" agree
    ['café naïve résumé', [15304, 1097, 35689, 563, 29106, 7054, 4166]],
    ['cafe\u0301', [15304]],
    // CJK and Cyrillic: byte-level pieces of one letter run
    ['東京', [48338, 21078, 361]],
    ['猫', [163, 234, 360]],
    ['кошка', [27152, 13506, 141, 230, 27152, 27080]],
    // emoji, with a skin-tone modifier and a zero-width-joiner family
    ['🐱 ❤️ 👍🏽 👨‍👩‍👧', [22979, 1752, 43722, 25023, 26304, 964, 356]],
    ['cat🐱dog', [2368, 22979, 1929]],
    ['x² ½', [343, 41175, 33613]],
    // special tokens typed in the text map to their ids, as in the reference
    ['hello<|endoftext|>world', [3306, 49407, 1002]],
    ['', []],
    [' \n\t ', []],
  ];
  it.each(cases)('encodes %j', (text, ids) => {
    expect(tok.encode(text)).toEqual(ids);
  });

  it('returns the same ids from its cache', () => {
    const first = tok.encode('photorealistic, photorealistic');
    expect(tok.encode('photorealistic, photorealistic')).toEqual(first);
    expect(first).toEqual([1153, 16157, 267, 1153, 16157]);
  });

  it('never truncates: a prompt over 77 tokens keeps all its ids', () => {
    const long = Array.from({ length: 90 }, () => 'cat').join(' ');
    const ids = tokenizePrompt(tok, long);
    expect(ids.length).toBe(92);
    expect(ids[0]).toBe(49406);
    expect(ids[91]).toBe(49407);
    expect(ids.slice(1, 91).every((id) => id === 2368)).toBe(true);
  });
});
