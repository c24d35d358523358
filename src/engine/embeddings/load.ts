/**
 * Textual-inversion embedding files -> vectors for the text encoder's token-embedding table.
 * Read formats:
 *   - A1111 `.pt`: a torch.save dict whose `string_to_param` holds one tensor [n, width];
 *   - A1111 `.safetensors`: tensor `emb_params` [n, width], or `clip_l` (an SDXL-style file; its
 *     CLIP-L half is what an SD 1.x text encoder takes);
 *   - diffusers `learned_embeds.safetensors` / `.bin`: one tensor named after the token, [width] or [n, width].
 * The name used in prompts is the file name without its extension, as in A1111.
 */
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { ChordError } from '../errors';
import { type HashCache, hashFile } from '../hash';
import { withSafetensors } from '../safetensors';
import { type PickleValue, readTorchZip, type TorchTensor } from './torch-zip';

export const EMBEDDING_EXTENSIONS = ['.pt', '.bin', '.safetensors'];

/** Most vectors one embedding may have: it must fit in a 75-token window. */
export const MAX_VECTORS = 75;

export interface Embedding {
  /** file name without extension: what the prompt writes */
  name: string;
  path: string;
  /** number of vectors */
  vectors: number;
  width: number;
  /** [vectors * width], row-major */
  data: Float32Array;
  /** sha256 of the file; A1111's "TI hashes" shows the first 12 hex digits */
  fileHash: string;
}

function invalid(path: string, what: string, hint = 'Check that it is a textual-inversion embedding for this kind of model.'): ChordError {
  return new ChordError('BAD_ARGUMENT', `Embedding ${path} ${what}.`, hint);
}

const isTensor = (v: PickleValue | undefined): v is TorchTensor => typeof v === 'object' && v !== null && !Array.isArray(v) && v.kind === 'tensor';

/** The one tensor of a `.pt` / `.bin` file. */
function tensorFromPickle(root: PickleValue, path: string): TorchTensor {
  if (typeof root !== 'object' || root === null || Array.isArray(root) || root.kind !== 'dict') throw invalid(path, 'does not hold a dict');
  const params = root.entries.get('string_to_param');
  if (params !== undefined) {
    if (typeof params !== 'object' || params === null || Array.isArray(params) || params.kind !== 'dict') throw invalid(path, 'has a string_to_param that is not a dict');
    const tensors = [...params.entries.values()];
    if (tensors.length !== 1 || !isTensor(tensors[0])) throw invalid(path, `has ${tensors.length} entries in string_to_param; an embedding has exactly one tensor`);
    return tensors[0];
  }
  // diffusers learned_embeds.bin: { "<token>": tensor }
  const values = [...root.entries.values()];
  if (values.length === 1 && isTensor(values[0])) return values[0];
  throw invalid(path, `holds neither string_to_param nor a single tensor (keys: ${[...root.entries.keys()].slice(0, 8).join(', ')})`);
}

/** Shape check: [width] or [n, width] with 1 <= n <= 75, every value finite. */
export function checkVectors(shape: readonly number[], data: Float32Array, width: number, path: string): number {
  const shown = `[${shape.join(', ')}]`;
  if (shape.length !== 1 && shape.length !== 2) throw invalid(path, `has a tensor of shape ${shown}; an embedding is [vectors, width]`);
  const w = shape[shape.length - 1];
  const n = shape.length === 2 ? shape[0] : 1;
  if (w !== width) {
    throw invalid(path, `has vectors of width ${w}, but this model's text encoder takes width ${width}`, 'It was made for another kind of model (SD 1.x: 768, SD 2.x: 1024); use one made for this model.');
  }
  if (n < 1) throw invalid(path, 'has no vectors');
  if (n > MAX_VECTORS) throw invalid(path, `has ${n} vectors; at most ${MAX_VECTORS} fit in a prompt window`);
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) throw invalid(path, `has a value that is not a finite number (${data[i]}) at vector ${Math.floor(i / w)}`, 'The file is damaged or its training diverged; use another copy.');
  }
  return n;
}

async function readSafetensorsEmbedding(path: string): Promise<{ shape: number[]; data: Float32Array }> {
  return withSafetensors(path, async (f) => {
    const names = f.names();
    const name = ['emb_params', 'clip_l'].find((n) => f.has(n)) ?? (names.length === 1 ? names[0] : undefined);
    if (name === undefined) throw invalid(path, `has no emb_params or clip_l tensor and more than one tensor (${names.slice(0, 8).join(', ')})`);
    return { shape: [...f.info(name).shape], data: await f.readFloat32(name) };
  });
}

/** Reads and checks one embedding file against the text encoder's width. */
export async function readEmbedding(path: string, width: number, hashes?: HashCache): Promise<Embedding> {
  const ext = extname(path).toLowerCase();
  let tensor: { shape: number[]; data: Float32Array };
  if (ext === '.safetensors') tensor = await readSafetensorsEmbedding(path);
  else if (ext === '.pt' || ext === '.bin') {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (e) {
      throw new ChordError('FILE_NOT_FOUND', `Cannot read the embedding ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'}).`, 'Check the path.', { cause: e });
    }
    tensor = tensorFromPickle(readTorchZip(bytes, path), path);
  } else throw invalid(path, `has the extension ${ext || '(none)'}`, `Embeddings are ${EMBEDDING_EXTENSIONS.join(', ')} files.`);
  const vectors = checkVectors(tensor.shape, tensor.data, width, path);
  return { name: basename(path, extname(path)), path, vectors, width, data: Float32Array.from(tensor.data), fileHash: await hashFile(path, hashes) };
}
