/**
 * What a LoRA file says about itself, without loading its weights: format, ranks, module counts,
 * kohya `ss_*` training metadata, modelspec fields, an A1111 sidecar `<name>.json`, a preview image
 * beside the file, and the hashes A1111 and Civitai show.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { withSafetensors } from '../safetensors/reader';
import { hashLoraFile, type LoraHashes } from './hash';
import { groupAlgorithm, groupLoraKeys, type KeyGroup, type LoraKeyStyle } from './keys';
import { locateLora } from './parse';
import { peftConfigsFromMetadata, peftModuleScale, readPeftConfig, type PeftConfig } from './peft';

/** 'glyph-sd': Chord's own small demo family (models/glyph-sd), SD 1.5's architecture scaled down. */
export type LoraBaseModel = 'sd1' | 'sd2' | 'sdxl' | 'glyph-sd' | 'unknown';

export interface NumberSummary {
  min: number;
  max: number;
  /** the most frequent value (the "rank of the LoRA" a user means) */
  common: number;
}

export interface LoraSidecar {
  activationText?: string;
  preferredWeight?: number;
  sdVersion?: string;
  description?: string;
  notes?: string;
  negativeText?: string;
}

export interface LoraInfo {
  /** as given (file or PEFT folder) */
  path: string;
  /** the safetensors file read */
  file: string;
  /** ss_output_name, else modelspec.title, else the file name without extension */
  name: string;
  sizeBytes: number;
  format: LoraKeyStyle;
  /** module counts per algorithm; `locon` = LoRA on a conv with a kernel larger than 1x1 */
  algorithms: { lora: number; locon: number; loha: number; lokr: number; diff: number; dora: number };
  modules: { unet: number; text_encoder: number; total: number };
  rank: NumberSummary | null;
  alpha: NumberSummary | null;
  baseModel: LoraBaseModel;
  /** why baseModel was chosen */
  baseModelReason: string;
  training: {
    networkDim?: number;
    networkAlpha?: number;
    networkModule?: string;
    baseModelVersion?: string;
    sdModelName?: string;
    outputName?: string;
    trainingComment?: string;
  };
  /** tags of ss_tag_frequency summed over datasets, most frequent first (top 20) */
  tagFrequency: Array<{ tag: string; count: number }>;
  modelspec: {
    title?: string;
    architecture?: string;
    triggerPhrase?: string;
    description?: string;
    author?: string;
    /** every `modelspec.*` key without the prefix */
    all: Record<string, string>;
  };
  sidecar: LoraSidecar | null;
  /** path of a preview image beside the file */
  preview: string | null;
  /** best guess at the words that activate the LoRA: sidecar, then modelspec, then top tags */
  triggerWords: string[];
  hashes: LoraHashes | null;
  metadata: Record<string, string>;
  /** tensors not understood */
  ignoredTensors: number;
  warnings: string[];
}

function summarize(values: number[]): NumberSummary | null {
  if (values.length === 0) return null;
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let common = values[0];
  for (const [v, c] of counts) if (c > (counts.get(common) ?? 0) || (c === counts.get(common) && v > common)) common = v;
  return { min: Math.min(...values), max: Math.max(...values), common };
}

function num(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  return s.trim() !== '' && Number.isFinite(n) ? n : undefined;
}

/** ss_tag_frequency: {"<dataset>": {"<tag>": count}} (sometimes JSON inside a JSON string). */
export function parseTagFrequency(raw: string | undefined): Array<{ tag: string; count: number }> {
  if (!raw) return [];
  let json: unknown;
  try {
    json = JSON.parse(raw);
    if (typeof json === 'string') json = JSON.parse(json);
  } catch {
    return [];
  }
  if (typeof json !== 'object' || json === null) return [];
  const totals = new Map<string, number>();
  for (const dataset of Object.values(json as Record<string, unknown>)) {
    if (typeof dataset !== 'object' || dataset === null) continue;
    for (const [tag, count] of Object.entries(dataset as Record<string, unknown>)) {
      const t = tag.trim();
      if (t && typeof count === 'number' && Number.isFinite(count)) totals.set(t, (totals.get(t) ?? 0) + count);
    }
  }
  return [...totals.entries()]
    .map(([tag, count]) => ({ tag, count }))
    .sort((a, b) => b.count - a.count || (a.tag < b.tag ? -1 : 1))
    .slice(0, 20);
}

/**
 * Trigger words from tags: those in (nearly) every caption. A trigger word is written into each
 * caption of its dataset, so it ties with the most frequent tag; at most 3.
 */
export function triggerWordsFromTags(tags: Array<{ tag: string; count: number }>): string[] {
  if (tags.length === 0) return [];
  const top = tags[0].count;
  return tags.filter((t) => t.count >= 0.9 * top).slice(0, 3).map((t) => t.tag);
}

const splitWords = (s: string | undefined): string[] =>
  (s ?? '')
    .split(',')
    .map((w) => w.trim())
    .filter((w) => w.length > 0);

async function readSidecar(path: string, warnings: string[]): Promise<LoraSidecar | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return null;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    warnings.push(`${basename(path)} is not valid JSON; ignored.`);
    return null;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    warnings.push(`${basename(path)} is not a JSON object; ignored.`);
    return null;
  }
  const o = json as Record<string, unknown>;
  const str = (k: string): string | undefined => (typeof o[k] === 'string' && (o[k] as string).trim() !== '' ? (o[k] as string) : undefined);
  const out: LoraSidecar = {};
  const activation = str('activation text');
  if (activation) out.activationText = activation;
  const w = o['preferred weight'];
  const weight = typeof w === 'number' ? w : typeof w === 'string' ? num(w) : undefined;
  // A1111 writes 0 for "not set"
  if (weight !== undefined && Number.isFinite(weight) && weight !== 0) out.preferredWeight = weight;
  const sd = str('sd version');
  if (sd) out.sdVersion = sd;
  const description = str('description');
  if (description) out.description = description;
  const notes = str('notes');
  if (notes) out.notes = notes;
  const negative = str('negative text');
  if (negative) out.negativeText = negative;
  return out;
}

/** A1111's preview lookup: <name>.<ext> then <name>.preview.<ext>, ext in png, jpg, jpeg, webp. */
async function findPreview(stemPath: string): Promise<string | null> {
  for (const ext of ['png', 'jpg', 'jpeg', 'webp']) {
    for (const candidate of [`${stemPath}.${ext}`, `${stemPath}.preview.${ext}`]) {
      try {
        if ((await stat(candidate)).isFile()) return candidate;
      } catch {
        // not there
      }
    }
  }
  return null;
}

function baseFromWidth(w: number, what: string): { base: LoraBaseModel; reason: string } | undefined {
  if (w === 768) return { base: 'sd1', reason: `${what} takes 768 inputs` };
  if (w === 1024) return { base: 'sd2', reason: `${what} takes 1024 inputs` };
  if (w === 2048 || w === 1280) return { base: 'sdxl', reason: `${what} takes ${w} inputs` };
  // Chord's demo family: text encoder and cross-attention 64 wide, like no public family
  if (w === 64) return { base: 'glyph-sd', reason: `${what} takes 64 inputs, as in Chord's demo model family (models/glyph-sd)` };
  return undefined;
}

function guessBase(groups: KeyGroup[], inputWidth: (g: KeyGroup) => number | undefined, metadata: Record<string, string>): { base: LoraBaseModel; reason: string } {
  const te = groups.find((g) => g.sdxlTextEncoder !== undefined);
  if (te) return { base: 'sdxl', reason: `keys for SDXL's text encoder ${te.sdxlTextEncoder} (${te.stem})` };
  // what was seen but matched no family, for the "unknown" reason
  const seen = new Map<string, string>();
  for (const g of groups) {
    const isContext = g.part === 'unet' && /attn2[._]to_k$/.test(g.name);
    const isText = g.part === 'text_encoder' && /q_proj$/.test(g.name);
    if (!isContext && !isText) continue;
    const w = inputWidth(g);
    const what = isContext ? 'cross-attention' : 'text encoder';
    const r = w === undefined ? undefined : baseFromWidth(w, what);
    if (r) return r;
    if (w !== undefined && !seen.has(what)) seen.set(what, `${what} takes ${w} inputs`);
  }
  const version = (metadata.ss_base_model_version ?? '').toLowerCase();
  if (version.startsWith('sdxl')) return { base: 'sdxl', reason: `ss_base_model_version ${version}` };
  if (version.startsWith('sd_v2') || metadata.ss_v2 === 'True') return { base: 'sd2', reason: 'kohya metadata says SD 2.x' };
  if (version.startsWith('sd_v1')) return { base: 'sd1', reason: `ss_base_model_version ${version}` };
  const arch = (metadata['modelspec.architecture'] ?? '').toLowerCase();
  if (arch.startsWith('stable-diffusion-xl')) return { base: 'sdxl', reason: `modelspec.architecture ${arch}` };
  if (arch.startsWith('stable-diffusion-v2')) return { base: 'sd2', reason: `modelspec.architecture ${arch}` };
  if (arch.startsWith('stable-diffusion-v1')) return { base: 'sd1', reason: `modelspec.architecture ${arch}` };
  // Chord's demo family by name (ss_base_model_version glyph-sd-v1, modelspec.architecture
  // glyph-sd-v1/lora), for a file without cross-attention or text-encoder keys
  const glyph = [version, arch].find((v) => v.startsWith('glyph-sd'));
  if (glyph && seen.size === 0) return { base: 'glyph-sd', reason: `its metadata names ${glyph}, Chord's demo model family (models/glyph-sd)` };
  const named = metadata.ss_base_model_version || metadata['modelspec.architecture'];
  if (named) seen.set('metadata', `its metadata names ${named}`);
  if (seen.size === 0) return { base: 'unknown', reason: 'no cross-attention or text-encoder keys and no base-model metadata' };
  return { base: 'unknown', reason: `${[...seen.values()].join('; ')}: no Stable Diffusion family Chord knows` };
}

export interface InspectOptions {
  /** compute the hashes (reads the whole file once); default true */
  hashes?: boolean;
}

/** Inspect a LoRA file or PEFT folder. Reads the header, the alpha scalars and (optionally) hashes. */
export async function inspectLora(path: string, options: InspectOptions = {}): Promise<LoraInfo> {
  const loc = await locateLora(path);
  const peft: PeftConfig | undefined = loc.peftConfig ? await readPeftConfig(loc.peftConfig) : undefined;
  const warnings: string[] = [];

  const scan = await withSafetensors(loc.file, async (f) => {
    const { groups, ignored } = groupLoraKeys(f.names());
    const metadata = f.metadata;
    const peftByPart = peftConfigsFromMetadata(metadata) ?? {};
    const shape = (name: string | undefined): number[] | undefined => (name ? f.info(name).shape : undefined);
    const algorithms = { lora: 0, locon: 0, loha: 0, lokr: 0, diff: 0, dora: 0 };
    const modules = { unet: 0, text_encoder: 0, total: 0 };
    const ranks: number[] = [];
    const alphas: number[] = [];
    const valid = groups.filter((g) => groupAlgorithm(g) !== 'incomplete');
    for (const g of valid) {
      const alg = groupAlgorithm(g);
      const t = g.tensors;
      modules[g.part]++;
      modules.total++;
      if (t.dora) algorithms.dora++;
      let rank: number | undefined;
      if (alg === 'lora') {
        const down = shape(t.mid) ?? shape(t.down);
        const k = shape(t.mid ?? t.down);
        rank = down?.[0];
        if (k && k.length === 4 && (k[2] > 1 || k[3] > 1)) algorithms.locon++;
        else algorithms.lora++;
      } else if (alg === 'loha') {
        algorithms.loha++;
        rank = shape(t.hada_w1_b)?.[0];
      } else if (alg === 'lokr') {
        algorithms.lokr++;
        rank = shape(t.lokr_w2_b)?.[0] ?? shape(t.lokr_w1_b)?.[0];
      } else algorithms.diff++;
      if (rank !== undefined) ranks.push(rank);
      if (t.alpha) {
        const a = (await f.readFloat32(t.alpha))[0];
        if (Number.isFinite(a)) alphas.push(a);
      } else if (g.dotted && (peftByPart[g.part] ?? peft)) {
        alphas.push(peftModuleScale((peftByPart[g.part] ?? peft) as PeftConfig, g.name).alpha);
      } else if (rank !== undefined && alg === 'lora') {
        alphas.push(rank); // missing alpha means alpha = rank
      }
    }
    const inputWidth = (g: KeyGroup): number | undefined => {
      const t = g.tensors;
      return shape(t.down)?.[1] ?? shape(t.hada_w1_b)?.[1] ?? shape(t.diff)?.[1];
    };
    const base = guessBase(valid, inputWidth, metadata);
    const format: LoraKeyStyle = valid.length > 0 ? mostCommon(valid.map((g) => g.style)) : 'kohya';
    return { metadata, algorithms, modules, ranks, alphas, base, format, ignored: ignored.length };
  });

  const md = scan.metadata;
  const sizeBytes = (await stat(loc.file)).size;
  const hashes = options.hashes === false ? null : await hashLoraFile(loc.file, md.sshs_model_hash);

  const isFolder = loc.file !== path && !path.endsWith('.safetensors');
  const stemPath = isFolder ? path.replace(/[\\/]+$/, '') : join(dirname(path), basename(path, extname(path)));
  const sidecar = await readSidecar(`${stemPath}.json`, warnings);
  const preview = await findPreview(stemPath);

  const modelspecAll: Record<string, string> = {};
  for (const [k, v] of Object.entries(md)) if (k.startsWith('modelspec.')) modelspecAll[k.slice(10)] = v;
  const tagFrequency = parseTagFrequency(md.ss_tag_frequency);

  const trigger = [...splitWords(sidecar?.activationText), ...splitWords(modelspecAll.trigger_phrase)];
  const triggerWords = [...new Set(trigger.length > 0 ? trigger : triggerWordsFromTags(tagFrequency))];

  const training: LoraInfo['training'] = {};
  const nd = num(md.ss_network_dim);
  if (nd !== undefined) training.networkDim = nd;
  const na = num(md.ss_network_alpha);
  if (na !== undefined) training.networkAlpha = na;
  if (md.ss_network_module) training.networkModule = md.ss_network_module;
  if (md.ss_base_model_version) training.baseModelVersion = md.ss_base_model_version;
  if (md.ss_sd_model_name) training.sdModelName = md.ss_sd_model_name;
  if (md.ss_output_name) training.outputName = md.ss_output_name;
  if (md.ss_training_comment && md.ss_training_comment !== 'None') training.trainingComment = md.ss_training_comment;

  const modelspec: LoraInfo['modelspec'] = { all: modelspecAll };
  if (modelspecAll.title) modelspec.title = modelspecAll.title;
  if (modelspecAll.architecture) modelspec.architecture = modelspecAll.architecture;
  if (modelspecAll.trigger_phrase) modelspec.triggerPhrase = modelspecAll.trigger_phrase;
  if (modelspecAll.description) modelspec.description = modelspecAll.description;
  if (modelspecAll.author) modelspec.author = modelspecAll.author;

  const fileStem = isFolder ? basename(stemPath) : basename(path, extname(path));
  return {
    path,
    file: loc.file,
    name: md.ss_output_name || modelspecAll.title || fileStem,
    sizeBytes,
    format: scan.format,
    algorithms: scan.algorithms,
    modules: scan.modules,
    rank: summarize(scan.ranks),
    alpha: summarize(scan.alphas),
    baseModel: scan.base.base,
    baseModelReason: scan.base.reason,
    training,
    tagFrequency,
    modelspec,
    sidecar,
    preview,
    triggerWords,
    hashes,
    metadata: md,
    ignoredTensors: scan.ignored,
    warnings,
  };
}

function mostCommon<T>(values: T[]): T {
  const counts = new Map<T, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best = values[0];
  for (const [v, c] of counts) if (c > (counts.get(best) ?? 0)) best = v;
  return best;
}
