/**
 * The reference path (`chord lora fuse`, and LoRA types without an activation form): add full
 * weight deltas into the stored weights, W' = W + delta.
 *
 * Deltas come in PyTorch layout ([out, in] or [out, in, kh, kw]); the stored weight may be the
 * exporter's pre-transposed [in, out] MatMul matrix, a Gemm B with or without transB, behind
 * Transpose/Cast/Identity nodes, and in fp16 (the sum is formed in float32 and rounded once).
 * A weight shared with another layer is copied first, so only the named layer changes.
 */
import { ChordError } from '../errors';
import { indexGraph, nodeInputsDeep, type GraphIndex } from './graph';
import { floatArrayToHalf } from '../half';
import {
  DataType,
  attrInt,
  elementCount,
  float16Tensor,
  float32Tensor,
  graphOf,
  tensorAttr,
  tensorDims,
  tensorFloat32,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from './proto';
import { analyzeIndex, type LocatedTarget } from './targets';

/** A full weight delta in PyTorch layout, already scaled. */
export interface WeightDelta {
  delta: Float32Array;
  shape: number[];
}

export function fuseDeltas(model: ModelProto, deltas: Map<string, WeightDelta>): ModelProto {
  let current = model;
  // one delta at a time, re-indexing in between: a copy made for one shared weight changes who
  // shares what for the next
  for (const [modulePath, delta] of deltas) current = fuseOne(current, modulePath, delta);
  return current;
}

function fuseOne(model: ModelProto, modulePath: string, { delta, shape }: WeightDelta): ModelProto {
  const graph = graphOf(model);
  const index = indexGraph(graph);
  const located = analyzeIndex(index, 'unet').located.filter((l) => l.target.modulePath === modulePath);
  if (located.length === 0) {
    throw new ChordError('LORA_NO_MATCH', `The model has no layer ${modulePath} to fuse a weight delta into.`, 'Check that the LoRA was made for this base model.');
  }
  const { target, weight } = located[0];
  checkShape(modulePath, located[0], delta, shape);

  const values = tensorFloat32(weight.tensor);
  const storedDims = tensorDims(weight.tensor);
  if (target.op === 'Conv' || storedIsOutIn(located[0])) {
    for (let i = 0; i < values.length; i++) values[i] += delta[i];
  } else {
    // stored [in, out], delta [out, in]
    const rows = storedDims[0];
    const cols = storedDims[1];
    for (let i = 0; i < rows; i++) for (let o = 0; o < cols; o++) values[i * cols + o] += delta[o * rows + i];
  }

  const shared = isShared(index, located);
  const name = shared ? freshName(index, `${modulePath}.weight.fused`) : weight.tensorName;
  const fused = storeLike(weight.tensor, name, storedDims, values);

  if (!shared) return replaceWeight(model, index, weight.tensorName, fused);

  // copy the weight and its Identity/Cast/Transpose chain, point this layer's nodes at the copy
  const chainCopies: NodeProto[] = [];
  let input = name;
  weight.chain.forEach((n, i) => {
    const out = freshName(index, `${name}/${i}`);
    chainCopies.push({ ...n, input: [input, ...(n.input ?? []).slice(1)], output: [out], name: out });
    input = out;
  });
  const targetNodes = new Set(located.map((l) => l.node));
  const nodes = [...chainCopies, ...(graph.node ?? []).map((n) => (targetNodes.has(n) ? { ...n, input: [(n.input ?? [])[0], input, ...(n.input ?? []).slice(2)] } : n))];
  return removeUnused({ ...model, graph: { ...graph, node: nodes, initializer: [...(graph.initializer ?? []), fused] } });
}

function checkShape(modulePath: string, l: LocatedTarget, delta: Float32Array, shape: number[]): void {
  const t = l.target;
  const expected = t.op === 'Conv' && t.conv ? [t.outFeatures, t.inFeatures, ...t.conv.kernel] : [t.outFeatures, t.inFeatures];
  // a 1x1 conv delta may come as a plain [out, in] matrix
  const ok =
    shape.join(',') === expected.join(',') ||
    (t.op === 'Conv' && expected[2] === 1 && expected[3] === 1 && shape.join(',') === expected.slice(0, 2).join(','));
  if (!ok || delta.length !== elementCount(expected)) {
    throw new ChordError('LORA_WRONG_BASE', `The weight delta for ${modulePath} has shape [${shape.join(', ')}], the layer needs [${expected.join(', ')}].`, 'The LoRA was made for a different base model.');
  }
}

/** True when the stored matrix is laid out [out, in] like PyTorch's, false for [in, out]. */
function storedIsOutIn(l: LocatedTarget): boolean {
  const odd = l.weight.transposes % 2 === 1;
  // the matrix the op sees is [in, out] for MatMul and for Gemm without transB
  const seenOutIn = l.target.op === 'Gemm' && attrInt(l.node, 'transB', 0) === 1;
  return seenOutIn !== odd;
}

/** Does anything other than this layer's nodes and their weight chain read the weight? */
function isShared(index: GraphIndex, located: LocatedTarget[]): boolean {
  const own = new Set<NodeProto>(located.flatMap((l) => [l.node, ...l.weight.chain]));
  const { tensorName, chain } = located[0].weight;
  if (index.outputNames.has(tensorName)) return true;
  for (const t of [tensorName, ...chain.map((n) => n.output?.[0] ?? '')]) {
    if ((index.consumers.get(t) ?? []).some((n) => !own.has(n))) return true;
  }
  return false;
}

function storeLike(original: TensorProto, name: string, dims: number[], values: Float32Array): TensorProto {
  if (original.dataType === DataType.FLOAT) return float32Tensor(name, dims, values);
  if (original.dataType === DataType.FLOAT16) return float16Tensor(name, dims, floatArrayToHalf(values));
  throw new ChordError('ONNX_GRAPH', `The weight ${original.name} is stored as ONNX type ${original.dataType}; only float32 and float16 weights can be fused.`);
}

/** The same graph with one stored weight (initializer or Constant value) replaced. */
function replaceWeight(model: ModelProto, index: GraphIndex, name: string, tensor: TensorProto): ModelProto {
  const graph = graphOf(model);
  if (index.initializers.has(name)) {
    return { ...model, graph: { ...graph, initializer: (graph.initializer ?? []).map((t) => (t.name === name ? tensor : t)) } };
  }
  const nodes = (graph.node ?? []).map((n) =>
    n.opType === 'Constant' && n.output?.[0] === name ? { ...n, attribute: [tensorAttr('value', { ...tensor, name: null })] } : n,
  );
  return { ...model, graph: { ...graph, node: nodes } };
}

function freshName(index: GraphIndex, base: string): string {
  let name = base;
  for (let i = 1; index.names.has(name); i++) name = `${base}.${i}`;
  index.names.add(name);
  return name;
}

/** Drops nodes whose outputs nobody reads and initializers nobody reads (left by a copy). */
function removeUnused(model: ModelProto): ModelProto {
  const graph = graphOf(model);
  let nodes = graph.node ?? [];
  const outputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  for (;;) {
    const read = new Set<string>(nodes.flatMap(nodeInputsDeep));
    const kept = nodes.filter((n) => (n.output ?? []).some((o) => read.has(o) || outputs.has(o)));
    if (kept.length === nodes.length) break;
    nodes = kept;
  }
  const read = new Set<string>([...nodes.flatMap(nodeInputsDeep), ...outputs]);
  const initializer = (graph.initializer ?? []).filter((t) => read.has(t.name ?? ''));
  return { ...model, graph: { ...graph, node: nodes, initializer } };
}
