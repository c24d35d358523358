/**
 * The textual-inversion pass (docs/graph-passes.md): the text encoder's token-embedding lookup
 * takes extra rows as an input (onnx/embeddings.ts), and its bind feeds the rows of the
 * embeddings a prompt uses. Info: the token table (TokenTable: first placeholder id, width).
 */
import { addEmbeddingRows, EMBEDDING_REWRITE_VERSION, EXTRA_ROWS_INPUT, type TokenTable } from '../onnx';
import type { GraphPass } from './graph-passes';
import type { Feed } from './session';

export const EMBEDDINGS_PASS: GraphPass = {
  key: 'emb',
  version: EMBEDDING_REWRITE_VERSION,
  rewrite(model, part) {
    if (part !== 'text_encoder') throw new RangeError('embedding rows are for the text encoder');
    const { model: rewritten, table } = addEmbeddingRows(model);
    return { model: rewritten, info: table };
  },
};

/** The pass's feed: the rows the placeholder ids table.vocabSize, +1, ... stand for ([rows * width], may be empty). */
export function embeddingRowsFeed(table: TokenTable, rows: Float32Array): Record<string, Feed> {
  if (rows.length % table.width !== 0) throw new RangeError(`${rows.length} values are not rows of width ${table.width}`);
  return { [EXTRA_ROWS_INPUT]: { data: rows, dims: [rows.length / table.width, table.width] } };
}

export function isTokenTable(v: unknown): v is TokenTable {
  if (typeof v !== 'object' || v === null) return false;
  const t = v as Record<string, unknown>;
  return Number.isInteger(t.vocabSize) && Number.isInteger(t.width) && Number.isInteger(t.elemType);
}
