/**
 * Which layers of a UNet / CLIP text-encoder graph can carry a LoRA branch, and under which
 * diffusers module path.
 *
 * The TorchScript exporter names nodes by module scope
 * (`/down_blocks.0/attentions.0/transformer_blocks.0/attn1/to_q/MatMul`), folds Linear weights
 * into pre-transposed [in, out] initializers renamed `onnx::MatMul_N`, keeps Conv and Gemm weight
 * names (`...conv1.weight`), and turns 2-D Linears with a bias into Gemm(transB=1). A target is a
 * MatMul / Gemm / Conv whose second input is a weight: an initializer or Constant reached through
 * at most Identity (shared parameters), Cast (fp16 storage) and 2-D Transpose (unfolded exports).
 * Attention-score MatMuls multiply two activations and are never targets.
 */
import type { LoraTarget, ModelPart } from '../lora/types';
import { ChordError } from '../errors';
import { constantTensor, indexGraph, type GraphIndex } from './graph';
import {
  attrInt,
  attrInts,
  attrString,
  findAttr,
  graphOf,
  tensorDims,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from './proto';

/** How a layer's weight reaches it: the stored tensor and the nodes in between, weight first. */
export interface WeightSource {
  /** initializer or Constant output name */
  tensorName: string;
  tensor: TensorProto;
  /** Identity / Cast / Transpose nodes from the stored tensor to the layer, in order */
  chain: NodeProto[];
  /** number of 2-D transposes in the chain (odd: the stored matrix is the transpose) */
  transposes: number;
  /** element type the layer computes in (the stored type after the chain's Casts) */
  computeType: number;
}

/** One graph node of a target (a module called twice has two). */
export interface LocatedTarget {
  target: LoraTarget;
  node: NodeProto;
  weight: WeightSource;
}

export interface SkippedLayer {
  nodeName: string;
  reason: string;
}

export interface TargetAnalysis {
  targets: LoraTarget[];
  located: LocatedTarget[];
  /** layers with a weight that cannot carry a branch, and why (for diagnostics) */
  skipped: SkippedLayer[];
}

/** Every LoRA-targetable layer of the graph, in graph order, one per module path. */
export function findLoraTargets(model: ModelProto, part: ModelPart): LoraTarget[] {
  return analyzeLoraTargets(model, part).targets;
}

export function analyzeLoraTargets(model: ModelProto, part: ModelPart): TargetAnalysis {
  return analyzeIndex(indexGraph(graphOf(model)), part);
}

export function analyzeIndex(index: GraphIndex, part: ModelPart): TargetAnalysis {
  const located: LocatedTarget[] = [];
  const skipped: SkippedLayer[] = [];
  for (const node of index.nodes) {
    const op = node.opType ?? '';
    if ((op !== 'MatMul' && op !== 'Gemm' && op !== 'Conv') || (node.domain ?? '') !== '') continue;
    const inputs = node.input ?? [];
    if (inputs.length < 2 || traceWeight(index, inputs[0])) continue; // activation must come first
    const weight = traceWeight(index, inputs[1]);
    if (!weight) continue; // e.g. attention scores: two activations
    const nodeName = node.name ?? '';
    const modulePath = modulePathFromNodeName(nodeName) ?? modulePathFromWeightName(weight.tensorName);
    if (!modulePath) {
      skipped.push({ nodeName, reason: 'no module path in the node or weight name' });
      continue;
    }
    const result = describeLayer(node, op, weight, part, modulePath);
    if (typeof result === 'string') skipped.push({ nodeName, reason: result });
    else located.push({ target: result, node, weight });
  }
  return { ...dedupe(located, skipped), skipped };
}

/** Module path from a scoped node name, or undefined for unscoped names (`MatMul_12`). */
export function modulePathFromNodeName(nodeName: string): string | undefined {
  const segments = nodeName.split('/').filter((s) => s.length > 0);
  if (segments.length < 2) return undefined;
  const path: string[] = [];
  // the last segment names the op (`MatMul`, `Conv_1`); each other one is a module scope. A
  // called container repeats its own name as a prefix of its child's: /to_out/to_out.0/
  for (const s of segments.slice(0, -1)) {
    const prev = path[path.length - 1];
    if (prev !== undefined && s.startsWith(`${prev}.`)) path[path.length - 1] = s;
    else path.push(s);
  }
  return path.join('.');
}

/** Unscoped (older) exports still name Conv / Gemm / unfolded weights `<module>.weight`. */
function modulePathFromWeightName(name: string): string | undefined {
  if (name.startsWith('onnx::') || !name.endsWith('.weight')) return undefined;
  return name.slice(0, -'.weight'.length);
}

/** Follows a node input back through Identity / Cast / Transpose to a stored weight. */
export function traceWeight(index: GraphIndex, tensorName: string | undefined): WeightSource | undefined {
  const chain: NodeProto[] = [];
  let name = tensorName;
  let transposes = 0;
  let castTo: number | undefined;
  for (let hops = 0; name && hops < 8; hops++) {
    const tensor = constantTensor(index, name);
    if (tensor) {
      chain.reverse();
      return { tensorName: name, tensor, chain, transposes, computeType: castTo ?? tensor.dataType ?? 0 };
    }
    const node = index.producer.get(name);
    if (!node || (node.domain ?? '') !== '') return undefined;
    const op = node.opType ?? '';
    if (op === 'Transpose') {
      const perm = attrInts(node, 'perm');
      if (perm && !(perm.length === 2 && perm[0] === 1 && perm[1] === 0)) return undefined;
      transposes++;
    } else if (op === 'Cast') {
      castTo ??= attrInt(node, 'to', 0);
    } else if (op !== 'Identity') {
      return undefined;
    }
    chain.push(node);
    name = node.input?.[0];
  }
  return undefined;
}

function describeLayer(
  node: NodeProto,
  op: 'MatMul' | 'Gemm' | 'Conv',
  weight: WeightSource,
  part: ModelPart,
  modulePath: string,
): LoraTarget | string {
  const dims = tensorDims(weight.tensor);
  if (op === 'Conv') {
    if (dims.length !== 4) return `Conv weight has ${dims.length} dimensions (only 2-D convolutions get a branch)`;
    if (weight.transposes > 0) return 'Conv weight is transposed';
    const group = attrInt(node, 'group', 1);
    // a grouped (e.g. depthwise) conv has no low-rank branch sharing one rank dimension
    if (group !== 1) return `grouped Conv (group=${group})`;
    const autoPad = attrString(node, 'auto_pad');
    const kernel = attrInts(node, 'kernel_shape') ?? dims.slice(2);
    const strides = attrInts(node, 'strides') ?? [1, 1];
    const pads = attrInts(node, 'pads') ?? [0, 0, 0, 0];
    const dilations = attrInts(node, 'dilations') ?? [1, 1];
    if (autoPad && autoPad !== 'NOTSET') return `Conv with auto_pad=${autoPad}`;
    return {
      part,
      modulePath,
      op,
      inFeatures: dims[1],
      outFeatures: dims[0],
      conv: {
        kernel: [kernel[0], kernel[1]],
        strides: [strides[0], strides[1]],
        pads: [pads[0], pads[1], pads[2], pads[3]],
        dilations: [dilations[0], dilations[1]],
        group,
      },
    };
  }
  if (dims.length !== 2) return `${op} weight has ${dims.length} dimensions`;
  // the matrix as the op sees it, after the chain's transposes
  const seen = weight.transposes % 2 === 1 ? [dims[1], dims[0]] : dims;
  if (op === 'MatMul') return { part, modulePath, op, inFeatures: seen[0], outFeatures: seen[1] };
  if (attrInt(node, 'transA', 0) !== 0) return 'Gemm with transA=1';
  if (findAttr(node, 'alpha') && (findAttr(node, 'alpha')?.f ?? 1) !== 1) return 'Gemm with alpha != 1';
  const transB = attrInt(node, 'transB', 0) === 1;
  return { part, modulePath, op, inFeatures: transB ? seen[1] : seen[0], outFeatures: transB ? seen[0] : seen[1] };
}

/**
 * One target per module path. A module called twice gives two nodes of one target (both get the
 * branch); two different layers claiming one path (same scope, different weights) are ambiguous
 * and skipped rather than guessed.
 */
function dedupe(located: LocatedTarget[], skipped: SkippedLayer[]): { targets: LoraTarget[]; located: LocatedTarget[] } {
  const byPath = new Map<string, LocatedTarget[]>();
  for (const l of located) {
    const list = byPath.get(l.target.modulePath);
    if (list) list.push(l);
    else byPath.set(l.target.modulePath, [l]);
  }
  const ambiguous = new Set<string>();
  for (const [path, list] of byPath) {
    const first = list[0];
    const same = list.every(
      (l) =>
        l.weight.tensorName === first.weight.tensorName &&
        l.target.op === first.target.op &&
        l.target.inFeatures === first.target.inFeatures &&
        l.target.outFeatures === first.target.outFeatures,
    );
    if (!same) {
      ambiguous.add(path);
      for (const l of list) skipped.push({ nodeName: l.node.name ?? '', reason: `several different layers are named ${path}` });
    }
  }
  const kept = located.filter((l) => !ambiguous.has(l.target.modulePath));
  const targets: LoraTarget[] = [];
  const seen = new Set<string>();
  for (const l of kept) {
    if (seen.has(l.target.modulePath)) continue;
    seen.add(l.target.modulePath);
    targets.push(l.target);
  }
  return { targets, located: kept };
}

/** The located nodes of the requested targets, checked against the graph. */
export function locateRequested(index: GraphIndex, targets: LoraTarget[]): LocatedTarget[] {
  if (targets.length === 0) return [];
  const parts = new Set(targets.map((t) => t.part));
  if (parts.size > 1) throw new ChordError('BAD_ARGUMENT', 'LoRA targets of different model parts were given for one graph.');
  const analysis = analyzeIndex(index, targets[0].part);
  const byPath = new Map<string, LocatedTarget[]>();
  for (const l of analysis.located) {
    const list = byPath.get(l.target.modulePath);
    if (list) list.push(l);
    else byPath.set(l.target.modulePath, [l]);
  }
  const out: LocatedTarget[] = [];
  const seen = new Set<string>();
  for (const t of targets) {
    if (seen.has(t.modulePath)) throw new ChordError('BAD_ARGUMENT', `LoRA target ${t.modulePath} is listed twice.`);
    seen.add(t.modulePath);
    const found = byPath.get(t.modulePath);
    if (!found) {
      throw new ChordError('ONNX_GRAPH', `The layer ${t.modulePath} is not a LoRA target of this ${t.part} graph.`, 'Analyse the graph again with findLoraTargets.');
    }
    const g = found[0].target;
    if (g.op !== t.op || g.inFeatures !== t.inFeatures || g.outFeatures !== t.outFeatures) {
      throw new ChordError('ONNX_GRAPH', `The layer ${t.modulePath} is a ${g.op} ${g.inFeatures}->${g.outFeatures} in this graph, not a ${t.op} ${t.inFeatures}->${t.outFeatures}.`);
    }
    out.push(...found);
  }
  // graph order keeps the rewrite deterministic whatever order the targets came in
  const order = new Map(index.nodes.map((n, i) => [n, i]));
  return out.sort((a, b) => (order.get(a.node) ?? 0) - (order.get(b.node) ?? 0));
}
