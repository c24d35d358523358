/**
 * Writing safetensors files: header (padded with spaces to 8 bytes so tensor data stays aligned),
 * then tensor data ordered by element size (largest first) and name, so every tensor starts at a
 * multiple of its element size. Files are written to a temp file and renamed into place: a crash
 * never leaves a half-written file under the final name.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ChordError } from '../errors';
import { DTYPE_SIZE, encodeFromFloat32, isSafetensorsDtype, type SafetensorsDtype } from './dtypes';

export type TensorToWrite =
  /** numeric values, converted to `dtype` on write */
  | { dtype: SafetensorsDtype; shape: number[]; data: ArrayLike<number> }
  /** raw little-endian bytes already in `dtype` */
  | { dtype: SafetensorsDtype; shape: number[]; bytes: Uint8Array };

interface Planned {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  bytes: Uint8Array;
}

function plan(tensors: Record<string, TensorToWrite> | Map<string, TensorToWrite>): Planned[] {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const out: Planned[] = [];
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new ChordError('BAD_ARGUMENT', `A tensor cannot be named '__metadata__'.`);
    if (!isSafetensorsDtype(t.dtype)) throw new ChordError('BAD_ARGUMENT', `Tensor '${name}' has unsupported dtype ${String(t.dtype)}.`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new ChordError('BAD_ARGUMENT', `Tensor '${name}' has a bad shape [${t.shape.join(', ')}].`);
    }
    const count = t.shape.reduce((a, b) => a * b, 1);
    const bytes = 'bytes' in t ? t.bytes : encodeFromFloat32(t.data, t.dtype);
    if (bytes.byteLength !== count * DTYPE_SIZE[t.dtype]) {
      throw new ChordError(
        'BAD_ARGUMENT',
        `Tensor '${name}' has ${bytes.byteLength} bytes of data but ${t.dtype} [${t.shape.join(', ')}] needs ${count * DTYPE_SIZE[t.dtype]}.`,
      );
    }
    out.push({ name, dtype: t.dtype, shape: t.shape.slice(), bytes });
  }
  out.sort((a, b) => DTYPE_SIZE[b.dtype] - DTYPE_SIZE[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return out;
}

function headerBytes(planned: Planned[], metadata: Record<string, string> | undefined): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new ChordError('BAD_ARGUMENT', `Metadata value for '${k}' must be a string.`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const p of planned) {
    header[p.name] = { dtype: p.dtype, shape: p.shape, data_offsets: [offset, offset + p.bytes.byteLength] };
    offset += p.bytes.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(8 + padded).fill(0x20);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  return out;
}

/** The whole file in memory (for small files and tests). */
export function serializeSafetensors(
  tensors: Record<string, TensorToWrite> | Map<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Uint8Array {
  const planned = plan(tensors);
  const head = headerBytes(planned, metadata);
  const total = head.byteLength + planned.reduce((a, p) => a + p.bytes.byteLength, 0);
  const out = new Uint8Array(total);
  out.set(head, 0);
  let pos = head.byteLength;
  for (const p of planned) {
    out.set(p.bytes, pos);
    pos += p.bytes.byteLength;
  }
  return out;
}

function writeError(e: unknown, path: string): ChordError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code ?? 'unknown error';
  return new ChordError('BAD_ARGUMENT', `Could not write ${path} (${code}).`, 'Check that the folder exists, is writable and has free space.', { cause: e });
}

async function writeFully(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.byteLength - done);
    done += bytesWritten;
  }
}

/** Write a safetensors file atomically (temp file in the same folder, then rename). */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, TensorToWrite> | Map<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Promise<void> {
  const planned = plan(tensors);
  const head = headerBytes(planned, metadata);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx');
  } catch (e) {
    throw writeError(e, path);
  }
  try {
    await writeFully(fh, head);
    for (const p of planned) await writeFully(fh, p.bytes);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
  } catch (e) {
    if (fh) await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw e instanceof ChordError ? e : writeError(e, path);
  }
}
