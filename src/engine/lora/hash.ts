/**
 * LoRA file hashes, computed in one streaming pass (a file is never held in memory):
 *   sha256  of the whole file. Civitai's "AutoV2" is its first 10 hex chars.
 *   addnet  sha256 of everything after the safetensors header, i.e. from byte 8 + header length to
 *           the end (kohya's `addnet_hash_safetensors`, stored by kohya as `sshs_model_hash`).
 *           Unlike the full sha256 it does not change when only metadata is edited.
 *   a1111   what AUTOMATIC1111 writes for the LoRA in the "Lora hashes" infotext field: the file's
 *           `sshs_model_hash` metadata value when it has one, else the addnet hash, first 12 hex
 *           chars (a1111ShortHash). This is what `chord lora inspect` shows and what the engine
 *           writes into images.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { fileKey, type HashCache } from '../hash';
import { fileError, readSafetensorsHeader } from '../safetensors/reader';
import { readHeaderLength } from '../safetensors/header';

export interface LoraHashes {
  sha256: string;
  /** first 10 hex chars of sha256 (Civitai AutoV2) */
  autoV2: string;
  /** sha256 of the data after the header */
  addnet: string;
  /** what A1111 writes in "Lora hashes": a1111ShortHash(addnet, sshs_model_hash) */
  a1111: string;
}

/** An `sshs_model_hash` is taken when it looks like a (possibly cut) sha256: 12 to 64 hex digits. */
const CLAIMED_HASH = /^[0-9a-f]{12,64}$/i;

/**
 * A1111's short hash of a .safetensors LoRA (its `NetworkOnDisk.shorthash`): the file's
 * `sshs_model_hash` metadata value if it has one, else the addnet hash; the first 12 hex chars,
 * lower case. A stored value that is not 12 to 64 hex digits cannot be a hash and is ignored
 * (A1111 would print it as it is).
 */
export function a1111ShortHash(addnet: string, sshsModelHash?: string): string {
  const claimed = sshsModelHash !== undefined && CLAIMED_HASH.test(sshsModelHash) ? sshsModelHash : undefined;
  return (claimed ?? addnet).slice(0, 12).toLowerCase();
}

async function dataStartOf(path: string): Promise<number> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw fileError(e, path);
  }
  try {
    const size = (await fh.stat()).size;
    const first8 = new Uint8Array(8);
    if (size >= 8) await fh.read(first8, 0, 8, 0);
    return 8 + readHeaderLength(first8, size, path);
  } finally {
    await fh.close();
  }
}

/** Both hashes in one pass over the file. `sshsModelHash` is the file's own claim, if any. */
export async function hashLoraFile(path: string, sshsModelHash?: string): Promise<LoraHashes> {
  const dataStart = await dataStartOf(path);
  const full = createHash('sha256');
  const data = createHash('sha256');
  let pos = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      full.update(chunk);
      const end = pos + chunk.byteLength;
      if (end > dataStart) data.update(pos >= dataStart ? chunk : chunk.subarray(dataStart - pos));
      pos = end;
    }
  } catch (e) {
    throw fileError(e, path);
  }
  const sha256 = full.digest('hex');
  const addnet = data.digest('hex');
  return { sha256, autoV2: sha256.slice(0, 10), addnet, a1111: a1111ShortHash(addnet, sshsModelHash) };
}

/** What the engine keeps of a LoRA file for image metadata. */
export interface LoraFileHashes {
  /** sha256 of the whole file, 64 hex (the `chord` record's `fileHash`) */
  sha256: string;
  /** A1111's "Lora hashes" value, 12 hex (the record's `a1111Hash`) */
  a1111: string;
}

/**
 * The sha256 and the A1111 short hash of a LoRA file, read once per file: memoised in `cache`
 * under the file's path + size + mtime. The sha256 goes under the same key `hashFile` uses (so
 * either function answers from the other's work), the short hash under that key + `\0a1111`.
 */
export async function loraFileHashes(path: string, cache?: HashCache): Promise<LoraFileHashes> {
  const key = await fileKey(path);
  const sha256 = cache?.get(key);
  const a1111 = cache?.get(`${key}\0a1111`);
  if (sha256 && a1111) return { sha256, a1111 };
  const { metadata } = await readSafetensorsHeader(path);
  const hashes = await hashLoraFile(path, metadata.sshs_model_hash);
  cache?.set(key, hashes.sha256);
  cache?.set(`${key}\0a1111`, hashes.a1111);
  return { sha256: hashes.sha256, a1111: hashes.a1111 };
}
