/**
 * Which embeddings a prompt uses, and the placeholder ids and rows that stand for them. An
 * embedding is used where its name's tokens appear in the prompt (as A1111 matches them), so
 * `EasyNegative`, `easynegative` and `(EasyNegative:1.2)` all use `EasyNegative.pt`. Only the
 * files a prompt uses are read: a broken file in the folder does not stop other prompts.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findTokenEmbedding, readModel } from '../onnx';
import { indexGraph } from '../onnx/graph';
import { graphOf } from '../onnx/proto';
import type { HashCache } from '../hash';
import { listNamedFiles, type NamedFile } from '../prompt/library';
import { type EmbeddingToken, promptWindows } from '../prompt/windows';
import type { Tokenizer } from '../tokenizer/types';
import { EMBEDDING_EXTENSIONS, type Embedding, readEmbedding } from './load';

export interface PromptEmbeddings {
  /** for promptWindows */
  tokens: EmbeddingToken[];
  /** the rows of every embedding in `tokens`, in placeholder-id order, [rows * width] */
  rows: Float32Array;
  embeddings: Embedding[];
}

/** The embedding files of `dirs` that the prompts use (first file of a name wins), in order of use. */
export async function findUsedEmbeddings(tok: Tokenizer, prompts: readonly string[], dirs: readonly string[]): Promise<NamedFile[]> {
  if (dirs.length === 0) return [];
  const byName = new Map<string, NamedFile>();
  for (const f of await listNamedFiles(dirs, EMBEDDING_EXTENSIONS, 'embedding')) if (!byName.has(f.name)) byName.set(f.name, f);
  // one placeholder per name is enough to see which names occur
  const probe: EmbeddingToken[] = [...byName.keys()].map((name, i) => ({ name, nameIds: tok.encode(name), firstId: -1 - i, vectors: 1 }));
  const used = new Set<string>();
  for (const p of prompts) for (const name of promptWindows(tok, p, { embeddings: probe }).embeddings) used.add(name);
  return [...used].map((name) => byName.get(name) as NamedFile);
}

/** Placeholder ids from `firstId` on, in the order given. */
export function embeddingTokens(tok: Tokenizer, embeddings: readonly Embedding[], firstId: number): PromptEmbeddings {
  const tokens: EmbeddingToken[] = [];
  let next = firstId;
  for (const e of embeddings) {
    tokens.push({ name: e.name, nameIds: tok.encode(e.name), firstId: next, vectors: e.vectors });
    next += e.vectors;
  }
  const rows = new Float32Array(embeddings.reduce((n, e) => n + e.data.length, 0));
  let at = 0;
  for (const e of embeddings) {
    rows.set(e.data, at);
    at += e.data.length;
  }
  return { tokens, rows, embeddings: [...embeddings] };
}

/** Reads the used files and gives them placeholder ids after the token table. */
export async function loadPromptEmbeddings(
  tok: Tokenizer,
  files: readonly NamedFile[],
  table: { vocabSize: number; width: number },
  hashes?: HashCache,
): Promise<PromptEmbeddings> {
  const loaded: Embedding[] = [];
  for (const f of files) loaded.push({ ...(await readEmbedding(f.path, table.width, hashes)), name: f.name });
  return embeddingTokens(tok, loaded, table.vocabSize);
}

/**
 * The text encoder's token table without opening a session: `text_encoder/config.json`
 * (`vocab_size`, `hidden_size`) when present, else the graph itself.
 */
export async function tokenTableOf(modelDir: string): Promise<{ vocabSize: number; width: number }> {
  try {
    const config = JSON.parse(await readFile(join(modelDir, 'text_encoder', 'config.json'), 'utf8')) as Record<string, unknown>;
    if (Number.isInteger(config.vocab_size) && Number.isInteger(config.hidden_size)) return { vocabSize: config.vocab_size as number, width: config.hidden_size as number };
  } catch {
    // no or unreadable config: the graph below says it
  }
  const graph = graphOf(await readModel(join(modelDir, 'text_encoder', 'model.onnx')));
  return findTokenEmbedding(indexGraph(graph)).table;
}
