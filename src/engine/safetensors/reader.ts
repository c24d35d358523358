/**
 * Reading safetensors files through a file handle: the header is read on open (8 + N bytes), a
 * tensor's bytes only when asked for. A 2 GB checkpoint costs a header read to inspect.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { ChordError } from '../errors';
import { DTYPE_SIZE, decodeToFloat32 } from './dtypes';
import { parseSafetensorsHeader, readHeaderLength, type SafetensorsHeader, type TensorInfo } from './header';

/** Map a Node fs error to a user-facing ChordError. */
export function fileError(e: unknown, path: string): ChordError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return new ChordError('FILE_NOT_FOUND', `File not found: ${path}.`, 'Check the path.');
  if (code === 'EISDIR') return new ChordError('BAD_ARGUMENT', `${path} is a folder, not a file.`, 'Pick the .safetensors file itself.');
  if (code === 'EACCES' || code === 'EPERM') {
    return new ChordError('BAD_ARGUMENT', `No permission to read ${path}.`, 'Check the file permissions.');
  }
  return new ChordError('BAD_ARGUMENT', `Could not read ${path} (${code ?? 'unknown error'}).`, undefined, { cause: e });
}

/** Read exactly `length` bytes at `position` into `target` (fh.read may return short counts). */
async function readFully(fh: FileHandle, target: Uint8Array, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < target.byteLength) {
    const { bytesRead } = await fh.read(target, done, target.byteLength - done, position + done);
    if (bytesRead === 0) {
      throw new ChordError('SAFETENSORS_INVALID', `${path} ended early while reading it (truncated?).`, 'Re-download the file.');
    }
    done += bytesRead;
  }
}

export class SafetensorsFile {
  private constructor(
    readonly path: string,
    readonly size: number,
    readonly header: SafetensorsHeader,
    private readonly byName: Map<string, TensorInfo>,
    private fh: FileHandle | undefined,
  ) {}

  /** Open and validate the header. Close the file with `close()` (or use `withSafetensors`). */
  static async open(path: string): Promise<SafetensorsFile> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      throw fileError(e, path);
    }
    try {
      const stat = await fh.stat();
      if (stat.isDirectory()) throw fileError({ code: 'EISDIR' }, path);
      const size = stat.size;
      const first8 = new Uint8Array(8);
      if (size >= 8) await readFully(fh, first8, 0, path);
      const headerLength = readHeaderLength(first8, size, path);
      const json = new Uint8Array(headerLength);
      await readFully(fh, json, 8, path);
      const header = parseSafetensorsHeader(json, headerLength, size - 8 - headerLength, path);
      const byName = new Map(header.tensors.map((t) => [t.name, t]));
      return new SafetensorsFile(path, size, header, byName, fh);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  get metadata(): Record<string, string> {
    return this.header.metadata;
  }

  /** Tensor names in data order. */
  names(): string[] {
    return this.header.tensors.map((t) => t.name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.byName.get(name);
    if (!t) throw new ChordError('SAFETENSORS_INVALID', `${this.path} has no tensor named '${name}'.`);
    return t;
  }

  /** The tensor's raw little-endian bytes, in a fresh (8-byte aligned) ArrayBuffer. */
  async readBytes(name: string): Promise<Uint8Array> {
    const t = this.info(name);
    if (!this.fh) throw new ChordError('BAD_ARGUMENT', `${this.path} was already closed.`);
    const bytes = new Uint8Array(new ArrayBuffer(t.end - t.begin));
    await readFully(this.fh, bytes, this.header.dataStart + t.begin, this.path);
    return bytes;
  }

  /** The tensor as float32 values (F16/BF16/F64/int types converted). */
  async readFloat32(name: string): Promise<Float32Array> {
    const t = this.info(name);
    const bytes = await this.readBytes(name);
    if (t.dtype === 'F32' && isLittleEndianHost) return new Float32Array(bytes.buffer, 0, bytes.byteLength / DTYPE_SIZE.F32);
    return decodeToFloat32(bytes, t.dtype);
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    if (fh) await fh.close();
  }
}

const isLittleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Open, run `fn`, always close. */
export async function withSafetensors<T>(path: string, fn: (file: SafetensorsFile) => Promise<T>): Promise<T> {
  const file = await SafetensorsFile.open(path);
  try {
    return await fn(file);
  } finally {
    await file.close();
  }
}

/** Only the header (tensor list + metadata); the file is closed again. */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  return withSafetensors(path, async (f) => f.header);
}
