/**
 * The settings of one text-to-image generation, checked and completed with defaults before any
 * work starts, so a wrong value fails at once with a message naming it.
 */
import { randomInt } from 'node:crypto';
import { ChordError } from '../errors';
import type { ModelFolder } from '../model/folder';
import { wholeNumber } from '../numbers';
import { isSamplerName, SAMPLER_NAMES, type SamplerName } from '../schedulers';
import { checkSeed } from '../schedulers/noise';

export interface GenerationSettings {
  prompt: string;
  negativePrompt: string;
  steps: number;
  /** classifier-free guidance scale */
  cfg: number;
  sampler: SamplerName;
  seed: number;
  width: number;
  height: number;
}

/** What a caller may leave out. */
export interface SettingsInput {
  prompt: string;
  negativePrompt?: string;
  steps?: number;
  cfg?: number;
  /** 'euler_a' | 'euler' | 'ddim' | 'dpmpp_2m' | 'lcm' (hyphens accepted) */
  sampler?: string;
  /** Karras sigmas (with dpmpp_2m) */
  karras?: boolean;
  /** default: a random seed, reported back */
  seed?: number;
  width?: number;
  height?: number;
}

export const DEFAULT_STEPS = 20;
export const DEFAULT_CFG = 7;
export const DEFAULT_SAMPLER = 'euler_a';
export const MAX_STEPS = 1000;
const MAX_SIDE = 4096;

/** User-facing sampler names (`dpmpp_2m_karras` is `dpmpp_2m` + `--karras`). */
export const SAMPLER_CHOICES = SAMPLER_NAMES.filter((n) => n !== 'dpmpp_2m_karras');

export function resolveSampler(name: string, karras: boolean): SamplerName {
  const n = name.trim().toLowerCase().replaceAll('-', '_');
  if (!isSamplerName(n)) {
    throw new ChordError('BAD_ARGUMENT', `Unknown sampler "${name}".`, `Choose one of: ${SAMPLER_CHOICES.join(', ')}.`);
  }
  if (!karras) return n;
  if (n === 'dpmpp_2m' || n === 'dpmpp_2m_karras') return 'dpmpp_2m_karras';
  throw new ChordError('BAD_ARGUMENT', `Karras sigmas are available with dpmpp_2m only (not ${n}).`, 'Drop --karras or use --sampler dpmpp_2m.');
}

/** How an image record names a sampler: Chord id with hyphens, plus the Karras flag. */
export function samplerRecord(sampler: SamplerName): { sampler: string; karras: boolean } {
  const karras = sampler === 'dpmpp_2m_karras';
  const base = karras ? 'dpmpp_2m' : sampler;
  return { sampler: base.replaceAll('_', '-'), karras };
}

function side(value: number | undefined, fallback: number, name: string, folder: ModelFolder): number {
  const v = wholeNumber(value ?? fallback, name, folder.sizeMultiple, MAX_SIDE);
  if (v % folder.sizeMultiple !== 0) {
    const lower = Math.max(folder.sizeMultiple, v - (v % folder.sizeMultiple));
    throw new ChordError('BAD_ARGUMENT', `${name} must be a multiple of ${folder.sizeMultiple} for this model (got ${v}).`, `Try ${lower} or ${lower + folder.sizeMultiple}.`);
  }
  return v;
}

export function resolveSettings(input: SettingsInput, folder: ModelFolder): GenerationSettings {
  if (typeof input.prompt !== 'string') throw new ChordError('BAD_ARGUMENT', 'A prompt is required.');
  const cfg = input.cfg ?? DEFAULT_CFG;
  if (!Number.isFinite(cfg) || cfg < 0 || cfg > 100) {
    throw new ChordError('BAD_ARGUMENT', `The guidance scale (cfg) must be a number from 0 to 100 (got ${cfg}).`);
  }
  const seed = input.seed ?? randomInt(0, 2 ** 32);
  checkSeed(seed);
  return {
    prompt: input.prompt,
    negativePrompt: input.negativePrompt ?? '',
    steps: wholeNumber(input.steps ?? DEFAULT_STEPS, 'Steps', 1, MAX_STEPS),
    cfg,
    sampler: resolveSampler(input.sampler ?? DEFAULT_SAMPLER, input.karras ?? false),
    seed,
    width: side(input.width, folder.defaultWidth, 'Width', folder),
    height: side(input.height, folder.defaultHeight, 'Height', folder),
  };
}
