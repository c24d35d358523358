/**
 * Read-only lookups over one graph: who produces and who consumes each tensor, which tensors are
 * weights (initializers or Constant outputs), what value info is known. Built once per pass.
 */
import { ChordError } from '../errors';
import { findAttr, type GraphProto, type NodeProto, type TensorProto, type ValueInfoProto } from './proto';

export interface GraphIndex {
  graph: GraphProto;
  nodes: NodeProto[];
  /** tensor name -> the node that outputs it */
  producer: Map<string, NodeProto>;
  /** tensor name -> nodes that take it as an input (in graph order, a node once per use) */
  consumers: Map<string, NodeProto[]>;
  initializers: Map<string, TensorProto>;
  /** Constant node outputs -> their tensor */
  constants: Map<string, TensorProto>;
  /** graph inputs, outputs and value_info by name */
  valueInfo: Map<string, ValueInfoProto>;
  inputNames: Set<string>;
  outputNames: Set<string>;
  /** every tensor and node name in use, for picking new unique names */
  names: Set<string>;
}

export function indexGraph(graph: GraphProto): GraphIndex {
  const nodes = graph.node ?? [];
  const producer = new Map<string, NodeProto>();
  const consumers = new Map<string, NodeProto[]>();
  const initializers = new Map<string, TensorProto>();
  const constants = new Map<string, TensorProto>();
  const valueInfo = new Map<string, ValueInfoProto>();
  const names = new Set<string>();
  for (const t of graph.initializer ?? []) {
    if (t.name) {
      initializers.set(t.name, t);
      names.add(t.name);
    }
  }
  for (const vi of [...(graph.valueInfo ?? []), ...(graph.input ?? []), ...(graph.output ?? [])]) {
    if (vi.name) {
      valueInfo.set(vi.name, vi);
      names.add(vi.name);
    }
  }
  for (const node of nodes) {
    if (node.name) names.add(node.name);
    for (const out of node.output ?? []) {
      if (!out) continue;
      producer.set(out, node);
      names.add(out);
    }
    for (const inp of node.input ?? []) {
      if (!inp) continue;
      const list = consumers.get(inp);
      if (list) list.push(node);
      else consumers.set(inp, [node]);
    }
    if (node.opType === 'Constant' && (node.domain ?? '') === '') {
      const t = findAttr(node, 'value')?.t;
      const out = node.output?.[0];
      if (t && out) constants.set(out, t);
    }
  }
  return {
    graph,
    nodes,
    producer,
    consumers,
    initializers,
    constants,
    valueInfo,
    inputNames: new Set((graph.input ?? []).map((v) => v.name ?? '')),
    outputNames: new Set((graph.output ?? []).map((v) => v.name ?? '')),
    names,
  };
}

/**
 * A weight-like constant: an initializer or a Constant node's output. (Old exports also list
 * initializers as graph inputs; they are still the weights in practice.)
 */
export function constantTensor(index: GraphIndex, name: string): TensorProto | undefined {
  return index.constants.get(name) ?? index.initializers.get(name);
}

/**
 * Throws when a name a pass wants to add already exists: generated names are deterministic
 * (derived from module paths), so a clash means the graph was already rewritten or is unusual.
 */
export function claimName(index: GraphIndex, name: string): string {
  if (index.names.has(name)) {
    throw new ChordError(
      'ONNX_GRAPH',
      `The graph already has a tensor or node named "${name}".`,
      'Rewrite the original model, not an already rewritten one.',
    );
  }
  index.names.add(name);
  return name;
}

/** Nodes reachable backwards from `outputs`, stopping at `stopAt` tensors; in graph order. */
export function nodesNeededFor(index: GraphIndex, outputs: Iterable<string>, stopAt: Set<string>): NodeProto[] {
  const needed = new Set<NodeProto>();
  const stack = [...outputs];
  const seen = new Set<string>();
  while (stack.length > 0) {
    const name = stack.pop() as string;
    if (seen.has(name) || stopAt.has(name)) continue;
    seen.add(name);
    const node = index.producer.get(name);
    if (!node || needed.has(node)) continue;
    needed.add(node);
    for (const inp of nodeInputsDeep(node)) if (inp) stack.push(inp);
  }
  return index.nodes.filter((n) => needed.has(n));
}

/**
 * A node's inputs plus the outer-scope tensors its subgraphs (If/Loop/Scan bodies) read: those are
 * real dependencies even though they are not listed in `input`.
 */
export function nodeInputsDeep(node: NodeProto): string[] {
  const out = [...(node.input ?? [])];
  for (const a of node.attribute ?? []) {
    for (const g of [a.g, ...(a.graphs ?? [])]) {
      if (g) out.push(...outerScopeReads(g));
    }
  }
  return out;
}

function outerScopeReads(g: GraphProto): string[] {
  const local = new Set<string>([
    ...(g.input ?? []).map((v) => v.name ?? ''),
    ...(g.initializer ?? []).map((t) => t.name ?? ''),
  ]);
  for (const n of g.node ?? []) for (const o of n.output ?? []) local.add(o);
  const reads: string[] = [];
  for (const n of g.node ?? []) for (const i of nodeInputsDeep(n)) if (i && !local.has(i)) reads.push(i);
  return reads;
}
