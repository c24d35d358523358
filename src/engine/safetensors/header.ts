/**
 * The safetensors header: an 8-byte little-endian length N, then N bytes of UTF-8 JSON
 *   { "<tensor>": { "dtype": "F16", "shape": [..], "data_offsets": [begin, end] }, ...,
 *     "__metadata__": { "<key>": "<string>" } }
 * Offsets are relative to the first byte after the header. Everything here is treated as hostile:
 * the file may come from anywhere.
 */
import { ChordError } from '../errors';
import { DTYPE_SIZE, isSafetensorsDtype, type SafetensorsDtype } from './dtypes';

/** Refuse headers above this size: real ones are a few hundred KB even for full checkpoints. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** offsets relative to the data section (the first byte after the header) */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** N, the JSON length */
  headerLength: number;
  /** absolute file offset of the data section: 8 + N */
  dataStart: number;
  /** in file order of their data */
  tensors: TensorInfo[];
  metadata: Record<string, string>;
}

function invalid(what: string, source: string): ChordError {
  return new ChordError(
    'SAFETENSORS_INVALID',
    `${source} is not a valid safetensors file: ${what}.`,
    'Re-download or re-export the file; it is damaged or not a safetensors file.',
  );
}

/**
 * Read the header length from the first 8 bytes and check it against the file size.
 * Returns N as a plain number (never above MAX_HEADER_BYTES).
 */
export function readHeaderLength(first8: Uint8Array, fileSize: number, source: string): number {
  if (fileSize < 8 || first8.byteLength < 8) throw invalid(`it is only ${fileSize} bytes long (truncated)`, source);
  const view = new DataView(first8.buffer, first8.byteOffset, 8);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw invalid(`its header claims ${n} bytes, more than the ${MAX_HEADER_BYTES / 1024 / 1024} MB allowed`, source);
  }
  const headerLength = Number(n);
  if (8 + headerLength > fileSize) {
    throw invalid(`its header claims ${headerLength} bytes but the file has only ${fileSize - 8} after the length (truncated)`, source);
  }
  if (headerLength < 2) throw invalid('its header is empty', source);
  return headerLength;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parse and check the JSON header. `dataLength` is the size of the data section (file size - 8 - N).
 * Checks: valid UTF-8 JSON object; known dtypes; shapes of non-negative integers; offsets integers
 * with 0 <= begin <= end <= dataLength; end - begin = product(shape) * dtype size; no two tensors
 * overlap. Gaps between tensors are tolerated (they are harmless to read around).
 */
export function parseSafetensorsHeader(json: Uint8Array, headerLength: number, dataLength: number, source: string): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
  } catch {
    throw invalid('its header is not UTF-8 text', source);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalid('its header is not valid JSON', source);
  }
  if (!isRecord(parsed)) throw invalid('its header is not a JSON object', source);

  const metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, raw] of Object.entries(parsed)) {
    if (name === '__metadata__') {
      if (raw === null) continue;
      if (!isRecord(raw)) throw invalid('its __metadata__ is not an object', source);
      for (const [k, v] of Object.entries(raw)) {
        // The format says string values; some writers store numbers. Keep them as text.
        metadata[k] = typeof v === 'string' ? v : JSON.stringify(v);
      }
      continue;
    }
    if (!isRecord(raw)) throw invalid(`tensor '${name}' has no description object`, source);
    const { dtype, shape, data_offsets: offsets } = raw;
    if (!isSafetensorsDtype(dtype)) {
      throw invalid(`tensor '${name}' has unsupported dtype ${JSON.stringify(dtype)}`, source);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw invalid(`tensor '${name}' has a bad shape ${JSON.stringify(shape)}`, source);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)
    ) {
      throw invalid(`tensor '${name}' has bad data_offsets ${JSON.stringify(offsets)}`, source);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw invalid(`tensor '${name}' has data_offsets out of order [${begin}, ${end}]`, source);
    if (end > dataLength) {
      throw invalid(`tensor '${name}' ends at byte ${end} but the data section has only ${dataLength} bytes`, source);
    }
    // product(shape) with an early exit: a hostile shape must not overflow into a "matching" size
    let count = (shape as number[]).includes(0) ? 0 : 1;
    for (const d of count === 0 ? [] : (shape as number[])) {
      count *= d;
      if (count > dataLength) break;
    }
    const bytes = count * DTYPE_SIZE[dtype];
    if (bytes !== end - begin) {
      throw invalid(
        `tensor '${name}' (${dtype} [${(shape as number[]).join(', ')}]) needs ${bytes} bytes but its data_offsets span ${end - begin}`,
        source,
      );
    }
    tensors.push({ name, dtype, shape: (shape as number[]).slice(), begin, end });
  }
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let last: TensorInfo | undefined; // the non-empty tensor reaching furthest so far
  for (const cur of tensors) {
    if (cur.end === cur.begin) continue; // empty tensors occupy no bytes
    if (last && cur.begin < last.end) {
      throw invalid(`tensors '${last.name}' and '${cur.name}' overlap in the data section`, source);
    }
    last = cur;
  }
  return { headerLength, dataStart: 8 + headerLength, tensors, metadata };
}
