/**
 * The gallery: the PNGs Chord saved in its gallery folder, each with the settings read back from
 * its own metadata (the image file is the only record, so nothing can disagree with it).
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import { ChordError } from '../errors';
import { samplerFromA1111 } from '../png/a1111';
import { readImageInfo, type ImageInfo } from '../png/image';
import { recordedMethodOptions } from '../pipeline/methods';
import { shallowPassCost } from './pass-cost';
import type { AppSampler, GalleryImage, ImageSettings, ImageStepLog } from './types';

/** File names the gallery serves and deletes: a plain PNG name, no folders, no dot files. */
export const GALLERY_NAME = /^[\w-][\w.-]{0,200}\.png$/;

const APP_SAMPLERS: readonly AppSampler[] = ['euler', 'euler_a', 'ddim', 'dpmpp_2m', 'dpmpp_2m_karras', 'lcm'];

/** A record's sampler id ('euler-a', 'dpmpp-2m' + karras) as the app names it. */
function appSampler(id: string | undefined, karras: boolean): AppSampler | undefined {
  if (!id) return undefined;
  const name = `${id.replaceAll('-', '_')}${karras ? '_karras' : ''}`;
  return (APP_SAMPLERS as readonly string[]).includes(name) ? (name as AppSampler) : undefined;
}

/** Looks a LoRA up in the library, by file hash first, then by name. */
export type LoraLookup = (lora: { name: string; sha256?: string }) => string | null;

/** The settings an image carries: Chord's record when there is one, else A1111's infotext. */
export function imageSettings(info: ImageInfo, findLora: LoraLookup): ImageSettings | null {
  const r = info.chord;
  if (r) {
    return {
      prompt: r.prompt,
      negativePrompt: r.negativePrompt,
      steps: r.steps,
      cfg: r.cfg,
      sampler: appSampler(r.sampler, r.karras),
      seed: r.seed,
      width: r.width,
      height: r.height,
      loras: r.loras.map((l) => ({ name: l.name, weight: l.weight, path: findLora({ name: l.name, sha256: l.fileHash }) })),
      method: r.method,
      methodOptions: recordedMethodOptions(r.method, Object.fromEntries(Object.entries(r.methodOptions).filter((e): e is [string, number | boolean] => typeof e[1] !== 'string'))),
      source: 'chord',
      order: [...r.ordering.order],
      engineVersion: r.engineVersion,
      ...(r.regions && r.regions.length > 0
        ? {
            regions: r.regions.map((g) => ({
              box: [...g.box] as [number, number, number, number],
              prompt: g.prompt,
              negative: g.negativePrompt,
              // a bound LoRA carries a copy of its region; boxes never overlap, so the box finds it
              loras: r.loras.flatMap((l, k) => (l.region && l.region.box.every((x, i) => x === g.box[i]) ? [k] : [])),
            })),
          }
        : {}),
    };
  }
  const a = info.a1111;
  if (!a) return null;
  const sampler = a.sampler ? samplerFromA1111(a.sampler) : undefined;
  const karras = sampler?.karras || (a.scheduleType ?? '').toLowerCase() === 'karras';
  const settings: ImageSettings = {
    // <lora:...> tags become stack entries, so they leave the prompt
    prompt: a.prompt.replace(/<lora:[^>]*>/g, '').replace(/\s+,/g, ',').replace(/\s{2,}/g, ' ').trim(),
    negativePrompt: a.negativePrompt,
    loras: a.loraTags.map((t) => ({ name: t.name, weight: t.weight, path: findLora({ name: t.name }) })),
    source: 'a1111',
  };
  if (a.steps !== undefined) settings.steps = a.steps;
  if (a.cfgScale !== undefined) settings.cfg = a.cfgScale;
  const s = appSampler(sampler?.sampler, karras);
  if (s) settings.sampler = s;
  if (a.seed !== undefined && a.seed >= 0) settings.seed = a.seed;
  if (a.width !== undefined) settings.width = a.width;
  if (a.height !== undefined) settings.height = a.height;
  return settings;
}

/** The per-step log a record carries (methods other than Merge), with the cost of a shallow pass. */
export function imageStepLog(info: ImageInfo): ImageStepLog | undefined {
  const r = info.chord;
  if (!r?.stepLog || r.stepLog.length === 0) return undefined;
  return {
    steps: r.stepLog.map((s) => ({ active: [...s.active], dominant: s.dominant ?? null, refreshed: [...s.refreshed], full: s.full, shallow: s.shallow })),
    ...shallowPassCost(r.model.name, r.width, r.height),
  };
}

/** Settings of a PNG given as bytes (a dropped file); a PNG without any is a clear error. */
export async function settingsFromPng(bytes: Uint8Array, findLora: LoraLookup): Promise<ImageSettings> {
  const info = await readImageInfo(bytes);
  const settings = imageSettings(info, findLora);
  if (!settings) {
    throw new ChordError('PNG_INVALID', 'This PNG holds no generation settings.', 'Drop an image made by Chord or by an A1111-style tool.');
  }
  return settings;
}

export class Gallery {
  readonly dir: string;

  constructor(
    dir: string,
    private readonly imageUrl: (name: string) => string,
  ) {
    this.dir = resolve(dir);
  }

  /**
   * The file of a gallery image, or undefined when `name` is not a plain PNG name directly in the
   * gallery folder. The one gate every image route goes through.
   */
  fileOf(name: string): string | undefined {
    if (typeof name !== 'string' || !GALLERY_NAME.test(name)) return undefined;
    const file = resolve(this.dir, name);
    return file.startsWith(this.dir + sep) ? file : undefined;
  }

  async item(name: string, findLora: LoraLookup): Promise<GalleryImage | undefined> {
    const file = this.fileOf(name);
    if (!file) return undefined;
    try {
      const [s, info] = await Promise.all([stat(file), readImageInfo(file)]);
      const stepLog = imageStepLog(info);
      return { name, url: this.imageUrl(name), width: info.width, height: info.height, createdAt: s.mtimeMs, settings: imageSettings(info, findLora), file, ...(stepLog ? { stepLog } : {}) };
    } catch {
      // unreadable or gone: not shown
      return undefined;
    }
  }

  /** Every image, newest first. */
  async list(findLora: LoraLookup): Promise<GalleryImage[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    const items = await Promise.all(names.filter((n) => GALLERY_NAME.test(n)).map((n) => this.item(n, findLora)));
    return items.filter((i): i is GalleryImage => i !== undefined).sort((a, b) => b.createdAt - a.createdAt || (a.name < b.name ? 1 : -1));
  }

  async delete(name: string): Promise<void> {
    const file = this.fileOf(name);
    if (!file) throw new ChordError('BAD_ARGUMENT', `"${name}" is not an image in the gallery.`);
    await rm(file, { force: true });
  }
}
