/**
 * The UNet cut for cached composition (CMLoRA): a full pass that also outputs the deep feature
 * entering the last up block, and a shallow pass that takes that feature as an input and runs
 * only what the last up block still needs (time embedding, conv_in, the part of the first down
 * block that feeds the skips, the last up block, conv_out). See docs/composition.md.
 *
 * The cut is found by module paths (node names of a scoped torch export, `/up_blocks.3/...`), not
 * by exporter tensor names, so any diffusers-named UNet works; the feature is renamed to
 * DEEP_FEATURE in both graphs so that callers never see the exporter's name.
 */
import { ChordError } from '../errors';
import { extractSubgraph, inferElemType } from './cuts';
import { claimName, indexGraph, type GraphIndex } from './graph';
import { modulePathFromNodeName } from './targets';
import {
  DataType,
  graphOf,
  makeNode,
  makeValueInfo,
  metadata,
  valueInfoDims,
  withMetadata,
  type ModelProto,
  type NodeProto,
} from './proto';

/** Part of the derived-graph cache key: bump when either graph this file makes changes. */
export const UNET_CUT_VERSION = 'chord-unet-cut/1';

/**
 * The deep feature's name: an extra output of the full graph, an extra input of the shallow one.
 * Shape [batch, channels of the last up block's input, h, w] (h, w: the latent size over the
 * last up block's upsampling factor); element type the UNet's compute type.
 */
export const DEEP_FEATURE = 'chord.deep_feature';

/** Model metadata: which part of the cut a graph is (JSON: version, part, tensor). */
export const UNET_CUT_METADATA_KEY = 'chord.unet_cut';

/** Where the cut lies in one UNet graph. */
export interface UnetCutPoint {
  /** the exporter's name of the tensor entering the last up block as its hidden state */
  tensor: string;
  /** its ONNX element type (1 float32, 10 float16) */
  elemType: number;
  /** module path of the last up block, e.g. 'up_blocks.3' */
  lastUpBlock: string;
  /** module that computes the feature: the previous up block, else the mid block, else the last down block */
  source: string;
}

export interface UnetCut {
  point: UnetCutPoint;
  /** the UNet with DEEP_FEATURE as an extra output; its other outputs unchanged */
  full: ModelProto;
  /** the UNet's inputs plus DEEP_FEATURE -> the UNet's outputs */
  shallow: ModelProto;
}

const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16, DataType.DOUBLE]);

/**
 * Ops that do real work. The shallow graph may keep shape arithmetic the exporter shared across
 * blocks, but none of these from the blocks it is meant to skip: such a cut would save nothing.
 */
const HEAVY_OPS = new Set([
  'Conv', 'ConvTranspose', 'MatMul', 'Gemm', 'Einsum', 'Softmax', 'InstanceNormalization', 'LayerNormalization',
  'GroupNormalization', 'FusedConv', 'FusedMatMul', 'Attention', 'MultiHeadAttention', 'GroupNorm', 'SkipLayerNormalization',
]);

const NO_CUT_HINT = 'Composition methods then run full UNet passes; a UNet exported from diffusers with torch.onnx.export keeps the module names the cut needs.';

/**
 * The module a node belongs to. LoRA branch nodes are named `lora/<module path>/...`
 * (onnx/branches.ts), which reads as the path `lora.<module path>`: they belong to their target.
 */
function nodeModule(node: NodeProto): string | undefined {
  const p = modulePathFromNodeName(node.name ?? '');
  return p?.startsWith('lora.') ? p.slice('lora.'.length) : p;
}

function within(path: string | undefined, module: string): boolean {
  return path !== undefined && (path === module || path.startsWith(`${module}.`));
}

/** Index of the numbered block `prefix.N` a module path lies in, if any. */
function blockIndex(path: string | undefined, prefix: 'up_blocks' | 'down_blocks'): number | undefined {
  const m = path === undefined ? null : new RegExp(`^${prefix}\\.(\\d+)(\\.|$)`).exec(path);
  return m ? Number(m[1]) : undefined;
}

/**
 * Finds the hidden state entering the last up block: a float tensor read by a node of the last up
 * block, computed by the block before it (previous up block, mid block, or last down block) and
 * derived from conv_in's output. That excludes the skip connections (made by conv_in and the down
 * blocks), the time embedding (from the timestep only; the exporter computes SiLU(temb) once and
 * shares it across blocks) and shape arithmetic (int64).
 */
export function findUnetCut(model: ModelProto): UnetCutPoint {
  const index = indexGraph(graphOf(model));
  if (index.inputNames.has(DEEP_FEATURE)) {
    throw new ChordError('ONNX_GRAPH', 'This UNet graph is already the shallow part of a cut.', 'Cut the original (or LoRA-rewritten) UNet.');
  }
  const paths = new Map<NodeProto, string | undefined>(index.nodes.map((n) => [n, nodeModule(n)]));
  const ups = new Set<number>();
  const downs = new Set<number>();
  let hasMid = false;
  for (const p of paths.values()) {
    const u = blockIndex(p, 'up_blocks');
    if (u !== undefined) ups.add(u);
    const d = blockIndex(p, 'down_blocks');
    if (d !== undefined) downs.add(d);
    if (within(p, 'mid_block')) hasMid = true;
  }
  if (ups.size === 0) {
    throw new ChordError('ONNX_GRAPH', 'The UNet graph has no nodes named after up blocks (up_blocks.N), so its shallow pass cannot be cut out.', NO_CUT_HINT);
  }
  const last = Math.max(...ups);
  const lastUpBlock = `up_blocks.${last}`;
  const source = ups.has(last - 1) ? `up_blocks.${last - 1}` : hasMid ? 'mid_block' : downs.size > 0 ? `down_blocks.${Math.max(...downs)}` : undefined;
  if (!source) {
    throw new ChordError('ONNX_GRAPH', `The UNet graph has no block before ${lastUpBlock} (up, mid or down block), so its deep feature cannot be found.`, NO_CUT_HINT);
  }

  const fromConvIn = downstreamOf(index, index.nodes.filter((n) => paths.get(n) === 'conv_in'));
  if (fromConvIn.size === 0) {
    throw new ChordError('ONNX_GRAPH', 'The UNet graph has no conv_in node, so its deep feature cannot be told from its other tensors.', NO_CUT_HINT);
  }
  const candidates: string[] = [];
  for (const node of index.nodes) {
    if (!within(paths.get(node), lastUpBlock)) continue;
    for (const t of node.input ?? []) {
      const producer = t ? index.producer.get(t) : undefined;
      if (!producer || !within(paths.get(producer), source) || candidates.includes(t)) continue;
      const type = inferElemType(index, t);
      if (type !== undefined && FLOAT_TYPES.has(type) && fromConvIn.has(t)) candidates.push(t);
    }
  }
  if (candidates.length !== 1) {
    const found = candidates.length === 0 ? 'no tensor' : `${candidates.length} tensors (${candidates.slice(0, 3).join(', ')})`;
    throw new ChordError('ONNX_GRAPH', `Expected one feature map passed from ${source} to ${lastUpBlock} in the UNet graph, found ${found}.`, NO_CUT_HINT);
  }
  const tensor = candidates[0];
  return { tensor, elemType: inferElemType(index, tensor) as number, lastUpBlock, source };
}

/** Tensors computed (directly or not) from the outputs of `nodes`. */
function downstreamOf(index: GraphIndex, nodes: NodeProto[]): Set<string> {
  const seen = new Set<string>();
  const stack = nodes.flatMap((n) => n.output ?? []).filter((t) => t);
  while (stack.length > 0) {
    const t = stack.pop() as string;
    if (seen.has(t)) continue;
    seen.add(t);
    for (const c of index.consumers.get(t) ?? []) for (const o of c.output ?? []) if (o && !seen.has(o)) stack.push(o);
  }
  return seen;
}

/** The full graph: the UNet with DEEP_FEATURE (an Identity of the cut tensor) as an extra output. */
export function exposeDeepFeature(model: ModelProto, point: UnetCutPoint = findUnetCut(model)): ModelProto {
  const graph = graphOf(model);
  const index = indexGraph(graph);
  if (index.outputNames.has(DEEP_FEATURE)) return model;
  const out = claimName(index, DEEP_FEATURE);
  const identity = makeNode('Identity', [point.tensor], [out], claimName(index, `${DEEP_FEATURE}.expose`));
  return {
    ...model,
    graph: { ...graph, node: [...(graph.node ?? []), identity], output: [...(graph.output ?? []), featureInfo(index, point)] },
    metadataProps: withMetadata(model, { [UNET_CUT_METADATA_KEY]: cutMetadata('full', point) }),
  };
}

/**
 * The shallow graph: every input of the UNet (used or not, so one set of feeds serves both
 * graphs) plus DEEP_FEATURE, and the UNet's outputs. Nodes that only fed the deep feature are
 * gone; shared cheap tensors such as the time embedding are recomputed rather than cached.
 */
export function shallowUnet(model: ModelProto, point: UnetCutPoint = findUnetCut(model)): ModelProto {
  const graph = graphOf(model);
  const index = indexGraph(graph);
  const inputs = (graph.input ?? []).map((i) => i.name ?? '').filter((n) => n && !index.initializers.has(n));
  const outputs = (graph.output ?? []).map((o) => o.name ?? '').filter((n) => n && n !== DEEP_FEATURE);
  const cut = extractSubgraph(model, [...inputs, point.tensor], outputs);
  const cutGraph = graphOf(cut);
  checkShallow(cutGraph.node ?? [], point);
  // the feature enters under its stable name; an Identity hands it to the exporter's name, which
  // the kept nodes read (ONNX Runtime removes the Identity when it optimises the graph)
  const identity = makeNode('Identity', [DEEP_FEATURE], [point.tensor], `${DEEP_FEATURE}.enter`);
  return {
    ...cut,
    graph: {
      ...cutGraph,
      node: [identity, ...(cutGraph.node ?? [])],
      input: [...(cutGraph.input ?? []).filter((i) => i.name !== point.tensor), featureInfo(index, point)],
    },
    metadataProps: withMetadata(model, { [UNET_CUT_METADATA_KEY]: cutMetadata('shallow', point) }),
  };
}

/** Both graphs of the cut. Apply it after the LoRA branch rewrite, so both carry the same LoRA inputs. */
export function cutUnet(model: ModelProto): UnetCut {
  const point = findUnetCut(model);
  return { point, full: exposeDeepFeature(model, point), shallow: shallowUnet(model, point) };
}

/** Node count per block (`up_blocks.3`, `mid_block`, `conv_in`, ...; '' for unscoped nodes). */
export function blockNodeCounts(model: ModelProto): Map<string, number> {
  const counts = new Map<string, number>();
  for (const n of graphOf(model).node ?? []) {
    const p = nodeModule(n) ?? '';
    const parts = p.split('.');
    const block = /^(up|down)_blocks$/.test(parts[0]) ? parts.slice(0, 2).join('.') : parts[0];
    counts.set(block, (counts.get(block) ?? 0) + 1);
  }
  return counts;
}

/** Rejects a shallow graph that still runs real work of the blocks the cut skips. */
function checkShallow(nodes: NodeProto[], point: UnetCutPoint): void {
  const last = blockIndex(point.lastUpBlock, 'up_blocks') as number;
  const skipped = (p: string | undefined): boolean => {
    const up = blockIndex(p, 'up_blocks');
    const down = blockIndex(p, 'down_blocks');
    return within(p, 'mid_block') || (up !== undefined && up < last) || (down !== undefined && down > 0);
  };
  const heavy = nodes.filter((n) => HEAVY_OPS.has(n.opType ?? '') && skipped(nodeModule(n)));
  if (heavy.length > 0) {
    throw new ChordError(
      'ONNX_GRAPH',
      `The shallow UNet pass would still run ${heavy.length} heavy nodes of the blocks it skips (${heavy.slice(0, 3).map((n) => n.name).join(', ')}).`,
      NO_CUT_HINT,
    );
  }
}

function featureInfo(index: GraphIndex, point: UnetCutPoint) {
  const known = index.valueInfo.get(point.tensor);
  return makeValueInfo(DEEP_FEATURE, point.elemType, known ? valueInfoDims(known) : undefined);
}

function cutMetadata(part: 'full' | 'shallow', point: UnetCutPoint): string {
  return JSON.stringify({ version: UNET_CUT_VERSION, part, tensor: point.tensor });
}

/** Which part of a UNet cut a graph is, from its metadata. */
export function unetCutPart(model: ModelProto): 'full' | 'shallow' | undefined {
  const raw = metadata(model)[UNET_CUT_METADATA_KEY];
  if (!raw) return undefined;
  const part = (JSON.parse(raw) as { part?: string }).part;
  return part === 'full' || part === 'shallow' ? part : undefined;
}
