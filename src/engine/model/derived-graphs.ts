/**
 * Graphs Chord derives from a model's own graphs by a chain of graph passes (graph-passes.ts),
 * made once and kept in the cache folder (keyed by the source graph's hash and every pass's
 * version), never written into the model folder. What each pass learned (for the LoRA pass, the
 * targets) is stored beside the graph, so mapping a LoRA file never needs the large graph in
 * memory again.
 */
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ChordError } from '../errors';
import { isFile, writeFileAtomic } from '../fsutil';
import type { LoraTarget } from '../lora/types';
import { DataType, readModel, rewriteCacheKey, writeModel } from '../onnx';
import { type HashCache, hashFile } from '../hash';
import type { GraphName } from './folder';
import { applyPasses, chainName, chainVersion, type GraphPass } from './graph-passes';

export interface DerivedGraph {
  /** the derived model.onnx in the cache folder */
  path: string;
  /** what each pass learned, by pass key */
  info: Record<string, unknown>;
  /** layers that carry a LoRA branch (chains with a LoRA pass; else empty) */
  targets: LoraTarget[];
}

const INFO_FILE = 'passes.json';

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

function targetsOf(info: Record<string, unknown>): LoraTarget[] {
  const t = info.lora ?? info['lora-cpu'];
  return Array.isArray(t) ? (t as LoraTarget[]) : [];
}

/**
 * The graph `source` (a model's `<part>/model.onnx`) after `passes`, made on first use. An empty
 * chain is the source itself. Concurrent callers may both build it; the atomic writes make the
 * last one win harmlessly.
 */
export async function derivedGraph(source: string, part: GraphName, passes: readonly GraphPass[], cacheDir: string, hashes?: HashCache): Promise<DerivedGraph> {
  if (passes.length === 0) return { path: source, info: {}, targets: [] };
  const key = rewriteCacheKey(`${await hashFile(source, hashes)}|${await externalDataStamp(source)}`, chainVersion(passes));
  const dir = join(cacheDir, 'graphs', `${part}-${chainName(passes)}-${key}`);
  const path = join(dir, 'model.onnx');
  const infoPath = join(dir, INFO_FILE);
  if ((await isFile(path)) && (await isFile(infoPath))) {
    try {
      const info = JSON.parse(await readFile(infoPath, 'utf8')) as Record<string, unknown>;
      return { path, info, targets: targetsOf(info) };
    } catch {
      // a damaged cache entry is rebuilt below
    }
  }
  let derived: ReturnType<typeof applyPasses>;
  try {
    derived = applyPasses(await readModel(source), part, passes);
  } catch (e) {
    if (e instanceof ChordError) throw new ChordError(e.code, `${source}: ${e.message}`, e.hint, { cause: e });
    throw e;
  }
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw new ChordError('WRITE_FAILED', `Cannot create the cache folder ${dir}.`, 'Set CHORD_CACHE_DIR to a writable folder.', { cause: e });
  }
  await writeModel(derived.model, path);
  // the info file last: its presence marks a complete entry
  await writeFileAtomic(infoPath, JSON.stringify(derived.info));
  return { path, info: derived.info, targets: targetsOf(derived.info) };
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
