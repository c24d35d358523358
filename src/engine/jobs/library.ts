/**
 * The LoRA library: the files a user has added, each read once with inspectLora and remembered in
 * `library.json` in the app's data folder. Files are referenced where they are (Electron); a file
 * uploaded from a browser is stored under the data folder first (`importFile`). A file that has
 * moved or gone shows as missing and is otherwise left alone.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { ChordError, isChordError } from '../errors';
import { inspectLora, type LoraInfo } from '../lora/metadata';
import type { LoraCategory } from '../png/record';
import { JsonFile, readJsonFile } from './json-store';
import type { FrequencyClass, LoraEntry, LoraFrequency, LoraImport, LoraPatch } from './types';

const CATEGORIES: readonly LoraCategory[] = ['character', 'clothing', 'style', 'background', 'object'];

/** What is stored per LoRA; `previewUrl` and `missing` are worked out when listed. */
interface StoredLora {
  id: string;
  path: string;
  name: string;
  baseModel: string;
  rank: number | null;
  triggerWords: string[];
  category: LoraCategory | null;
  sha256: string;
  preview: string | null;
  /** measured classes, one per model (added later: absent in older library files) */
  frequency?: LoraFrequency[];
  /** the user's class; absent or null: the measured one */
  classOverride?: FrequencyClass | null;
}

function isStoredLora(x: unknown): x is StoredLora {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  return typeof o.id === 'string' && typeof o.path === 'string' && typeof o.name === 'string' && typeof o.sha256 === 'string' && Array.isArray(o.triggerWords);
}

/** The base model a person recognises: SD family from the keys, else the family the metadata names. */
export function baseModelLabel(info: LoraInfo): string {
  if (info.baseModel !== 'unknown') return info.baseModel;
  const named = info.metadata.ss_base_model_version || (info.modelspec.architecture ?? '').split('/')[0];
  return named ? named : 'unknown';
}

function categoryOf(info: LoraInfo): LoraCategory | null {
  const c = (info.metadata['chord.category'] ?? '').trim().toLowerCase();
  return (CATEGORIES as readonly string[]).includes(c) ? (c as LoraCategory) : null;
}

/** A file name safe to create in the uploads folder: letters, digits, `.`, `-`, `_`, ending .safetensors. */
export function safeUploadName(fileName: string): string {
  const base = basename(fileName.replaceAll('\\', '/'));
  if (extname(base).toLowerCase() !== '.safetensors') {
    throw new ChordError('LORA_INVALID', `${base || 'The file'} is not a .safetensors file.`, 'Drop LoRA files ending in .safetensors.');
  }
  const stem = base.slice(0, -'.safetensors'.length).replace(/[^\w.-]+/g, '_').replace(/^[.-]+/, '').slice(0, 120);
  return `${stem || 'lora'}.safetensors`;
}

const PREVIEW_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp'];

/** The stored name of an uploaded preview image, or undefined when `fileName` is not an image. */
export function safePreviewName(fileName: string): string | undefined {
  const base = basename(fileName.replaceAll('\\', '/'));
  const ext = extname(base).toLowerCase();
  if (!PREVIEW_EXTENSIONS.includes(ext)) return undefined;
  const stem = base.slice(0, -ext.length).replace(/[^\w.-]+/g, '_').replace(/^[.-]+/, '').slice(0, 120);
  return `${stem || 'lora'}${ext}`;
}

export interface LoraLibraryOptions {
  /** the app's data folder: library.json and uploads/loras/ live there */
  dataDir: string;
  /** URL of a LoRA's preview image, by id */
  previewUrl: (id: string) => string;
}

export class LoraLibrary {
  private entries: StoredLora[] = [];
  private readonly file: JsonFile<{ loras: StoredLora[] }>;
  readonly uploadsDir: string;

  constructor(private readonly options: LoraLibraryOptions) {
    this.file = new JsonFile(join(options.dataDir, 'library.json'));
    this.uploadsDir = join(options.dataDir, 'uploads', 'loras');
  }

  async load(onDamaged?: (why: string) => void): Promise<void> {
    const data = await readJsonFile(
      this.file.path,
      (x) => {
        const loras = (x as { loras?: unknown } | null)?.loras;
        return Array.isArray(loras) ? { loras: loras.filter(isStoredLora) } : undefined;
      },
      { loras: [] },
      onDamaged,
    );
    this.entries = data.loras;
  }

  async list(): Promise<LoraEntry[]> {
    return Promise.all(this.entries.map((e) => this.toEntry(e)));
  }

  private async toEntry(e: StoredLora): Promise<LoraEntry> {
    const missing = !(await isFile(e.path));
    return {
      id: e.id,
      path: e.path,
      name: e.name,
      baseModel: e.baseModel,
      rank: e.rank,
      triggerWords: e.triggerWords,
      category: e.category,
      sha256: e.sha256,
      previewUrl: e.preview && !missing ? this.options.previewUrl(e.id) : null,
      missing,
      frequency: (e.frequency ?? []).map((f) => ({ ...f })),
      classOverride: e.classOverride ?? null,
    };
  }

  /** The preview image file of a LoRA, if it has one (for the host's preview route). */
  previewFile(id: string): string | null {
    return this.entries.find((e) => e.id === id)?.preview ?? null;
  }

  byId(id: string): StoredLora | undefined {
    return this.entries.find((e) => e.id === id);
  }

  /** Remembers measured classes (one per LoRA and model, the newest wins). */
  async setFrequencies(measured: readonly { id: string; frequency: LoraFrequency }[]): Promise<void> {
    for (const { id, frequency } of measured) {
      const e = this.entries.find((x) => x.id === id);
      if (e) e.frequency = [...(e.frequency ?? []).filter((f) => f.model !== frequency.model), { ...frequency }];
    }
    await this.save();
  }

  byHash(sha256: string): StoredLora | undefined {
    return this.entries.find((e) => e.sha256 === sha256);
  }

  byName(name: string): StoredLora | undefined {
    return this.entries.find((e) => e.name === name || basename(e.path, extname(e.path)) === name);
  }

  /**
   * Adds files by path; each one that cannot be read is reported, the others are added. A folder
   * adds the .safetensors files in it and its sub-folders (a PEFT adapter folder is one LoRA).
   */
  async add(paths: string[]): Promise<LoraImport> {
    const result: LoraImport = { added: [], failed: [] };
    for (const p of await expandFolders(paths)) {
      const path = resolve(p);
      try {
        const info = await inspectLora(path);
        if (info.modules.total === 0) {
          throw new ChordError('LORA_INVALID', `${basename(path)} holds no LoRA modules Chord understands.`, 'Check that it is a LoRA (not a full model or an embedding).');
        }
        const id = createHash('sha256').update(path).digest('hex').slice(0, 16);
        const stored: StoredLora = {
          id,
          path,
          name: info.name,
          baseModel: baseModelLabel(info),
          rank: info.rank?.common ?? null,
          triggerWords: info.triggerWords,
          category: categoryOf(info),
          sha256: info.hashes?.sha256 ?? '',
          preview: info.preview ? resolve(info.preview) : null,
        };
        const at = this.entries.findIndex((e) => e.id === id);
        if (at >= 0) {
          // re-adding keeps what the user edited, and the measurements while the file is the same
          const old = this.entries[at];
          this.entries[at] = {
            ...stored,
            category: old.category ?? stored.category,
            triggerWords: old.triggerWords,
            classOverride: old.classOverride ?? null,
            frequency: old.sha256 === stored.sha256 ? old.frequency : [],
          };
        } else this.entries.push(stored);
        result.added.push(await this.toEntry(this.entries[at >= 0 ? at : this.entries.length - 1]));
      } catch (e) {
        result.failed.push({ file: basename(path), message: isChordError(e) ? e.userText() : `${basename(path)} could not be read: ${(e as Error).message}` });
      }
    }
    if (result.added.length > 0) await this.save();
    return result;
  }

  /**
   * Stores an uploaded file under the data folder, then adds it; a file that is not a LoRA is not
   * kept. An image (`zorb.png`) is kept as the preview of the LoRA with the same name, the way
   * A1111 finds previews beside LoRA files; upload it before the LoRA.
   */
  async importFile(fileName: string, bytes: Uint8Array | AsyncIterable<Uint8Array>): Promise<LoraImport> {
    const preview = safePreviewName(fileName);
    if (preview) {
      await mkdir(this.uploadsDir, { recursive: true });
      await writeStreamed(join(this.uploadsDir, preview), bytes, 'w');
      return { added: [], failed: [] };
    }
    let name: string;
    try {
      name = safeUploadName(fileName);
    } catch (e) {
      return { added: [], failed: [{ file: basename(fileName), message: (e as ChordError).userText() }] };
    }
    await mkdir(this.uploadsDir, { recursive: true });
    let path = join(this.uploadsDir, name);
    for (let n = 2; await isFile(path); n++) path = join(this.uploadsDir, name.replace(/\.safetensors$/, `-${n}.safetensors`));
    try {
      await writeStreamed(path, bytes, 'wx');
    } catch (e) {
      await rm(path, { force: true });
      throw e;
    }
    const result = await this.add([path]);
    if (result.added.length === 0) await rm(path, { force: true });
    for (const f of result.failed) {
      // the stored copy's path means nothing to whoever dropped the file: name their file instead
      f.file = basename(fileName);
      f.message = f.message.replaceAll(path, f.file);
    }
    return result;
  }

  async update(id: string, patch: LoraPatch): Promise<LoraEntry> {
    const e = this.entries.find((x) => x.id === id);
    if (!e) throw new ChordError('FILE_NOT_FOUND', 'That LoRA is not in the library any more.', 'Add the file again.');
    if (patch.category !== undefined) e.category = patch.category;
    if (patch.triggerWords !== undefined) e.triggerWords = patch.triggerWords.map((w) => w.trim()).filter((w) => w.length > 0);
    if (patch.classOverride !== undefined) e.classOverride = patch.classOverride;
    await this.save();
    return this.toEntry(e);
  }

  /** Forgets a LoRA; its file stays where it is (an uploaded copy is removed). */
  async remove(id: string): Promise<void> {
    const e = this.entries.find((x) => x.id === id);
    if (!e) return;
    this.entries = this.entries.filter((x) => x.id !== id);
    await this.save();
    if (resolve(e.path).startsWith(resolve(this.uploadsDir) + '/')) await rm(e.path, { force: true });
  }

  private save(): Promise<void> {
    return this.file.write({ loras: this.entries });
  }
}

/** Folders replaced by the LoRA files under them (at most 4 levels down, in name order). */
async function expandFolders(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    if (entries.some((e) => e.isFile() && e.name === 'adapter_config.json')) {
      out.push(dir);
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const path = join(dir, e.name);
      if (e.isFile() && e.name.toLowerCase().endsWith('.safetensors')) out.push(path);
      else if (e.isDirectory() && depth < 4) await walk(path, depth + 1);
    }
  };
  for (const p of paths) {
    let isDir = false;
    try {
      isDir = (await stat(p)).isDirectory();
    } catch {
      // reported by add() as not found
    }
    if (isDir) await walk(resolve(p), 0);
    else out.push(p);
  }
  return out;
}

/** Writes bytes or a stream of them to `path` without holding a large upload in memory. */
async function writeStreamed(path: string, data: Uint8Array | AsyncIterable<Uint8Array>, flags: 'w' | 'wx'): Promise<void> {
  if (data instanceof Uint8Array) return writeFile(path, data, { flag: flags });
  await pipeline(Readable.from(data), createWriteStream(path, { flags }));
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
