/**
 * The CLIP byte-level BPE tokenizer (OpenAI `simple_tokenizer`, HF `CLIPTokenizer`), re-implemented
 * from its published behaviour: clean the text, split it with CLIP's pattern, map each piece's UTF-8
 * bytes to printable characters, mark the end of the word with `</w>`, then merge pairs by rank.
 * See docs/tokenizer.md for the deliberate differences (no ftfy).
 */
import { ChordError } from '../errors';

/** HF and OpenAI read only this many merges from merges.txt (vocab = 256 bytes x 2 + merges + 2 specials). */
export const CLIP_MERGE_LIMIT = 49152 - 256 - 2;

const END_OF_WORD = '</w>';

/**
 * CLIP's pre-tokenizer pattern. Letters run together, every digit stands alone, other non-space
 * characters run together; the contractions come first so "don't" gives "don" + "'t".
 * Case-insensitive as in the reference (the text is lower-cased before anyway).
 */
const CLIP_PATTERN = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/giu;

/**
 * Unicode White_Space, which is what the reference's `\s+` collapse (Python `regex`) matches. JS `\s`
 * is close but also matches U+FEFF and lacks U+0085, so the set is spelled out.
 */
const WHITESPACE = /[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/gu;

/** Control characters that are not whitespace, and the byte-order mark: dropped, as ftfy does. */
const CONTROL = /[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ufeff]/gu;

/**
 * The reference cleaning without ftfy: NFC, drop control characters, collapse whitespace runs to
 * one space, trim, lower-case.
 */
export function cleanText(text: string): string {
  return text.normalize('NFC').replace(CONTROL, '').replace(WHITESPACE, ' ').trim().toLowerCase();
}

/** Splits cleaned text into CLIP words (before byte mapping). */
export function preTokenize(cleaned: string): string[] {
  return cleaned.match(CLIP_PATTERN) ?? [];
}

/**
 * GPT-2/CLIP byte-to-character table: printable Latin-1 bytes map to themselves, the other 68
 * bytes to U+0100 upwards, so every byte string becomes a string without spaces or controls.
 */
export function byteToUnicode(): string[] {
  const table = new Array<string>(256);
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = String.fromCharCode(printable(b) ? b : 256 + next++);
  }
  return table;
}

export interface ClipBpeFiles {
  /** parsed vocab.json: token -> id */
  vocab: Record<string, number>;
  /** merges.txt text, with or without its `#version` header */
  merges: string;
  /** merges.txt path, for messages */
  mergesWhere?: string;
  /** the strings that map straight to an id instead of going through BPE */
  specialTokens: string[];
  /** id for a token missing from the vocab (CLIP: `<|endoftext|>`) */
  unk: number;
}

/**
 * Parses merges.txt into "left right" -> rank, keeping the first CLIP_MERGE_LIMIT merges. As in the
 * reference a repeated pair takes its later rank (real files have none).
 */
export function parseMerges(text: string, where = 'merges.txt'): Map<string, number> {
  const ranks = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  let rank = 0;
  for (let i = 0; i < lines.length && rank < CLIP_MERGE_LIMIT; i++) {
    const line = lines[i];
    if (line === '' || (i === 0 && line.startsWith('#version'))) continue;
    const parts = line.split(' ');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      throw new ChordError(
        'TOKENIZER_INVALID',
        `${where} line ${i + 1} is not a merge ("left right"): ${JSON.stringify(line.slice(0, 40))}.`,
        'Replace the tokenizer files with the ones that came with the model.',
      );
    }
    ranks.set(line, rank++);
  }
  return ranks;
}

/** The CLIP tokenizer proper: text -> ids, with a per-word cache. */
export class ClipBpe {
  private readonly vocab: Map<string, number>;
  private readonly ranks: Map<string, number>;
  private readonly special: Map<string, number>;
  private readonly unk: number;
  private readonly bytes = byteToUnicode();
  private readonly utf8 = new TextEncoder();
  /** byte-mapped word -> ids; prompts repeat words, and BPE of a long word is quadratic */
  private readonly cache = new Map<string, number[]>();
  private readonly idToTokenTable: string[];
  private static readonly CACHE_LIMIT = 20_000;

  constructor(files: ClipBpeFiles) {
    this.vocab = new Map(Object.entries(files.vocab));
    this.ranks = parseMerges(files.merges, files.mergesWhere);
    this.unk = files.unk;
    this.special = new Map();
    for (const s of files.specialTokens) {
      const id = this.vocab.get(s);
      if (id !== undefined) this.special.set(s, id);
    }
    this.idToTokenTable = [];
    for (const [token, id] of this.vocab) this.idToTokenTable[id] = token;
  }

  idToToken(id: number): string | undefined {
    return this.idToTokenTable[id];
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    for (const word of preTokenize(cleanText(text))) {
      const special = this.special.get(word);
      if (special !== undefined) {
        ids.push(special);
        continue;
      }
      let mapped = '';
      for (const b of this.utf8.encode(word)) mapped += this.bytes[b];
      let wordIds = this.cache.get(mapped);
      if (wordIds === undefined) {
        wordIds = this.bpe(mapped).map((t) => this.vocab.get(t) ?? this.unk);
        if (this.cache.size >= ClipBpe.CACHE_LIMIT) this.cache.clear();
        this.cache.set(mapped, wordIds);
      }
      for (const id of wordIds) ids.push(id);
    }
    return ids;
  }

  /**
   * Byte-pair merging of one byte-mapped word: repeatedly merge every occurrence (left to right)
   * of the adjacent pair with the lowest rank, until no adjacent pair has a rank.
   */
  bpe(mapped: string): string[] {
    // every byte-mapped character is a single UTF-16 unit, so indexing by unit is safe
    let word = mapped.split('');
    if (word.length === 0) return [];
    word[word.length - 1] += END_OF_WORD;
    while (word.length > 1) {
      let best = Infinity;
      let first = '';
      let second = '';
      for (let i = 0; i < word.length - 1; i++) {
        const rank = this.ranks.get(word[i] + ' ' + word[i + 1]);
        if (rank !== undefined && rank < best) {
          best = rank;
          first = word[i];
          second = word[i + 1];
        }
      }
      if (best === Infinity) break;
      const merged: string[] = [];
      for (let i = 0; i < word.length; i++) {
        if (i < word.length - 1 && word[i] === first && word[i + 1] === second) {
          merged.push(first + second);
          i++;
        } else {
          merged.push(word[i]);
        }
      }
      word = merged;
    }
    return word;
  }
}
