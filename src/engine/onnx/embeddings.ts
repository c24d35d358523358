/**
 * Textual-inversion embeddings at run time: the text encoder's token-embedding lookup
 * `Gather(table[V, C], ids)` becomes `Gather(Concat(table, extra_rows[E, C]), ids)`, with
 * `extra_rows` a new graph input. Ids V .. V+E-1 then pick the fed rows, so a prompt's embedding
 * vectors are placeholder ids >= V and changing embeddings only changes an input, never the
 * session. Ids below V give exactly the original rows, so the graph computes what the original
 * does for every ordinary prompt.
 */
import { ChordError } from '../errors';
import { claimName, constantTensor, indexGraph, type GraphIndex } from './graph';
import { graphOf, makeNode, makeValueInfo, intAttr, tensorDims, withMetadata, type ModelProto, type NodeProto } from './proto';

/** The added graph input: [rows, width] in the token table's element type. */
export const EXTRA_ROWS_INPUT = 'embeddings.extra_rows';
export const EXTRA_ROWS_DIM = 'extra_rows';
export const EMBEDDING_REWRITE_VERSION = 'chord-embeddings/1';
export const EMBEDDING_METADATA_KEY = 'chord.embeddings';

export interface TokenTable {
  /** rows of the original table: the first placeholder id */
  vocabSize: number;
  /** vector width of the text encoder (768 for SD 1.x) */
  width: number;
  /** ONNX element type of the table (and of the extra rows input) */
  elemType: number;
}

/** Ops that pass ids through unchanged on the way from the graph input to the lookup. */
const PASS_THROUGH = new Set(['Cast', 'Identity', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze']);

function comesFromInput(index: GraphIndex, tensor: string, input: string): boolean {
  for (let name = tensor, hops = 0; hops < 8; hops++) {
    if (name === input) return true;
    const node = index.producer.get(name);
    if (!node || !PASS_THROUGH.has(node.opType ?? '')) return false;
    name = node.input?.[0] ?? '';
  }
  return false;
}

/** The Gather that looks the prompt's ids up in the token-embedding table. */
export function findTokenEmbedding(index: GraphIndex, idsInput = 'input_ids'): { node: NodeProto; table: TokenTable } {
  const found: { node: NodeProto; table: TokenTable }[] = [];
  for (const node of index.nodes) {
    if (node.opType !== 'Gather' || (node.domain ?? '') !== '') continue;
    const [data, indices] = node.input ?? [];
    const t = data ? constantTensor(index, data) : undefined;
    if (!t || !indices) continue;
    const dims = tensorDims(t);
    if (dims.length !== 2 || !comesFromInput(index, indices, idsInput)) continue;
    found.push({ node, table: { vocabSize: dims[0], width: dims[1], elemType: t.dataType ?? 0 } });
  }
  if (found.length !== 1) {
    throw new ChordError(
      'MODEL_INVALID',
      found.length === 0 ? 'The text encoder has no token-embedding lookup (a Gather of input_ids in a weight table), so embeddings cannot be added.' : 'The text encoder looks input_ids up in more than one table, so Chord cannot tell where embeddings go.',
      'Use a text encoder exported with the standard diffusers exporter.',
    );
  }
  return found[0];
}

/** The rewrite; pure (the input model is not changed). */
export function addEmbeddingRows(model: ModelProto): { model: ModelProto; table: TokenTable } {
  const graph = graphOf(model);
  const index = indexGraph(graph);
  // first: an already rewritten graph is reported as such, not as one without a lookup
  const input = claimName(index, EXTRA_ROWS_INPUT);
  const { node, table } = findTokenEmbedding(index);
  const joined = claimName(index, 'embeddings.token_table');
  const concat = makeNode('Concat', [node.input?.[0] ?? '', input], [joined], claimName(index, 'embeddings.concat'), [intAttr('axis', 0)]);
  const nodes: NodeProto[] = [];
  for (const n of graph.node ?? []) {
    if (n === node) nodes.push(concat, { ...n, input: [joined, ...(n.input ?? []).slice(1)] });
    else nodes.push(n);
  }
  return {
    model: {
      ...model,
      graph: { ...graph, node: nodes, input: [...(graph.input ?? []), makeValueInfo(input, table.elemType, [EXTRA_ROWS_DIM, table.width])] },
      metadataProps: withMetadata(model, { [EMBEDDING_METADATA_KEY]: JSON.stringify(table) }),
    },
    table,
  };
}
