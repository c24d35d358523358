/**
 * Generic graph cuts, used for cached composition (docs/composition.md, `unet-cut.ts`): the full UNet
 * pass also outputs the deep feature entering the last up block (`exposeTensor`), and a shallow
 * graph takes that feature as an input and keeps only the nodes still needed (`extractSubgraph`).
 */
import { ChordError } from '../errors';
import { constantTensor, indexGraph, nodeInputsDeep, nodesNeededFor, type GraphIndex } from './graph';
import { modulePathFromNodeName } from './targets';
import {
  DataType,
  attrInt,
  findAttr,
  graphOf,
  makeValueInfo,
  valueInfoElemType,
  type Dim,
  type ModelProto,
  type ValueInfoProto,
} from './proto';

/** Type and shape of a tensor that becomes a graph input or output. */
export interface TensorInfo {
  /** ONNX element type (1 float32, 10 float16, 7 int64) */
  elemType: number;
  /** dims; strings are symbolic. Omit for an unknown shape. */
  dims?: Dim[];
}

/** The model with `tensorName` (an intermediate tensor) added as an extra graph output. */
export function exposeTensor(model: ModelProto, tensorName: string, info?: TensorInfo): ModelProto {
  const graph = graphOf(model);
  const index = indexGraph(graph);
  if (index.outputNames.has(tensorName)) return model;
  if (!index.producer.has(tensorName) && !index.inputNames.has(tensorName)) {
    throw new ChordError('ONNX_GRAPH', `The graph has no tensor named "${tensorName}" to expose.`);
  }
  const vi = describe(index, tensorName, info) ?? { name: tensorName };
  return { ...model, graph: { ...graph, output: [...(graph.output ?? []), vi] } };
}

/**
 * The part of the graph that computes `outputNames` from `inputNames` (+ initializers). An
 * intermediate tensor given as an input becomes a graph input (type and shape from value_info,
 * from `shapes`, or its element type inferred, shape unknown). Every given input stays a graph
 * input, used or not, so one set of feeds serves both the full and the cut graph.
 */
export function extractSubgraph(
  model: ModelProto,
  inputNames: string[],
  outputNames: string[],
  shapes: Record<string, TensorInfo> = {},
): ModelProto {
  const graph = graphOf(model);
  const index = indexGraph(graph);
  const inputs = new Set(inputNames);
  for (const name of [...inputNames, ...outputNames]) {
    if (!index.producer.has(name) && !index.inputNames.has(name) && !index.initializers.has(name)) {
      throw new ChordError('ONNX_GRAPH', `The graph has no tensor named "${name}".`);
    }
  }
  const stop = new Set([...inputs, ...index.initializers.keys()]);
  const nodes = nodesNeededFor(index, outputNames, stop);

  const available = new Set([...stop, ...nodes.flatMap((n) => n.output ?? [])]);
  const missing = new Set<string>();
  for (const n of nodes) for (const i of nodeInputsDeep(n)) if (i && !available.has(i)) missing.add(i);
  if (missing.size > 0) {
    throw new ChordError(
      'ONNX_GRAPH',
      `The cut graph also needs ${[...missing].slice(0, 5).join(', ')}${missing.size > 5 ? ` and ${missing.size - 5} more` : ''}.`,
      'Add them to the inputs of the cut.',
    );
  }
  for (const o of outputNames) {
    if (inputs.has(o)) throw new ChordError('BAD_ARGUMENT', `"${o}" cannot be both an input and an output of the cut.`);
  }

  const graphInputs = inputNames.map((name) => {
    const vi = describe(index, name, shapes[name]);
    if (!vi) throw new ChordError('ONNX_GRAPH', `The type of "${name}" is unknown.`, 'Give its type and shape for the cut.');
    return vi;
  });
  const graphOutputs = outputNames.map((name) => describe(index, name, shapes[name]) ?? { name });

  const used = new Set(nodes.flatMap(nodeInputsDeep));
  const kept = new Set([...used, ...nodes.flatMap((n) => n.output ?? [])]);
  return {
    ...model,
    graph: {
      ...graph,
      node: nodes,
      input: graphInputs,
      output: graphOutputs,
      initializer: (graph.initializer ?? []).filter((t) => used.has(t.name ?? '') && !inputs.has(t.name ?? '')),
      valueInfo: (graph.valueInfo ?? []).filter((v) => kept.has(v.name ?? '') && !inputs.has(v.name ?? '')),
    },
  };
}

/**
 * Tensors computed inside module `modulePath` (e.g. 'up_blocks.2') and read by nodes of module
 * `readerPath` (or by any node outside `modulePath`, or as graph outputs, when omitted): how the
 * engine finds the deep feature entering the last up block by module path instead of by tensor
 * name. The exporter shares common subexpressions across modules (SiLU(temb) is computed once in
 * the first resnet and read by all others), so expect such extra tensors next to the feature.
 */
export function scopeOutputs(model: ModelProto, modulePath: string, readerPath?: string): string[] {
  const index = indexGraph(graphOf(model));
  const within = (node: { name?: string | null }, path: string): boolean => {
    const p = modulePathFromNodeName(node.name ?? '');
    return p !== undefined && (p === path || p.startsWith(`${path}.`));
  };
  const out: string[] = [];
  for (const node of index.nodes) {
    if (!within(node, modulePath)) continue;
    for (const t of node.output ?? []) {
      const readers = index.consumers.get(t) ?? [];
      const read = readerPath
        ? readers.some((r) => within(r, readerPath))
        : readers.some((r) => !within(r, modulePath)) || index.outputNames.has(t);
      if (t && read) out.push(t);
    }
  }
  return out;
}

/** Value info for a tensor: given, known to the graph, or its inferred element type. */
function describe(index: GraphIndex, name: string, info: TensorInfo | undefined): ValueInfoProto | undefined {
  if (info) return makeValueInfo(name, info.elemType, info.dims);
  const known = index.valueInfo.get(name);
  if (known && valueInfoElemType(known)) return known;
  const elemType = inferElemType(index, name);
  return elemType ? makeValueInfo(name, elemType) : undefined;
}

/** Ops whose output type is not their first input's. */
const INT64_OUT = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin']);
const BOOL_OUT = new Set(['Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf']);

/** com.microsoft ops whose output type is their first input's. */
const MS_SAME_TYPE = new Set(['FusedConv', 'FusedMatMul', 'FusedGemm']);

/** Follows first inputs back to something typed; most ops keep their input's element type. */
export function inferElemType(index: GraphIndex, tensorName: string): number | undefined {
  let name = tensorName;
  for (let hops = 0; hops < 10000; hops++) {
    const vi = index.valueInfo.get(name);
    const known = vi ? valueInfoElemType(vi) : undefined;
    if (known) return known;
    const constant = constantTensor(index, name);
    if (constant?.dataType) return constant.dataType;
    const node = index.producer.get(name);
    if (!node) return undefined;
    const op = node.opType ?? '';
    if ((node.domain ?? '') !== '') {
      // of other domains, only the fused ops that Chord's LoRA rewrite and ONNX Runtime write
      if (node.domain !== 'com.microsoft' || !MS_SAME_TYPE.has(op) || !node.input?.[0]) return undefined;
      name = node.input[0];
      continue;
    }
    if (op === 'Cast') return attrInt(node, 'to', 0) || undefined;
    if (INT64_OUT.has(op)) return DataType.INT64;
    if (BOOL_OUT.has(op)) return DataType.BOOL;
    if (op === 'ConstantOfShape') return findAttr(node, 'value')?.t?.dataType ?? DataType.FLOAT;
    if (op === 'Constant') return findAttr(node, 'value')?.t?.dataType ?? undefined;
    // Where(cond, a, b) takes a's type, CastLike(x, like) like's; the rest their first input's
    const next = op === 'Where' || op === 'CastLike' ? node.input?.[1] : node.input?.[0];
    if (!next) return undefined;
    name = next;
  }
  return undefined;
}
