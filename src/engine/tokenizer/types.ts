/**
 * What the rest of the engine needs from a text tokenizer. Both file formats (CLIP
 * `vocab.json` + `merges.txt`, and HF `tokenizer.json`) load into this one shape.
 */
export interface Tokenizer {
  /** begin-of-text id (`<|startoftext|>`, 49406 for CLIP) */
  readonly bos: number;
  /** end-of-text id (`<|endoftext|>`, 49407 for CLIP) */
  readonly eos: number;
  /** padding id; CLIP pads with `<|endoftext|>`, so pad = eos */
  readonly pad: number;
  /** tokens per text-encoder window including BOS and EOS (77 for CLIP) */
  readonly maxLength: number;
  /** which file format this came from, for messages and `chord tokenize` */
  readonly format: 'clip-bpe' | 'tokenizer.json';
  /** ids of the text without BOS/EOS, never truncated */
  encode(text: string): number[];
  /** the vocabulary entry of an id (byte-level form, e.g. `cat</w>`), or undefined */
  idToToken(id: number): string | undefined;
}
