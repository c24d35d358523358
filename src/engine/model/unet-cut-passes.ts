/**
 * The UNet cut as two graph passes (docs/composition.md, "UNet cut"): the full graph also outputs
 * the deep feature entering the last up block, under the fixed name DEEP_FEATURE; the shallow
 * graph takes it as an input and keeps only what the outer blocks need (time embedding, conv_in,
 * the first down block, the last up block with its skips, conv_out). Every input of the full
 * graph stays an input of the shallow one, so one set of feeds serves both.
 */
import { ChordError } from '../errors';
import { exposeTensor, extractSubgraph, type ModelProto } from '../onnx';
import { indexGraph } from '../onnx/graph';
import { graphOf, makeNode, valueInfoDims, valueInfoElemType } from '../onnx/proto';
import { modulePathFromNodeName } from '../onnx/targets';
import type { GraphPass } from './graph-passes';

/** The deep feature's name as an output of the full graph and an input of the shallow one. */
export const DEEP_FEATURE = 'chord.deep_feature';
const UNET_CUT_VERSION = 'chord-unet-cut/1';

/** Module paths the shallow graph keeps, besides the last up block. */
const OUTER_MODULES = ['time_proj', 'time_embedding', 'conv_in', 'down_blocks.0', 'conv_norm_out', 'conv_act', 'conv_out'];

function within(path: string | undefined, modules: readonly string[]): boolean {
  // nodes without a module path are the exporter's glue (casts, shapes): cheap, kept
  return path === undefined || modules.some((m) => path === m || path.startsWith(`${m}.`));
}

/** The tensor the outer blocks read from the deep part: the hidden state entering the last up block. */
export function findDeepFeature(model: ModelProto): string {
  const index = indexGraph(graphOf(model));
  let last = -1;
  for (const node of index.nodes) {
    const m = /^up_blocks\.(\d+)(\.|$)/.exec(modulePathFromNodeName(node.name ?? '') ?? '');
    if (m) last = Math.max(last, Number(m[1]));
  }
  const fail = (why: string) =>
    new ChordError('ONNX_GRAPH', `The UNet cannot be cut for cached passes: ${why}.`, 'Cached composition needs a UNet exported with diffusers module names; Chord uses full passes instead.');
  if (last < 0) throw fail('it has no up_blocks.N nodes');
  const outer = [...OUTER_MODULES, `up_blocks.${last}`];
  const candidates = new Set<string>();
  for (const node of index.nodes) {
    if (!within(modulePathFromNodeName(node.name ?? ''), outer)) continue;
    for (const input of node.input ?? []) {
      const producer = index.producer.get(input);
      if (producer && !within(modulePathFromNodeName(producer.name ?? ''), outer)) candidates.add(input);
    }
  }
  if (candidates.size !== 1) throw fail(`the outer blocks read ${candidates.size} tensors from the inner ones, expected 1`);
  return [...candidates][0];
}

/** The full UNet, also outputting its deep feature as DEEP_FEATURE. */
export const UNET_DEEP_OUTPUT_PASS: GraphPass = {
  key: 'deep',
  version: UNET_CUT_VERSION,
  rewrite(model) {
    const deep = findDeepFeature(model);
    const exposed = exposeTensor(model, deep);
    const graph = graphOf(exposed);
    const vi = (graph.output ?? []).find((o) => o.name === deep);
    const output = { ...vi, name: DEEP_FEATURE };
    return {
      model: {
        ...exposed,
        graph: {
          ...graph,
          node: [...(graph.node ?? []), makeNode('Identity', [deep], [DEEP_FEATURE], 'chord/deep_feature/Identity')],
          output: [...(graph.output ?? []).filter((o) => o.name !== deep), output],
        },
      },
      info: { deepFeature: deep },
    };
  },
};

/** The shallow UNet: the outer blocks only, from DEEP_FEATURE. */
export const UNET_SHALLOW_PASS: GraphPass = {
  key: 'shallow',
  version: UNET_CUT_VERSION,
  rewrite(model) {
    const deep = findDeepFeature(model);
    const graph = graphOf(model);
    const inputs = (graph.input ?? []).map((i) => i.name ?? '');
    const outputs = (graph.output ?? []).map((o) => o.name ?? '');
    const index = indexGraph(graph);
    const known = index.valueInfo.get(deep);
    const shape = known && valueInfoElemType(known) ? { [deep]: { elemType: valueInfoElemType(known) as number, dims: valueInfoDims(known) } } : {};
    const cut = extractSubgraph(model, [...inputs, deep], outputs, shape);
    const g = graphOf(cut);
    const rename = (n: string) => (n === deep ? DEEP_FEATURE : n);
    return {
      model: {
        ...cut,
        graph: {
          ...g,
          node: (g.node ?? []).map((n) => ({ ...n, input: (n.input ?? []).map(rename) })),
          input: (g.input ?? []).map((i) => (i.name === deep ? { ...i, name: DEEP_FEATURE } : i)),
        },
      },
      info: { deepFeature: deep, nodes: (g.node ?? []).length, fullNodes: (graph.node ?? []).length },
    };
  },
};
