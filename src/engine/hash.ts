/**
 * File hashes that identify models and LoRAs in image metadata: full sha256, hex. A1111 shows
 * prefixes of the same digest ("Model hash": 10 hex digits, "Lora hashes": 12), so a LoRA file
 * hashed here matches what A1111 and Civitai show for it.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { ChordError } from './errors';

/**
 * Optional memo of digests, keyed by absolute path + size + mtime, so an unchanged file is read
 * once per process. Create one per engine (`new Map()`) and pass it to every call.
 */
export type HashCache = Map<string, string>;

/**
 * The memo key of one file: absolute path + size + mtime. Throws FILE_NOT_FOUND for a missing file
 * or a folder. Other memoised digests of a file (e.g. lora/hash.ts) extend this key.
 */
export async function fileKey(path: string): Promise<string> {
  let info;
  try {
    info = await stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const message = code === 'ENOENT' ? `File not found: ${path}.` : `Cannot read ${path} (${code ?? 'unknown error'}).`;
    throw new ChordError('FILE_NOT_FOUND', message, 'Check that the file exists and can be read.', { cause: e });
  }
  if (!info.isFile()) throw new ChordError('FILE_NOT_FOUND', `${path} is not a file.`);
  return `${resolve(path)}\0${info.size}\0${info.mtimeMs}`;
}

/** sha256 of the files' bytes one after another, streamed (model files are gigabytes). */
async function sha256Files(paths: string[], cache?: HashCache): Promise<string> {
  const key = (await Promise.all(paths.map(fileKey))).join('\n');
  const known = cache?.get(key);
  if (known) return known;
  const hash = createHash('sha256');
  for (const path of paths) {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  }
  const digest = hash.digest('hex');
  cache?.set(key, digest);
  return digest;
}

/** sha256 of a file, 64 lower-case hex. */
export function hashFile(path: string, cache?: HashCache): Promise<string> {
  return sha256Files([path], cache);
}

/** Files next to model.onnx that are not tensors: configs and notes some exporters leave there. */
const NOT_WEIGHTS = /\.(json|txt|md)$/i;

/**
 * The hash that identifies a model folder (diffusers ONNX layout): sha256 of `unet/model.onnx`,
 * followed, when the UNet keeps its weights outside the graph (models over 2 GB, e.g.
 * `model.onnx_data` or one file per tensor), by every other file in `unet/` in name order,
 * skipping hidden files and .json/.txt/.md. For a single-file UNet this is exactly the sha256 of
 * unet/model.onnx. Its first 10 hex digits are A1111's "Model hash".
 */
export async function modelHash(modelDir: string, cache?: HashCache): Promise<string> {
  const unetDir = join(modelDir, 'unet');
  let names: string[];
  try {
    names = await readdir(unetDir);
  } catch (e) {
    throw new ChordError('MODEL_INVALID', `${basename(modelDir)} has no unet folder.`, 'Choose a model folder in the diffusers ONNX layout.', { cause: e });
  }
  if (!names.includes('model.onnx')) {
    throw new ChordError('MODEL_INVALID', `${basename(modelDir)} has no unet/model.onnx.`, 'Choose a model folder in the diffusers ONNX layout.');
  }
  const external = names
    .filter((n) => n !== 'model.onnx' && !n.startsWith('.') && !NOT_WEIGHTS.test(n))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const files: string[] = [join(unetDir, 'model.onnx')];
  for (const name of external) {
    if ((await stat(join(unetDir, name))).isFile()) files.push(join(unetDir, name));
  }
  return sha256Files(files, cache);
}
