/**
 * Graphs Chord derives from a model's own graphs, made once and kept in the cache folder (keyed by
 * the source graph's hash and what was done to it), never written into the model folder:
 *   - float32: an fp16 graph upcast for the CPU provider, which has few float16 kernels
 *     (docs/runtime-lora.md, section 3: upcast once, then cached);
 *   - lora: every targetable layer given a run-time LoRA branch (onnx/branches.ts). Its targets
 *     are stored beside it, so mapping a LoRA file never needs the large graph in memory again.
 */
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ChordError } from '../errors';
import { isFile, writeFileAtomic } from '../fsutil';
import type { LoraTarget, ModelPart } from '../lora/types';
import { addLoraBranches, DataType, findLoraTargets, LORA_REWRITE_VERSION, readModel, rewriteCacheKey, upcastToFloat32, writeModel } from '../onnx';
import { type HashCache, hashFile } from '../hash';
import type { GraphName } from './folder';

export interface GraphVariant {
  /** fp16 -> fp32 */
  float32: boolean;
  /** run-time LoRA branches (text encoder and UNet only) */
  lora: boolean;
  /**
   * conv branches summed inside ONNX Runtime's FusedConv (addLoraBranches' convSum 'fused'): for
   * sessions on the CPU provider only, which has that kernel
   */
  cpuFusedConv?: boolean;
}

export interface DerivedGraph {
  /** the derived model.onnx in the cache folder */
  path: string;
  /** layers that carry a LoRA branch (lora variants only) */
  targets: LoraTarget[];
}

/** Bump when the upcast changes what it writes. */
const UPCAST_VERSION = 'chord-upcast/1';
const TARGETS_FILE = 'targets.json';

/**
 * Size and modification time of the files beside the graph (external weights such as SD 1.5's
 * `weights.pb`): hashing only model.onnx would let a re-exported model with new external weights
 * reuse a stale derived graph, and hashing gigabytes of weights at every start is too slow.
 */
async function externalDataStamp(source: string): Promise<string> {
  const dir = dirname(source);
  const names = (await readdir(dir)).filter((n) => n !== basename(source) && !n.startsWith('.') && !/\.(json|txt|md)$/i.test(n)).sort();
  const stamps = await Promise.all(names.map(async (n) => {
    const s = await stat(join(dir, n));
    return s.isFile() ? `${n}:${s.size}:${Math.round(s.mtimeMs)}` : '';
  }));
  return stamps.filter(Boolean).join('|');
}

export function variantName(v: GraphVariant): string {
  return [v.float32 ? 'fp32' : '', v.lora ? 'lora' : '', v.lora && v.cpuFusedConv ? 'cpu' : ''].filter(Boolean).join('-');
}

/**
 * The derived graph of `source` (a model's `<part>/model.onnx`), made on first use. Concurrent
 * callers may both build it; the atomic writes make the last one win harmlessly.
 */
export async function derivedGraph(source: string, part: GraphName, variant: GraphVariant, cacheDir: string, hashes?: HashCache): Promise<DerivedGraph> {
  const version = [variant.float32 ? UPCAST_VERSION : '', variant.lora ? LORA_REWRITE_VERSION : ''].filter(Boolean).join('+');
  const key = rewriteCacheKey(`${await hashFile(source, hashes)}|${await externalDataStamp(source)}`, version);
  const dir = join(cacheDir, 'graphs', `${part}-${variantName(variant)}-${key}`);
  const path = join(dir, 'model.onnx');
  const targetsPath = join(dir, TARGETS_FILE);
  if ((await isFile(path)) && (await isFile(targetsPath))) {
    try {
      return { path, targets: JSON.parse(await readFile(targetsPath, 'utf8')) as LoraTarget[] };
    } catch {
      // a damaged cache entry is rebuilt below
    }
  }
  let model = await readModel(source);
  if (variant.float32) model = upcastToFloat32(model);
  let targets: LoraTarget[] = [];
  if (variant.lora) {
    if (part === 'vae_decoder') throw new RangeError('LoRA branches are for the text encoder and UNet');
    targets = findLoraTargets(model, part as ModelPart);
    if (targets.length === 0) {
      throw new ChordError('MODEL_INVALID', `${source} has no layer a LoRA can attach to.`, 'The graph was exported in a way Chord does not recognise; re-export it with the standard diffusers exporter.');
    }
    model = addLoraBranches(model, targets, { convSum: variant.cpuFusedConv ? 'fused' : 'add' });
  }
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw new ChordError('WRITE_FAILED', `Cannot create the cache folder ${dir}.`, 'Set CHORD_CACHE_DIR to a writable folder.', { cause: e });
  }
  await writeModel(model, path);
  // targets last: their presence marks a complete entry
  await writeFileAtomic(targetsPath, JSON.stringify(targets));
  return { path, targets };
}

/**
 * Whether a graph computes in float16 (a float16 graph input or initializer). Reads the whole
 * graph: only asked after a CPU session could not be created, and the upcast reads it anyway.
 */
export async function isFloat16Graph(source: string): Promise<boolean> {
  const graph = (await readModel(source)).graph;
  const half = (t: number | null | undefined) => t === DataType.FLOAT16;
  return (graph?.input ?? []).some((i) => half(i.type?.tensorType?.elemType)) || (graph?.initializer ?? []).some((t) => half(t.dataType));
}
