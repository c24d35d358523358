/**
 * PEFT adapter settings: `adapter_config.json` beside `adapter_model.safetensors`, or the same
 * settings that diffusers stores in the safetensors metadata under `lora_adapter_metadata`
 * (keys prefixed per component: `unet.r`, `text_encoder.lora_alpha`, ...).
 * PEFT scales a module by lora_alpha / r (or lora_alpha / sqrt(r) with use_rslora), where r and
 * lora_alpha may be overridden per module by `rank_pattern` / `alpha_pattern`.
 */
import { readFile } from 'node:fs/promises';
import { ChordError } from '../errors';
import type { ModelPart } from './types';

export interface PeftConfig {
  r: number;
  loraAlpha: number;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
  useRsLora: boolean;
  useDora: boolean;
  baseModel?: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function numberMap(v: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (!isRecord(v)) return out;
  for (const [k, x] of Object.entries(v)) if (typeof x === 'number' && Number.isFinite(x)) out[k] = x;
  return out;
}

/** Read PEFT LoraConfig fields from parsed JSON (defaults as in PEFT: r = 8, lora_alpha = 8). */
export function parsePeftConfig(json: unknown, source: string): PeftConfig {
  if (!isRecord(json)) throw new ChordError('LORA_INVALID', `${source} is not a JSON object.`, 'Re-export the PEFT adapter.');
  const num = (v: unknown, fallback: number): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : fallback);
  const r = num(json.r, 8);
  const cfg: PeftConfig = {
    r,
    loraAlpha: num(json.lora_alpha, 8),
    rankPattern: numberMap(json.rank_pattern),
    alphaPattern: numberMap(json.alpha_pattern),
    useRsLora: json.use_rslora === true,
    useDora: json.use_dora === true,
  };
  if (typeof json.base_model_name_or_path === 'string') cfg.baseModel = json.base_model_name_or_path;
  return cfg;
}

export async function readPeftConfig(path: string): Promise<PeftConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new ChordError('LORA_INVALID', `Could not read ${path}.`, 'Check that the adapter folder is complete.');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ChordError('LORA_INVALID', `${path} is not valid JSON.`, 'Re-export the PEFT adapter.');
  }
  return parsePeftConfig(json, path);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The value of the first pattern key that names `moduleName`. PEFT matches a key against the end of
 * the module name at a dot boundary (`(.*\.)?key$`), with the key as a regular expression.
 */
export function patternValue(patterns: Record<string, number>, moduleName: string): number | undefined {
  for (const [key, value] of Object.entries(patterns)) {
    if (moduleName === key || moduleName.endsWith(`.${key}`)) return value;
  }
  for (const [key, value] of Object.entries(patterns)) {
    let re: RegExp;
    try {
      re = new RegExp(`^(?:.*\\.)?(?:${key})$`);
    } catch {
      re = new RegExp(`^(?:.*\\.)?${escapeRegExp(key)}$`);
    }
    if (re.test(moduleName)) return value;
  }
  return undefined;
}

/** Alpha and the rank PEFT divides by, for one module. */
export function peftModuleScale(cfg: PeftConfig, moduleName: string): { alpha: number; scaleRank: number; rsLora: boolean } {
  return {
    alpha: patternValue(cfg.alphaPattern, moduleName) ?? cfg.loraAlpha,
    scaleRank: patternValue(cfg.rankPattern, moduleName) ?? cfg.r,
    rsLora: cfg.useRsLora,
  };
}

/**
 * diffusers (>= 0.34) writes the LoraConfig of each component into the safetensors metadata as
 * JSON under `lora_adapter_metadata`, keys prefixed with the component (`unet.r`). Returns the
 * config per part, or undefined when the metadata is absent or unreadable.
 */
export function peftConfigsFromMetadata(metadata: Record<string, string>): Partial<Record<ModelPart, PeftConfig>> | undefined {
  const raw = metadata.lora_adapter_metadata;
  if (raw === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!isRecord(json)) return undefined;
  const out: Partial<Record<ModelPart, PeftConfig>> = {};
  const prefixes: ReadonlyArray<readonly [string, ModelPart]> = [
    ['unet.', 'unet'],
    ['text_encoder.', 'text_encoder'],
  ];
  for (const [prefix, part] of prefixes) {
    const sub: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(json)) if (k.startsWith(prefix)) sub[k.slice(prefix.length)] = v;
    if (Object.keys(sub).length > 0) out[part] = parsePeftConfig(sub, 'lora_adapter_metadata');
  }
  if (Object.keys(out).length === 0 && ('r' in json || 'lora_alpha' in json)) {
    const cfg = parsePeftConfig(json, 'lora_adapter_metadata');
    out.unet = cfg;
    out.text_encoder = cfg;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
