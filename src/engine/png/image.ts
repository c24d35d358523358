/**
 * Images that leave the engine: PNG with an A1111 `parameters` chunk (read by other tools) and a
 * `chord` chunk (the exact record). See docs/image-metadata.md.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import sharp from 'sharp';
import { ChordError, isChordError } from '../errors';
import { writeFileAtomic } from '../fsutil';
import { type A1111FormatOptions, type A1111Parameters, formatA1111Parameters, parseA1111Parameters } from './a1111';
import { decodeText, encodeITXt, encodeText, insertChunks, isTextChunk, readChunks } from './chunks';
import { type ChordImageRecord, checkChordRecord, parseChordRecord } from './record';

/** Keyword of A1111's infotext chunk. */
export const PARAMETERS_KEYWORD = 'parameters';
/** Keyword of Chord's JSON record chunk. */
export const CHORD_KEYWORD = 'chord';

export interface ImageInfo {
  width: number;
  height: number;
  /** false when the PNG has neither a `parameters` nor a `chord` chunk (not an error) */
  hasMetadata: boolean;
  /** the `parameters` text as stored */
  parameters?: string;
  /** `parameters` parsed the way A1111 does */
  a1111?: A1111Parameters;
  /** the record of an image Chord made */
  chord?: ChordImageRecord;
  /** every text chunk by keyword (a later chunk with the same keyword wins, as in Pillow) */
  text: Record<string, string>;
}

/**
 * PNG bytes of an RGB image (row-major, 3 bytes per pixel) with both metadata chunks.
 * Throws BAD_ARGUMENT when the pixels or the record do not match.
 */
export async function encodeImage(
  rgb: Uint8Array,
  width: number,
  height: number,
  meta: ChordImageRecord,
  options?: A1111FormatOptions,
): Promise<Buffer> {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || rgb.length !== width * height * 3) {
    throw new ChordError('BAD_ARGUMENT', `Image pixels do not match its size: ${rgb.length} bytes for ${width}x${height} RGB (expected ${width * height * 3}).`);
  }
  const record = checkChordRecord(meta);
  if (record.width !== width || record.height !== height) {
    throw new ChordError('BAD_ARGUMENT', `Image is ${width}x${height} but its settings say ${record.width}x${record.height}.`);
  }
  const png = await sharp(rgb, { raw: { width, height, channels: 3 } }).png().toBuffer();
  return insertChunks(png, [
    encodeText(PARAMETERS_KEYWORD, formatA1111Parameters(record, options)),
    encodeITXt(CHORD_KEYWORD, JSON.stringify(record)),
  ]);
}

/** Encodes and writes atomically: a crash leaves the old file or the whole new one. */
export async function saveImage(
  path: string,
  rgb: Uint8Array,
  width: number,
  height: number,
  meta: ChordImageRecord,
  options?: A1111FormatOptions,
): Promise<void> {
  await writeFileAtomic(path, await encodeImage(rgb, width, height, meta, options));
}

async function load(source: string | Uint8Array): Promise<{ bytes: Uint8Array; name: string }> {
  if (typeof source !== 'string') return { bytes: source, name: 'Image data' };
  try {
    return { bytes: await readFile(source), name: basename(source) };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ChordError('FILE_NOT_FOUND', `Image not found: ${source}.`, undefined, { cause: e });
    throw new ChordError('PNG_INVALID', `Cannot read ${source} (${code ?? 'unknown error'}).`, undefined, { cause: e });
  }
}

/**
 * Size and generation settings of a PNG: A1111 `parameters` (tEXt, zTXt or iTXt) and the Chord
 * record. A PNG without them gives `hasMetadata: false`. Throws PNG_INVALID when the file is not
 * a PNG, is truncated or damaged, or its metadata cannot be read.
 */
export async function readImageInfo(source: string | Uint8Array): Promise<ImageInfo> {
  const { bytes, name } = await load(source);
  const chunks = readChunks(bytes, name);
  const header = new DataView(chunks[0].data.buffer, chunks[0].data.byteOffset, chunks[0].data.byteLength);
  if (header.byteLength < 8) throw new ChordError('PNG_INVALID', `${name} is damaged (its IHDR chunk is too short).`);

  const entries: [string, string][] = [];
  for (const chunk of chunks) {
    if (!isTextChunk(chunk.name)) continue;
    try {
      const entry = decodeText(chunk);
      entries.push([entry.keyword, entry.text]);
    } catch (e) {
      if (isChordError(e)) throw e;
      throw new ChordError('PNG_INVALID', `${name} has a damaged ${chunk.name} text chunk (${(e as Error).message}).`, 'Its settings cannot be read; the picture itself may still open.', { cause: e });
    }
  }

  // fromEntries makes own properties, so a keyword like "__proto__" cannot touch the prototype
  const text: Record<string, string> = Object.fromEntries(entries);
  const info: ImageInfo = {
    width: header.getUint32(0),
    height: header.getUint32(4),
    hasMetadata: false,
    text,
  };
  const parameters = Object.hasOwn(text, PARAMETERS_KEYWORD) ? text[PARAMETERS_KEYWORD] : undefined;
  if (parameters !== undefined) {
    info.parameters = parameters;
    info.a1111 = parseA1111Parameters(parameters);
  }
  const record = Object.hasOwn(text, CHORD_KEYWORD) ? text[CHORD_KEYWORD] : undefined;
  if (record !== undefined) info.chord = parseChordRecord(record, name);
  info.hasMetadata = parameters !== undefined || record !== undefined;
  return info;
}
