/**
 * Reading and writing ONNX models, external weight files included.
 *
 * In memory, every external-data `location` is an absolute path (readModel resolves them), so a
 * model can be rewritten and saved anywhere. writeModel saves into the app's cache folder and
 * never touches the source folder: ONNX Runtime (1.30) accepts external data only inside the
 * model's own folder (absolute paths, `../` and symlinks that resolve outside are rejected), so
 * each source weights file is hard-linked into the target folder (no copy, same file), or, across
 * file systems, cloned/copied once. Writes are atomic: temp file + rename.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ChordError } from '../errors';
import {
  decodeModel,
  encodeModel,
  externalInfo,
  graphOf,
  isExternal,
  onnx,
  type GraphProto,
  type ModelProto,
  type TensorProto,
} from './proto';

const EXTERNAL = onnx.TensorProto.DataLocation.EXTERNAL;

export interface WriteModelOptions {
  /**
   * How a weights file outside the target folder is brought in: 'link' = hard link, falling back
   * to a copy across file systems (default); 'copy' = always copy (a copy-on-write clone where
   * the file system supports it).
   */
  externalData?: 'link' | 'copy';
  /**
   * Inline tensor bytes above which initializers of 1 KiB or more move to `<model file>.data`
   * next to the model. protobuf cannot encode a message over 2 GiB (an fp32 SD 1.5 UNet is 3.4 GB).
   */
  maxInlineBytes?: number;
}

const DEFAULT_MAX_INLINE_BYTES = 1 << 30;
const MIN_EXTERNAL_TENSOR_BYTES = 1024;

export async function readModel(file: string): Promise<ModelProto> {
  const abs = path.resolve(file);
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(abs);
  } catch {
    throw new ChordError('FILE_NOT_FOUND', `The model file ${abs} cannot be read.`, 'Check the model folder.');
  }
  let model: ModelProto;
  try {
    model = decodeModel(bytes);
  } catch {
    throw new ChordError('MODEL_INVALID', `${abs} is not a valid ONNX model.`, 'Export or download the model again.');
  }
  if (!model.graph) throw new ChordError('MODEL_INVALID', `${abs} has no graph.`, 'Export or download the model again.');
  resolveExternalLocations(model.graph, path.dirname(abs));
  return model;
}

/** Makes every external location absolute (the decoded model is ours, so it is edited in place). */
function resolveExternalLocations(graph: GraphProto, dir: string): void {
  const checked = new Set<string>();
  for (const t of graph.initializer ?? []) {
    if (!isExternal(t)) continue;
    const entry = (t.externalData ?? []).find((e) => e.key === 'location');
    if (!entry?.value) throw new ChordError('MODEL_INVALID', `Tensor ${t.name} is external but names no file.`, 'Export the model again.');
    const abs = path.isAbsolute(entry.value) ? entry.value : path.resolve(dir, entry.value);
    if (!checked.has(abs)) {
      if (!fs.existsSync(abs)) {
        throw new ChordError('FILE_NOT_FOUND', `The weights file ${abs} of the model is missing.`, 'Copy the whole model folder, weights files included.');
      }
      checked.add(abs);
    }
    entry.value = abs;
  }
}

export async function writeModel(model: ModelProto, file: string, options: WriteModelOptions = {}): Promise<void> {
  const outPath = path.resolve(file);
  const dir = path.dirname(outPath);
  await fs.promises.mkdir(dir, { recursive: true });
  const graph = graphOf(model);
  const dataName = `${path.basename(outPath)}.data`;

  // 1. external weight files: bring each into the target folder, point tensors at the local name
  const localNames = new Map<string, string>();
  const used = new Set<string>([path.basename(outPath), dataName]);
  let initializers = (graph.initializer ?? []).map((t) => {
    if (!isExternal(t)) return t;
    const source = externalInfo(t).location ?? '';
    if (!path.isAbsolute(source)) return t; // relative: already relative to the target folder
    let local = localNames.get(source);
    if (local === undefined) {
      local = path.dirname(source) === dir ? path.basename(source) : uniqueName(path.basename(source), used);
      used.add(local);
      localNames.set(source, local);
    }
    return withLocation(t, local);
  });
  for (const [source, local] of localNames) {
    if (path.dirname(source) !== dir) await bringFile(source, path.join(dir, local), options.externalData ?? 'link');
  }

  // 2. too much inline data for one protobuf message: move big tensors to <model>.data
  const inline = initializers.reduce((sum, t) => sum + (isExternal(t) ? 0 : (t.rawData?.length ?? 0)), 0);
  if (inline > (options.maxInlineBytes ?? DEFAULT_MAX_INLINE_BYTES)) {
    initializers = await externalize(initializers, path.join(dir, dataName), dataName);
  }

  const bytes = encodeModel({ ...model, graph: { ...graph, initializer: initializers } });
  await atomicWrite(outPath, bytes);
}

function withLocation(t: TensorProto, location: string): TensorProto {
  const rest = (t.externalData ?? []).filter((e) => e.key !== 'location');
  return { ...t, externalData: [{ key: 'location', value: location }, ...rest] };
}

function uniqueName(base: string, used: Set<string>): string {
  if (!used.has(base)) return base;
  const ext = path.extname(base);
  const stem = base.slice(0, base.length - ext.length);
  for (let i = 1; ; i++) {
    const name = `${stem}-${i}${ext}`;
    if (!used.has(name)) return name;
  }
}

/** Hard link (or copy) `source` to `dest`, reusing a `dest` that already is that file. */
async function bringFile(source: string, dest: string, mode: 'link' | 'copy'): Promise<void> {
  const src = await fs.promises.stat(source);
  const existing = await fs.promises.stat(dest).catch(() => undefined);
  if (existing && existing.dev === src.dev && existing.ino === src.ino) return;
  if (existing && mode === 'copy' && existing.size === src.size && existing.mtimeMs >= src.mtimeMs) return;
  const tmp = tempName(dest);
  try {
    if (mode === 'link') {
      try {
        await fs.promises.link(source, tmp);
      } catch {
        // across file systems (EXDEV) or where links are refused: copy instead
        await fs.promises.copyFile(source, tmp, fs.constants.COPYFILE_FICLONE);
      }
    } else {
      await fs.promises.copyFile(source, tmp, fs.constants.COPYFILE_FICLONE);
    }
    await fs.promises.rename(tmp, dest);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw new ChordError('RUNTIME', `Could not place the weights file ${source} in ${path.dirname(dest)}.`, 'Check free disk space and permissions of the cache folder.', { cause: e });
  }
}

/** Writes the bytes of large inline tensors to one data file, aligned for memory mapping. */
async function externalize(initializers: TensorProto[], dataPath: string, location: string): Promise<TensorProto[]> {
  const tmp = tempName(dataPath);
  const handle = await fs.promises.open(tmp, 'w');
  let offset = 0;
  const out: TensorProto[] = [];
  try {
    for (const t of initializers) {
      const raw = t.rawData;
      if (isExternal(t) || !raw || raw.length < MIN_EXTERNAL_TENSOR_BYTES) {
        out.push(t);
        continue;
      }
      // 64 KiB alignment lets ONNX Runtime map big tensors straight from the file (Windows'
      // allocation granularity; a multiple of the page size elsewhere)
      const align = raw.length >= 1 << 20 ? 65536 : 64;
      offset = Math.ceil(offset / align) * align;
      await handle.write(raw, 0, raw.length, offset);
      out.push({
        ...t,
        rawData: null,
        dataLocation: EXTERNAL,
        externalData: [
          { key: 'location', value: location },
          { key: 'offset', value: String(offset) },
          { key: 'length', value: String(raw.length) },
        ],
      });
      offset += raw.length;
    }
    await handle.close();
    await fs.promises.rename(tmp, dataPath);
  } catch (e) {
    await handle.close().catch(() => undefined);
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
  return out;
}

async function atomicWrite(file: string, bytes: Uint8Array): Promise<void> {
  const tmp = tempName(file);
  try {
    await fs.promises.writeFile(tmp, bytes);
    await fs.promises.rename(tmp, file);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw new ChordError('RUNTIME', `Could not write ${file}.`, 'Check free disk space and permissions of the cache folder.', { cause: e });
  }
}

function tempName(file: string): string {
  return `${file}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
}

/**
 * Cache key of a rewritten graph: the source graph's hash and the rewrite version (fold any
 * rewrite options into the version string, e.g. `${LORA_REWRITE_VERSION}+fp32`).
 */
export function rewriteCacheKey(sourceBytesHash: string, rewriteVersion: string): string {
  return crypto.createHash('sha256').update(`${rewriteVersion}\n${sourceBytesHash}`).digest('hex').slice(0, 32);
}
