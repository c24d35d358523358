/**
 * Graph passes: the one way Chord derives a graph from a model's own (docs/graph-passes.md).
 *
 * A pass is a key, a version and a pure rewrite of one graph. The graph a session runs is the
 * model's graph followed by a chain of passes (for example fp32 -> lora -> shallow); the derived
 * graph cache (derived-graphs.ts) keys its entries by the source graph and every pass's version,
 * in order. What a pass adds to the graph's inputs is fed by its `bind`, which lives next to the
 * pass (the LoRA stack for the LoRA pass, the deep-feature cache for the UNet cut), so that the
 * model never hand-wires an input.
 */
import type { ModelProto } from '../onnx';
import type { GraphName } from './folder';

export interface GraphPass {
  /** short, file-name safe: part of the cache folder name, e.g. 'lora', 'shallow' */
  readonly key: string;
  /** bump when the rewrite writes something different; part of the cache key */
  readonly version: string;
  /**
   * The rewrite, pure: the same graph in gives the same graph out. `info` is what the pass
   * learned and the engine needs later without reading the graph again (the LoRA targets, for
   * example); it is stored as JSON beside the derived graph.
   */
  rewrite(model: ModelProto, part: GraphName): { model: ModelProto; info?: unknown };
}

/** The cache-key text of a chain: each pass's key and version, in order. */
export function chainVersion(passes: readonly GraphPass[]): string {
  return passes.map((p) => `${p.key}@${p.version}`).join('+');
}

/** The folder-name form of a chain, e.g. 'fp32-lora-shallow'. */
export function chainName(passes: readonly GraphPass[]): string {
  return passes.map((p) => p.key).join('-');
}

/** Applies a chain of passes; returns the final graph and each pass's info by its key. */
export function applyPasses(model: ModelProto, part: GraphName, passes: readonly GraphPass[]): { model: ModelProto; info: Record<string, unknown> } {
  const keys = new Set<string>();
  const info: Record<string, unknown> = {};
  let current = model;
  for (const pass of passes) {
    if (keys.has(pass.key)) throw new RangeError(`graph pass "${pass.key}" appears twice in one chain`);
    keys.add(pass.key);
    const out = pass.rewrite(current, part);
    current = out.model;
    if (out.info !== undefined) info[pass.key] = out.info;
  }
  return { model: current, info };
}
