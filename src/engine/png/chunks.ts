/**
 * PNG text chunks (PNG spec 1.2 / ISO 15948, section 11.3.4). Chunk framing and CRCs come from
 * png-chunks-extract / png-chunks-encode, tEXt from png-chunk-text; iTXt and zTXt are written
 * here (png-chunk-text does tEXt only). Functions that parse chunk data throw plain Errors with a
 * reason; image.ts turns them into one ChordError naming the file.
 */
import { deflateSync, inflateSync } from 'node:zlib';
import extractChunks from 'png-chunks-extract';
import encodeChunks from 'png-chunks-encode';
import pngText from 'png-chunk-text';
import { ChordError } from '../errors';

export interface PngChunk {
  name: string;
  data: Uint8Array;
}

export interface TextEntry {
  keyword: string;
  text: string;
  chunk: 'tEXt' | 'zTXt' | 'iTXt';
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** A text chunk may inflate to at most this; guards against a tiny chunk that expands to gigabytes. */
const MAX_TEXT_BYTES = 16 * 1024 * 1024;

export const isLatin1 = (s: string): boolean => /^[\u0000-\u00ff]*$/.test(s);

/** Where each chunk starts (its length field) and how long its data is. */
interface ChunkSpan {
  name: string;
  start: number;
  length: number;
}

/**
 * Walks the chunk headers only (8 bytes each), so a truncated file or a nonsense length is
 * reported plainly before png-chunks-extract would allocate that length or read past the end.
 */
function scanChunks(png: Uint8Array, source: string): ChunkSpan[] {
  if (png.length < 8 || SIGNATURE.some((b, i) => png[i] !== b)) {
    throw new ChordError('PNG_INVALID', `${source} is not a PNG image.`, 'Choose a .png file.');
  }
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const spans: ChunkSpan[] = [];
  let at = 8;
  for (;;) {
    if (at + 8 > png.length) {
      throw new ChordError('PNG_INVALID', `${source} is truncated (it ends before its last chunk).`, 'Save or download the image again.');
    }
    const length = view.getUint32(at);
    const name = String.fromCharCode(png[at + 4], png[at + 5], png[at + 6], png[at + 7]);
    if (length > 0x7fffffff || at + 12 + length > png.length) {
      throw new ChordError('PNG_INVALID', `${source} is truncated (it ends inside its ${name} chunk).`, 'Save or download the image again.');
    }
    spans.push({ name, start: at, length });
    if (name === 'IEND') return spans;
    at += 12 + length;
  }
}

/** All chunks of a PNG, checked: signature, IHDR first, lengths, every CRC, IEND present. */
export function readChunks(png: Uint8Array, source: string): PngChunk[] {
  scanChunks(png, source);
  try {
    return extractChunks(png);
  } catch (e) {
    const crc = /CRC values for (\S+)/.exec((e as Error).message);
    const reason = crc ? `its ${crc[1]} chunk fails its checksum` : (e as Error).message;
    throw new ChordError('PNG_INVALID', `${source} is damaged (${reason}).`, 'Save or download the image again.', { cause: e });
  }
}

/** Inserts chunks just before the first IDAT, where Pillow (hence A1111) writes its text chunks. */
export function insertChunks(png: Uint8Array, chunks: PngChunk[]): Buffer {
  const idat = scanChunks(png, 'the encoded image').find((c) => c.name === 'IDAT');
  if (!idat) throw new ChordError('RUNTIME', 'The PNG encoder wrote no image data.');
  // Encode only the new chunks (dropping the signature) instead of re-encoding the whole file:
  // png-chunks-encode copies every byte through a JS array to compute CRCs.
  const encoded = encodeChunks(chunks).subarray(SIGNATURE.length);
  return Buffer.concat([png.subarray(0, idat.start), encoded, png.subarray(idat.start)]);
}

function checkKeyword(keyword: string): void {
  if (keyword.length < 1 || keyword.length > 79 || !isLatin1(keyword) || keyword.includes('\0')) {
    throw new Error(`PNG text keyword "${keyword}" must be 1-79 Latin-1 characters`);
  }
}

/** An iTXt chunk: UTF-8 text, no language tag, uncompressed (what Pillow's add_itxt writes). */
export function encodeITXt(keyword: string, text: string): PngChunk {
  checkKeyword(keyword);
  const header = Buffer.from(`${keyword}\0\0\0\0\0`, 'latin1'); // keyword, flag 0, method 0, '' lang, '' translated
  return { name: 'iTXt', data: Buffer.concat([header, Buffer.from(text, 'utf8')]) };
}

/** tEXt when the text is Latin-1, else iTXt: the rule of Pillow's PngInfo.add_text, so of A1111. */
export function encodeText(keyword: string, text: string): PngChunk {
  checkKeyword(keyword);
  // NUL ends a keyword and is forbidden in text; a prompt never needs one.
  const clean = text.replaceAll('\0', '');
  return isLatin1(clean) ? pngText.encode(keyword, clean) : encodeITXt(keyword, clean);
}

function nulAt(data: Uint8Array, from: number, field: string): number {
  const i = data.indexOf(0, from);
  if (i < 0) throw new Error(`no end to its ${field}`);
  return i;
}

function inflate(data: Uint8Array): Buffer {
  try {
    return inflateSync(data, { maxOutputLength: MAX_TEXT_BYTES });
  } catch {
    throw new Error('its compressed text does not decompress');
  }
}

/** Bytes in a tEXt chunk are Latin-1 by the spec, but some writers put UTF-8 there; valid
 * multi-byte UTF-8 is vanishingly unlikely in real Latin-1 text, so it is read as UTF-8. */
function latin1OrUtf8(bytes: Uint8Array): string {
  if (bytes.every((b) => b < 0x80)) return Buffer.from(bytes).toString('latin1');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return Buffer.from(bytes).toString('latin1');
  }
}

/** The keyword and text of a tEXt, zTXt or iTXt chunk. Throws Error(reason) on a malformed one. */
export function decodeText(chunk: PngChunk): TextEntry {
  const { data } = chunk;
  if (chunk.name === 'tEXt') {
    const { keyword } = pngText.decode(data); // also rejects NUL inside the text
    return { keyword, text: latin1OrUtf8(data.subarray(keyword.length + 1)), chunk: 'tEXt' };
  }
  const end = nulAt(data, 0, 'keyword');
  const keyword = Buffer.from(data.subarray(0, end)).toString('latin1');
  if (chunk.name === 'zTXt') {
    if (data[end + 1] !== 0) throw new Error('unknown compression method');
    return { keyword, text: inflate(data.subarray(end + 2)).toString('latin1'), chunk: 'zTXt' };
  }
  if (chunk.name === 'iTXt') {
    const compressed = data[end + 1];
    if (compressed !== 0 && compressed !== 1) throw new Error('bad compression flag');
    if (compressed === 1 && data[end + 2] !== 0) throw new Error('unknown compression method');
    const langEnd = nulAt(data, end + 3, 'language tag');
    const translatedEnd = nulAt(data, langEnd + 1, 'translated keyword');
    const body = data.subarray(translatedEnd + 1);
    const bytes = compressed === 1 ? inflate(body) : body;
    try {
      return { keyword, text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), chunk: 'iTXt' };
    } catch {
      throw new Error('its text is not UTF-8');
    }
  }
  throw new Error(`${chunk.name} is not a text chunk`);
}

export const isTextChunk = (name: string): boolean => name === 'tEXt' || name === 'zTXt' || name === 'iTXt';

/** Compressed text chunks. Chord writes its text uncompressed, but other tools write these. */
export function encodeZTXt(keyword: string, text: string): PngChunk {
  checkKeyword(keyword);
  return { name: 'zTXt', data: Buffer.concat([Buffer.from(`${keyword}\0\0`, 'latin1'), deflateSync(Buffer.from(text, 'latin1'))]) };
}

export function encodeCompressedITXt(keyword: string, text: string): PngChunk {
  checkKeyword(keyword);
  return { name: 'iTXt', data: Buffer.concat([Buffer.from(`${keyword}\0\x01\0\0\0`, 'latin1'), deflateSync(Buffer.from(text, 'utf8'))]) };
}
