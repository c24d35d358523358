/**
 * `chord tokenize --embedding-dir DIR`: the prompt's ids with each embedding name replaced by its
 * placeholder ids (the ids after the text encoder's vocabulary that stand for its vectors), in the
 * order the embeddings first appear, as a generation numbers them.
 */
import { findUsedEmbeddings, loadPromptEmbeddings, tokenTableOf } from '../embeddings/prompt';
import type { Tokenizer } from '../tokenizer/types';
import { replaceEmbeddingNames } from './windows';

export async function promptTokenIds(tok: Tokenizer, modelDir: string, prompt: string, embeddingDirs: readonly string[]): Promise<number[]> {
  const files = await findUsedEmbeddings(tok, [prompt], embeddingDirs);
  const ids = tok.encode(prompt);
  if (files.length === 0) return [tok.bos, ...ids, tok.eos];
  const embeddings = await loadPromptEmbeddings(tok, files, await tokenTableOf(modelDir));
  return [tok.bos, ...replaceEmbeddingNames(ids, embeddings.tokens), tok.eos];
}
