/**
 * Reading a LoRA file (or a PEFT adapter folder) into per-module entries with their tensors as
 * Float32Array. Entries keep the file's module names; `mapLoraToTargets` resolves them against a
 * model's layers. Only tensors of recognised modules are read.
 */
import { stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { ChordError } from '../errors';
import { isFile } from '../fsutil';
import { withSafetensors } from '../safetensors/reader';
import { firstNonFinite, nonFiniteName } from '../tensor';
import { groupAlgorithm, groupLoraKeys, type IgnoredKey, type KeyGroup, type LoraKeyStyle, type ModuleKey, type TensorRole } from './keys';
import type { TensorData } from './lycoris';
import { peftConfigsFromMetadata, peftModuleScale, readPeftConfig, type PeftConfig } from './peft';
import type { ModelPart } from './types';

export type { TensorData } from './lycoris';

export interface LoraEntry extends ModuleKey {
  algorithm: 'lora' | 'loha' | 'lokr' | 'diff';
  /** tensor names in the file */
  keys: string[];
  tensors: Partial<Record<TensorRole, TensorData>>;
  /** from `.alpha` or a PEFT config; absent = rank (scale 1) */
  alpha?: number;
  /** PEFT: the rank the scale divides by (rank_pattern / r), when a config gave one */
  scaleRank?: number;
  /** PEFT use_rslora: scale = alpha / sqrt(rank) */
  rsLora?: boolean;
}

export interface ParsedLora {
  /** the file that was read (for messages) */
  source: string;
  /** the naming style of most modules */
  format: LoraKeyStyle;
  entries: LoraEntry[];
  ignored: IgnoredKey[];
  metadata: Record<string, string>;
}

export interface ParseOptions {
  source?: string;
  metadata?: Record<string, string>;
  /** a PEFT adapter_config.json's settings, applied to modules without `.alpha` */
  peft?: PeftConfig;
}

function invalid(source: string, what: string): ChordError {
  return new ChordError('LORA_INVALID', `${basename(source)}: ${what}.`, 'The file is damaged or incomplete; re-download or re-export it.');
}

/**
 * A tensor holding NaN or infinity (a diverged training run, a broken conversion) would turn every
 * image black; refuse the file and name the first such tensor, in the order the file is read.
 */
function nonFinite(source: string, name: string, data: ArrayLike<number>, index: number): ChordError {
  return new ChordError(
    'LORA_INVALID',
    `${basename(source)}: tensor ${name} holds ${nonFiniteName(data[index])} (value ${index + 1} of ${data.length}); Chord does not load LoRAs with NaN or infinite weights.`,
    'The LoRA is broken (its training diverged or the file was damaged); use another checkpoint of it or re-export it.',
  );
}

function dominantStyle(groups: KeyGroup[]): LoraKeyStyle {
  const counts = new Map<LoraKeyStyle, number>();
  for (const g of groups) counts.set(g.style, (counts.get(g.style) ?? 0) + 1);
  let best: LoraKeyStyle = 'kohya';
  let n = -1;
  for (const [style, c] of counts) if (c > n) [best, n] = [style, c];
  return best;
}

const REQUIRED: Record<'lora' | 'loha' | 'diff', TensorRole[]> = {
  lora: ['down', 'up'],
  loha: ['hada_w1_a', 'hada_w1_b', 'hada_w2_a', 'hada_w2_b'],
  diff: ['diff'],
};

/** Build entries from grouped keys and their tensors (pure; `tensorOf` returns loaded data). */
function buildEntries(
  groups: KeyGroup[],
  tensorOf: (name: string) => TensorData,
  source: string,
  metadata: Record<string, string>,
  peft: PeftConfig | undefined,
  ignored: IgnoredKey[],
): LoraEntry[] {
  const peftByPart: Partial<Record<ModelPart, PeftConfig>> = peftConfigsFromMetadata(metadata) ?? {};
  const entries: LoraEntry[] = [];
  for (const g of groups) {
    const algorithm = groupAlgorithm(g);
    if (algorithm === 'incomplete') {
      for (const key of Object.values(g.tensors)) if (key) ignored.push({ key, reason: 'alpha or DoRA scale without weights' });
      continue;
    }
    if (algorithm === 'lokr') {
      const t = g.tensors;
      if (!(t.lokr_w1 || (t.lokr_w1_a && t.lokr_w1_b)) || !(t.lokr_w2 || (t.lokr_w2_a && t.lokr_w2_b))) {
        throw invalid(source, `LoKr module ${g.stem} is missing lokr_w1/lokr_w2 (or their _a/_b factors)`);
      }
    } else {
      for (const role of REQUIRED[algorithm]) {
        if (g.tensors[role] === undefined) {
          const have = Object.keys(g.tensors).join(', ');
          throw invalid(source, `module ${g.stem} has ${have} but no ${role} tensor`);
        }
      }
    }
    if (algorithm === 'lora' && (g.tensors.hada_w1_a || g.tensors.diff)) throw invalid(source, `module ${g.stem} mixes LoRA kinds`);

    const tensors: Partial<Record<TensorRole, TensorData>> = {};
    const keys: string[] = [];
    let alpha: number | undefined;
    for (const [role, name] of Object.entries(g.tensors) as Array<[TensorRole, string]>) {
      const t = tensorOf(name);
      keys.push(name);
      const bad = firstNonFinite(t.data);
      if (bad >= 0) throw nonFinite(source, name, t.data, bad);
      if (role === 'alpha') {
        if (t.data.length !== 1 || !Number.isFinite(t.data[0])) throw invalid(source, `${name} must be a single finite number`);
        alpha = t.data[0];
        continue;
      }
      tensors[role] = t;
    }
    const entry: LoraEntry = {
      stem: g.stem,
      part: g.part,
      name: g.name,
      dotted: g.dotted,
      style: g.style,
      algorithm,
      keys,
      tensors,
    };
    if (g.sdxlTextEncoder) entry.sdxlTextEncoder = g.sdxlTextEncoder;
    if (g.foreign) entry.foreign = g.foreign;
    if (alpha !== undefined) entry.alpha = alpha;
    else if (g.dotted) {
      const cfg = peftByPart[g.part] ?? peft;
      if (cfg) {
        const s = peftModuleScale(cfg, g.name);
        entry.alpha = s.alpha;
        entry.scaleRank = s.scaleRank;
        if (s.rsLora) entry.rsLora = true;
      }
    }
    entries.push(entry);
  }
  return entries;
}

/** Parse tensors already in memory (tests, converters). */
export function parseLoraTensors(
  tensors: Map<string, TensorData> | Record<string, TensorData>,
  options: ParseOptions = {},
): ParsedLora {
  const map = tensors instanceof Map ? tensors : new Map(Object.entries(tensors));
  const source = options.source ?? 'LoRA';
  const metadata = options.metadata ?? {};
  const { groups, ignored } = groupLoraKeys(map.keys());
  const entries = buildEntries(groups, (name) => map.get(name) as TensorData, source, metadata, options.peft, ignored);
  return finish(source, groups, entries, ignored, metadata);
}

function finish(source: string, groups: KeyGroup[], entries: LoraEntry[], ignored: IgnoredKey[], metadata: Record<string, string>): ParsedLora {
  if (entries.length === 0) {
    const reasons = [...new Set(ignored.map((i) => i.reason))].slice(0, 3).join('; ');
    throw new ChordError(
      'LORA_INVALID',
      `${basename(source)} holds no LoRA weights Chord can read${reasons ? ` (${reasons})` : ''}.`,
      'Supported: kohya LoRA/LoCon, LyCORIS LoHa/LoKr/DoRA/full, diffusers and PEFT LoRA.',
    );
  }
  return { source, format: dominantStyle(groups.filter((g) => groupAlgorithm(g) !== 'incomplete')), entries, ignored, metadata };
}

export interface LoraLocation {
  /** the safetensors file to read */
  file: string;
  /** adapter_config.json of a PEFT adapter, when there is one */
  peftConfig?: string;
}

/**
 * A LoRA is a .safetensors file, or a PEFT/diffusers folder (given as the folder or as the
 * weights file inside it) with `adapter_model.safetensors` + `adapter_config.json` or
 * `pytorch_lora_weights.safetensors`.
 */
export async function locateLora(path: string): Promise<LoraLocation> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new ChordError('FILE_NOT_FOUND', `LoRA not found: ${path}.`, 'Check the path.');
  }
  if (st.isDirectory()) {
    for (const name of ['adapter_model.safetensors', 'pytorch_lora_weights.safetensors']) {
      const file = join(path, name);
      if (await isFile(file)) {
        const cfg = join(path, 'adapter_config.json');
        return (await isFile(cfg)) ? { file, peftConfig: cfg } : { file };
      }
    }
    for (const name of ['adapter_model.bin', 'pytorch_lora_weights.bin']) {
      if (await isFile(join(path, name))) {
        throw new ChordError('LORA_INVALID', `${path} holds ${name}, a pickle file Chord does not load.`, 'Convert it to .safetensors first.');
      }
    }
    throw new ChordError('LORA_INVALID', `${path} is a folder without adapter_model.safetensors or pytorch_lora_weights.safetensors.`, 'Pick the LoRA file itself.');
  }
  const ext = extname(path).toLowerCase();
  if (ext === '.bin' || ext === '.pt' || ext === '.ckpt' || ext === '.pth') {
    throw new ChordError('LORA_INVALID', `${basename(path)} is a pickle file; Chord only loads .safetensors (pickles can run code).`, 'Convert it to .safetensors first.');
  }
  const cfg = join(dirname(path), 'adapter_config.json');
  if (basename(path) === 'adapter_model.safetensors' && (await isFile(cfg))) return { file: path, peftConfig: cfg };
  return { file: path };
}

/** Read a LoRA file or PEFT folder: header, the tensors of recognised modules, PEFT settings. */
export async function readLoraFile(path: string): Promise<ParsedLora> {
  const loc = await locateLora(path);
  const peft = loc.peftConfig ? await readPeftConfig(loc.peftConfig) : undefined;
  return withSafetensors(loc.file, async (file) => {
    const { groups, ignored } = groupLoraKeys(file.names());
    const loaded = new Map<string, TensorData>();
    for (const g of groups) {
      if (groupAlgorithm(g) === 'incomplete') continue;
      for (const name of Object.values(g.tensors)) {
        if (name) loaded.set(name, { data: await file.readFloat32(name), shape: file.info(name).shape });
      }
    }
    const entries = buildEntries(groups, (name) => loaded.get(name) as TensorData, loc.file, file.metadata, peft, ignored);
    return finish(loc.file, groups, entries, ignored, file.metadata);
  });
}
