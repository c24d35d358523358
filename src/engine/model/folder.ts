/**
 * A model folder in the diffusers ONNX layout, checked up front: everything a generation will need
 * is looked for before any session is created, and a problem is reported as one MODEL_INVALID
 * naming exactly what is missing or wrong (instead of failing minutes later inside ONNX Runtime).
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { ChordError } from '../errors';

/** The graphs a text-to-image generation runs. */
export type GraphName = 'text_encoder' | 'unet' | 'vae_decoder';

export const GRAPH_NAMES: readonly GraphName[] = ['text_encoder', 'unet', 'vae_decoder'];

/** SD 1.x/2.x values, used when a folder's config.json does not say. */
export const SD_DEFAULTS = Object.freeze({
  /** diffusers' AutoencoderKL scaling_factor for SD 1.x */
  latentScale: 0.18215,
  /** VAE pixels per latent pixel (three 2x down-samplings) */
  downscale: 8,
  /** UNet latent size the model was trained at (64 x 8 = 512 px) */
  sampleSize: 64,
  latentChannels: 4,
  /** UNet resolution levels: the latent must be divisible by 2^(levels - 1) */
  unetLevels: 4,
});

export interface ModelFolder {
  /** absolute path */
  dir: string;
  /** folder name, or model_index.json's `_chord_model` when set */
  name: string;
  graphs: Record<GraphName, string>;
  /** vae_encoder/model.onnx when present (image-to-image, later) */
  vaeEncoder?: string;
  tokenizerFormat: 'tokenizer.json' | 'clip-bpe';
  /** latents are multiplied by this after encoding and divided by it before decoding */
  latentScale: number;
  /** image pixels per latent pixel */
  downscale: number;
  latentChannels: number;
  /** default image size in pixels (UNet sample_size x downscale) */
  defaultWidth: number;
  defaultHeight: number;
  /** image sides must be multiples of this (downscale x 2^(UNet levels - 1)) */
  sizeMultiple: number;
}

const LAYOUT_HINT = 'Choose a model folder in the diffusers ONNX layout (model_index.json, text_encoder/, unet/, vae_decoder/, tokenizer/, scheduler/).';

async function kind(path: string): Promise<'file' | 'dir' | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? 'file' : s.isDirectory() ? 'dir' : undefined;
  } catch {
    return undefined;
  }
}

type JsonObject = Record<string, unknown>;

/** A JSON object from a file, or undefined when the file is absent; broken files are errors. */
async function readJsonObject(path: string, label: string): Promise<JsonObject | undefined> {
  if ((await kind(path)) !== 'file') return undefined;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ChordError('MODEL_INVALID', `Cannot read ${label} (${(e as NodeJS.ErrnoException).code ?? 'read error'}).`, 'Check the file permissions.', { cause: e });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ChordError('MODEL_INVALID', `${label} is not valid JSON.`, 'Replace it with the file that came with the model.', { cause: e });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ChordError('MODEL_INVALID', `${label} must hold a JSON object.`, 'Replace it with the file that came with the model.');
  }
  return value as JsonObject;
}

function positiveNumber(config: JsonObject | undefined, key: string, label: string, integer: boolean): number | undefined {
  const v = config?.[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new ChordError('MODEL_INVALID', `${label}: ${key} must be a positive ${integer ? 'whole number' : 'number'} (got ${JSON.stringify(v)}).`, 'Fix that value or re-export the model.');
  }
  return v;
}

function listLength(config: JsonObject | undefined, key: string): number | undefined {
  const v = config?.[key];
  return Array.isArray(v) && v.length > 0 ? v.length : undefined;
}

/**
 * Checks a model folder and reads its sizes. Throws FILE_NOT_FOUND when the folder does not exist
 * and MODEL_INVALID listing every missing file (or the first unreadable config) otherwise.
 * Only the files are checked here; graphs are opened later (see session.ts).
 */
export async function inspectModelFolder(modelDir: string): Promise<ModelFolder> {
  const dir = resolve(modelDir);
  const where = basename(dir) || dir;
  const k = await kind(dir);
  if (k === undefined) throw new ChordError('FILE_NOT_FOUND', `Model folder not found: ${modelDir}.`, LAYOUT_HINT);
  if (k !== 'dir') throw new ChordError('MODEL_INVALID', `${modelDir} is a file, not a model folder.`, LAYOUT_HINT);

  const missing: string[] = [];
  const index = await readJsonObject(join(dir, 'model_index.json'), `${where}/model_index.json`);
  if (!index) missing.push('model_index.json');
  const graphs = {} as Record<GraphName, string>;
  for (const g of GRAPH_NAMES) {
    graphs[g] = join(dir, g, 'model.onnx');
    if ((await kind(graphs[g])) !== 'file') missing.push(`${g}/model.onnx`);
  }
  let tokenizerFormat: ModelFolder['tokenizerFormat'] = 'tokenizer.json';
  if ((await kind(join(dir, 'tokenizer', 'tokenizer.json'))) !== 'file') {
    tokenizerFormat = 'clip-bpe';
    const absent: string[] = [];
    for (const f of ['vocab.json', 'merges.txt']) if ((await kind(join(dir, 'tokenizer', f))) !== 'file') absent.push(f);
    // with one CLIP file present the user clearly meant the CLIP format: name what it lacks
    if (absent.length === 2) missing.push('tokenizer/tokenizer.json (or tokenizer/vocab.json + tokenizer/merges.txt)');
    else if (absent.length === 1) missing.push(`tokenizer/${absent[0]}`);
  }
  if ((await kind(join(dir, 'scheduler', 'scheduler_config.json'))) !== 'file') missing.push('scheduler/scheduler_config.json');
  if (missing.length > 0) {
    throw new ChordError('MODEL_INVALID', `${where} is not a complete model folder: missing ${missing.join(', ')}.`, LAYOUT_HINT);
  }

  const unetConfig = await readJsonObject(join(dir, 'unet', 'config.json'), `${where}/unet/config.json`);
  const vaeConfig = await readJsonObject(join(dir, 'vae_decoder', 'config.json'), `${where}/vae_decoder/config.json`);
  const vaeLabel = `${where}/vae_decoder/config.json`;
  const unetLabel = `${where}/unet/config.json`;

  const vaeLevels = listLength(vaeConfig, 'block_out_channels');
  const downscale =
    positiveNumber(vaeConfig, 'downscale_factor', vaeLabel, true) ?? (vaeLevels !== undefined ? 2 ** (vaeLevels - 1) : SD_DEFAULTS.downscale);
  const latentScale = positiveNumber(vaeConfig, 'scaling_factor', vaeLabel, false) ?? SD_DEFAULTS.latentScale;
  const latentChannels =
    positiveNumber(unetConfig, 'in_channels', unetLabel, true) ??
    positiveNumber(vaeConfig, 'latent_channels', vaeLabel, true) ??
    SD_DEFAULTS.latentChannels;
  const sampleSize = positiveNumber(unetConfig, 'sample_size', unetLabel, true) ?? SD_DEFAULTS.sampleSize;
  const unetLevels = listLength(unetConfig, 'down_block_types') ?? listLength(unetConfig, 'block_out_channels') ?? SD_DEFAULTS.unetLevels;

  const vaeEncoder = join(dir, 'vae_encoder', 'model.onnx');
  const chordName = index?._chord_model;
  return {
    dir,
    name: typeof chordName === 'string' && chordName.length > 0 ? chordName : where,
    graphs,
    vaeEncoder: (await kind(vaeEncoder)) === 'file' ? vaeEncoder : undefined,
    tokenizerFormat,
    latentScale,
    downscale,
    latentChannels,
    defaultWidth: sampleSize * downscale,
    defaultHeight: sampleSize * downscale,
    // the exported UNet halves the latent (levels - 1) times and concatenates skips on the way up,
    // so a side that does not divide evenly fails deep inside ONNX Runtime: say it up front
    sizeMultiple: downscale * 2 ** (unetLevels - 1),
  };
}
