/**
 * The `chord` record of a generated image (png/record.ts): everything needed to make it again.
 */
import type { ChordImageRecord, ChordRegionRecord, ChordStepRecord } from '../png/record';
import { CHORD_RECORD_VERSION } from '../png/record';
import type { CompositionMethod } from './composition';
import type { StepLog } from './txt2img';
import { type GenerationSettings, samplerRecord } from './settings';

/**
 * Version of the engine written into every image (noise generator, schedules and the graphs the
 * methods run included): `--from` warns when an image was made by another one
 * (docs/image-metadata.md lists what each changed).
 */
export const ENGINE_VERSION = '0.2.3';

export interface RecordLora {
  name: string;
  fileHash: string;
  /** A1111's short hash of the file (lora/hash.ts a1111ShortHash) */
  a1111Hash: string;
  weight: number;
  /** regional composition: the region this LoRA is bound to */
  region?: ChordRegionRecord;
  /** text-encoder weight, when a `<lora:name:w_te:w_unet>` tag made it differ from `weight` */
  textEncoderWeight?: number;
  /** given by a `<lora:...>` tag in the prompt */
  promptTag?: boolean;
}

export interface RecordEmbedding {
  name: string;
  /** sha256 of the file */
  fileHash: string;
}

export function imageRecord(
  settings: GenerationSettings,
  model: { name: string; hash: string },
  loras: readonly RecordLora[],
  method: CompositionMethod,
  batchIndex: number,
  ordering: { rule: string; highFrequency?: number[] } = { rule: 'as-listed' },
  stepLog?: readonly StepLog[],
  embeddings: readonly RecordEmbedding[] = [],
  regions?: readonly ChordRegionRecord[],
): ChordImageRecord {
  const { sampler, karras } = samplerRecord(settings.sampler);
  return {
    version: CHORD_RECORD_VERSION,
    engineVersion: ENGINE_VERSION,
    prompt: settings.prompt,
    negativePrompt: settings.negativePrompt,
    model,
    loras: loras.map((l) => ({
      name: l.name,
      fileHash: l.fileHash,
      a1111Hash: l.a1111Hash,
      weight: l.weight,
      ...(l.textEncoderWeight !== undefined ? { textEncoderWeight: l.textEncoderWeight } : {}),
      ...(l.promptTag ? { promptTag: true } : {}),
      ...(l.region ? { region: l.region } : {}),
    })),
    ...(embeddings.length > 0 ? { embeddings: embeddings.map((e) => ({ name: e.name, fileHash: e.fileHash })) } : {}),
    method: method.name,
    methodOptions: { ...method.options },
    ordering: { rule: ordering.rule, order: [...method.order], ...(ordering.highFrequency ? { highFrequency: ordering.highFrequency } : {}) },
    sampler,
    karras,
    steps: settings.steps,
    cfg: settings.cfg,
    seed: settings.seed,
    width: settings.width,
    height: settings.height,
    batchIndex,
    ...(stepLog ? { stepLog: stepLog.map(stepRecord) } : {}),
    ...(regions && regions.length > 0 ? { regions: regions.map((r) => ({ ...r, box: [...r.box] as ChordRegionRecord['box'] })) } : {}),
  };
}

function stepRecord(s: StepLog): ChordStepRecord {
  return { active: [...s.active], ...(s.dominant === undefined ? {} : { dominant: s.dominant }), refreshed: [...s.refreshed], full: s.full, shallow: s.shallow };
}
