/**
 * Files a prompt refers to by name: LoRAs (`<lora:name:w>`) and textual-inversion embeddings,
 * looked up in folders the user gives (`--lora-dir`, `--embedding-dir`) and their subfolders, as
 * A1111 scans its `models/Lora` and `embeddings` folders. A name is a file's name without its
 * extension; a LoRA may also be named by the alias in its metadata (`ss_output_name`).
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { ChordError } from '../errors';
import { readSafetensorsHeader } from '../safetensors';
import type { LoraTag } from './lora-tags';

export interface NamedFile {
  /** file name without extension */
  name: string;
  path: string;
}

/** Deepest folder level scanned below each given folder (guards against link loops). */
const MAX_DEPTH = 8;

/**
 * Every file with one of `extensions` under the folders, in folder order then path order. A folder
 * that does not exist is an error (a mistyped --lora-dir should not look like an unknown name).
 */
export async function listNamedFiles(dirs: readonly string[], extensions: readonly string[], what: string): Promise<NamedFile[]> {
  const out: NamedFile[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (e) {
      if (depth > 0) return;
      throw new ChordError('FILE_NOT_FOUND', `The ${what} folder ${dir} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}).`, `Check the folder given for ${what}s.`, { cause: e });
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const path = join(dir, entry.name);
      const ext = extname(entry.name).toLowerCase();
      if (entry.isDirectory() || (entry.isSymbolicLink() && (await stat(path).then((s) => s.isDirectory(), () => false)))) {
        if (depth < MAX_DEPTH && !entry.name.startsWith('.')) await walk(path, depth + 1);
      } else if (extensions.includes(ext)) {
        out.push({ name: basename(entry.name, extname(entry.name)), path });
      }
    }
  };
  for (const dir of dirs) await walk(dir, 0);
  return out;
}

async function aliasOf(path: string): Promise<string | undefined> {
  try {
    const alias = (await readSafetensorsHeader(path)).metadata.ss_output_name;
    return typeof alias === 'string' && alias !== '' ? alias : undefined;
  } catch {
    // a broken file is reported when it is loaded, not while looking for another name
    return undefined;
  }
}

export interface ResolvedLoraTag extends LoraTag {
  path: string;
}

/**
 * The file of each `<lora:...>` tag: the first `.safetensors` whose name equals the tag's name,
 * else the first whose metadata alias does. An unknown name is an error naming the folders searched.
 */
export async function resolveLoraTags(tags: readonly LoraTag[], dirs: readonly string[]): Promise<ResolvedLoraTag[]> {
  if (tags.length === 0) return [];
  if (dirs.length === 0) {
    throw new ChordError('BAD_ARGUMENT', `The prompt has ${tags[0].source}, but no LoRA folder was given.`, 'Add --lora-dir DIR (the folder holding the LoRA files).');
  }
  const files = await listNamedFiles(dirs, ['.safetensors'], 'LoRA');
  let aliases: Map<string, string> | undefined;
  const out: ResolvedLoraTag[] = [];
  for (const tag of tags) {
    let file = files.find((f) => f.name === tag.name)?.path;
    if (!file) {
      if (!aliases) {
        aliases = new Map();
        for (const f of files) {
          const alias = await aliasOf(f.path);
          if (alias !== undefined && !aliases.has(alias)) aliases.set(alias, f.path);
        }
      }
      file = aliases.get(tag.name);
    }
    if (!file) {
      throw new ChordError(
        'FILE_NOT_FOUND',
        `No LoRA named "${tag.name}" (from ${tag.source}) in ${dirs.join(', ')}.`,
        'The name is the file name without .safetensors, or the alias in its metadata; check the spelling or add the folder with --lora-dir.',
      );
    }
    out.push({ ...tag, path: file });
  }
  return out;
}

export interface StackEntry {
  path: string;
  /** UNet weight */
  weight: number;
  /** text-encoder weight (equal to `weight` unless a tag gave two) */
  textEncoderWeight: number;
  /** the name a tag used (file name or alias), for LoRAs that came from a prompt tag */
  tagName?: string;
  /** a tag in the prompt stands for this LoRA */
  promptTag?: boolean;
}

/**
 * `--lora` entries first, in their order, then the prompt's tags. A file given twice (same real
 * path `key`) is one LoRA: a `--lora` entry wins over a tag, the first tag over later ones, and a
 * notice says which weight was used.
 */
export function mergeLoraRequests(
  options: ReadonlyArray<{ path: string; weight: number; textEncoderWeight?: number; promptTag?: boolean; key: string }>,
  tags: ReadonlyArray<ResolvedLoraTag & { key: string }>,
): { loras: StackEntry[]; notices: string[] } {
  const loras: StackEntry[] = [];
  const notices: string[] = [];
  const seen = new Map<string, string>();
  for (const o of options) {
    if (seen.has(o.key)) {
      notices.push(`${o.path} is given twice with --lora; using the first weight.`);
      continue;
    }
    seen.set(o.key, `--lora ${o.path} (weight ${o.weight})`);
    loras.push({ path: o.path, weight: o.weight, textEncoderWeight: o.textEncoderWeight ?? o.weight, ...(o.promptTag ? { promptTag: true } : {}) });
  }
  for (const t of tags) {
    const first = seen.get(t.key);
    if (first !== undefined) {
      notices.push(`${t.source} in the prompt and ${first} are the same file; using the weight of ${first}.`);
      continue;
    }
    seen.set(t.key, t.source);
    loras.push({ path: t.path, weight: t.unetWeight, textEncoderWeight: t.textEncoderWeight, tagName: t.name, promptTag: true });
  }
  return { loras, notices };
}
