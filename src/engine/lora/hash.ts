/**
 * LoRA file hashes, computed in one streaming pass (a file is never held in memory):
 *   sha256  of the whole file. Civitai's "AutoV2" is its first 10 hex chars.
 *   addnet  sha256 of everything after the safetensors header (kohya's `addnet_hash_safetensors`,
 *           stored by kohya as `sshs_model_hash`). A1111 identifies a .safetensors LoRA by this one:
 *           its "Lora hashes" infotext field is `sshs_model_hash` or the addnet hash, first 12 hex
 *           chars. Unlike the full sha256 it does not change when only metadata is edited.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { fileError } from '../safetensors/reader';
import { readHeaderLength } from '../safetensors/header';

export interface LoraHashes {
  sha256: string;
  /** first 10 hex chars of sha256 (Civitai AutoV2) */
  autoV2: string;
  /** sha256 of the data after the header */
  addnet: string;
  /** what A1111 writes in "Lora hashes": metadata `sshs_model_hash` or addnet, first 12 hex chars */
  a1111: string;
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
  const claimed = sshsModelHash && /^[0-9a-f]{12,64}$/i.test(sshsModelHash) ? sshsModelHash.toLowerCase() : undefined;
  return { sha256, autoV2: sha256.slice(0, 10), addnet, a1111: (claimed ?? addnet).slice(0, 12) };
}
