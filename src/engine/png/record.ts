/**
 * The `chord` record: everything needed to make the same image again, stored as UTF-8 JSON in an
 * iTXt chunk of every PNG Chord writes. The A1111 `parameters` text is a lossy summary for other
 * tools; this record is the source of truth. Bump CHORD_RECORD_VERSION when a field changes
 * meaning; readers reject versions they do not know instead of guessing.
 */
import * as v from 'valibot';
import { ChordError } from '../errors';
import { METHOD_NAMES } from '../pipeline/methods';

export const CHORD_RECORD_VERSION = 1;

/** LoRA roles from the composition papers; Switch's default order follows this list. */
export const LORA_CATEGORIES = ['character', 'clothing', 'style', 'background', 'object'] as const;
export type LoraCategory = (typeof LORA_CATEGORIES)[number];

/** A name from the composition-method registry (pipeline/methods.ts). */
export type CompositionMethod = string;

export interface ChordRegionRecord {
  /** [x0, y0, x1, y1] as fractions of the image width/height, 0 <= x0 < x1 <= 1 */
  box: [number, number, number, number];
  prompt: string;
  negativePrompt: string;
}

export interface ChordLoraRecord {
  /** display name (file name without extension unless the user renamed it) */
  name: string;
  /** sha256 of the whole LoRA file, 64 lower-case hex */
  fileHash: string;
  /**
   * what A1111 writes for this LoRA in "Lora hashes": the file's `sshs_model_hash` or the sha256
   * of its data after the header, first 12 lower-case hex (lora/hash.ts a1111ShortHash). Absent in
   * records written before the field existed (Chord 0.1.0).
   */
  a1111Hash?: string;
  /** user weight (the file's alpha/rank scale is applied on top) */
  weight: number;
  /** text-encoder weight when it differs from `weight` (`<lora:name:w_te:w_unet>`); absent: `weight` */
  textEncoderWeight?: number;
  /** given by a `<lora:...>` tag that is in `prompt` as typed (so the A1111 text adds no tag for it) */
  promptTag?: boolean;
  category?: LoraCategory;
  /** regional composition: the box and prompt this LoRA is bound to */
  region?: ChordRegionRecord;
}

export interface ChordEmbeddingRecord {
  /** the name the prompt used (file name without extension) */
  name: string;
  /** sha256 of the file, 64 lower-case hex; A1111's "TI hashes" shows the first 12 */
  fileHash: string;
}

export interface ChordOrderingRecord {
  /** how the order was chosen, e.g. 'as-listed', 'category', 'frequency', 'frequency-reversed' */
  rule: string;
  /** indices into `loras` in the order the method used them (authoritative, whatever the rule) */
  order: number[];
  /** CMLoRA: indices of the high-frequency set H (the rest is L) */
  highFrequency?: number[];
}

/** One denoising step as the composition method ran it (indices into `loras`). */
export interface ChordStepRecord {
  active: number[];
  dominant?: number;
  refreshed: number[];
  /** UNet evaluations of one CFG row pair */
  full: number;
  shallow: number;
}

export interface ChordImageRecord {
  version: typeof CHORD_RECORD_VERSION;
  /** version of the Chord engine that made the image (noise generator and schedules included) */
  engineVersion: string;
  prompt: string;
  negativePrompt: string;
  /** `hash`: modelHash() of the model folder, 64 lower-case hex (A1111's "Model hash" shows 10) */
  model: { name: string; hash: string };
  loras: ChordLoraRecord[];
  /** textual-inversion embeddings the prompts used; absent when none (and in older records) */
  embeddings?: ChordEmbeddingRecord[];
  method: CompositionMethod;
  /** method settings as used, e.g. { tau: 5 } for switch, { c1: 2, c2: 3 } for cmlora */
  methodOptions: Record<string, number | string | boolean>;
  ordering: ChordOrderingRecord;
  /** Chord sampler id, e.g. 'euler-a', 'dpmpp-2m', 'ddim', 'lcm' */
  sampler: string;
  /** Karras sigmas instead of the model's own timestep spacing */
  karras: boolean;
  steps: number;
  cfg: number;
  /** the seed this image's noise came from (already offset for its place in the batch) */
  seed: number;
  width: number;
  height: number;
  /** place of the image in its batch, 0-based */
  batchIndex: number;
  /** what the method did at each step (methods other than merge) */
  stepLog?: ChordStepRecord[];
}

const sha256Hex = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, 'must be a sha256 in 64 lower-case hex digits'));
const finiteNumber = v.pipe(v.number(), v.finite());
const count = (min: number) => v.pipe(v.number(), v.safeInteger(), v.minValue(min));
const fraction = v.pipe(v.number(), v.minValue(0), v.maxValue(1));

const RegionSchema = v.pipe(
  v.object({
    box: v.tuple([fraction, fraction, fraction, fraction]),
    prompt: v.string(),
    negativePrompt: v.string(),
  }),
  v.check(({ box: [x0, y0, x1, y1] }) => x0 < x1 && y0 < y1, 'region box must have x0 < x1 and y0 < y1'),
);

const LoraSchema = v.object({
  name: v.pipe(v.string(), v.minLength(1)),
  fileHash: sha256Hex,
  a1111Hash: v.optional(v.pipe(v.string(), v.regex(/^[0-9a-f]{12}$/, 'must be 12 lower-case hex digits'))),
  weight: finiteNumber,
  textEncoderWeight: v.optional(finiteNumber),
  promptTag: v.optional(v.boolean()),
  category: v.optional(v.picklist(LORA_CATEGORIES)),
  region: v.optional(RegionSchema),
});

function isPermutation(order: number[], n: number): boolean {
  return order.length === n && new Set(order).size === n && order.every((i) => i < n);
}

/** Validates a parsed record. Typed against the interface so the two cannot drift apart. */
export const ChordImageRecordSchema: v.GenericSchema<ChordImageRecord> = v.pipe(
  v.object({
    version: v.literal(CHORD_RECORD_VERSION),
    engineVersion: v.pipe(v.string(), v.minLength(1)),
    prompt: v.string(),
    negativePrompt: v.string(),
    model: v.object({ name: v.pipe(v.string(), v.minLength(1)), hash: sha256Hex }),
    loras: v.array(LoraSchema),
    embeddings: v.optional(v.array(v.object({ name: v.pipe(v.string(), v.minLength(1)), fileHash: sha256Hex }))),
    method: v.picklist([...METHOD_NAMES], `must be one of ${METHOD_NAMES.join(', ')}`),
    methodOptions: v.record(v.string(), v.union([finiteNumber, v.string(), v.boolean()])),
    ordering: v.object({
      rule: v.string(),
      order: v.array(count(0)),
      highFrequency: v.optional(v.array(count(0))),
    }),
    sampler: v.pipe(v.string(), v.minLength(1)),
    karras: v.boolean(),
    steps: count(1),
    cfg: finiteNumber,
    seed: count(0),
    width: count(1),
    height: count(1),
    batchIndex: count(0),
    stepLog: v.optional(
      v.array(
        v.object({
          active: v.array(count(0)),
          dominant: v.optional(count(0)),
          refreshed: v.array(count(0)),
          full: count(0),
          shallow: count(0),
        }),
      ),
    ),
  }),
  v.check(
    (r) => isPermutation(r.ordering.order, r.loras.length),
    'ordering.order must list every LoRA index exactly once',
  ),
  v.check(
    (r) => (r.ordering.highFrequency ?? []).every((i) => i < r.loras.length),
    'ordering.highFrequency must hold LoRA indices',
  ),
);

/** One line naming the first problem, e.g. `loras.0.fileHash: must be a sha256 ...`. */
function firstIssue(issues: [v.BaseIssue<unknown>, ...v.BaseIssue<unknown>[]]): string {
  const issue = issues[0];
  const path = v.getDotPath(issue);
  return path ? `${path}: ${issue.message}` : issue.message;
}

/** Checks a record before it is written; a failure here is a bug in the caller. */
export function checkChordRecord(record: unknown): ChordImageRecord {
  const result = v.safeParse(ChordImageRecordSchema, record);
  if (!result.success) {
    throw new ChordError('BAD_ARGUMENT', `Image settings are incomplete (${firstIssue(result.issues)}).`);
  }
  return result.output;
}

/**
 * Reads the JSON text of a `chord` chunk. `source` names the file in messages.
 * Throws PNG_INVALID for bad JSON, a wrong shape, or a record from a newer Chord.
 */
export function parseChordRecord(json: string, source: string): ChordImageRecord {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch (e) {
    throw new ChordError(
      'PNG_INVALID',
      `${source}: its Chord settings are not valid JSON.`,
      'The file was damaged or edited by another tool; its settings cannot be restored.',
      { cause: e },
    );
  }
  const version = typeof data === 'object' && data !== null ? (data as { version?: unknown }).version : undefined;
  if (typeof version === 'number' && version > CHORD_RECORD_VERSION) {
    throw new ChordError(
      'PNG_INVALID',
      `${source} was made by a newer Chord (settings version ${version}, this one reads ${CHORD_RECORD_VERSION}).`,
      'Update Chord to read its settings.',
    );
  }
  const result = v.safeParse(ChordImageRecordSchema, data);
  if (!result.success) {
    throw new ChordError(
      'PNG_INVALID',
      `${source}: its Chord settings are invalid (${firstIssue(result.issues)}).`,
      'The file was damaged or edited by another tool; its settings cannot be restored.',
    );
  }
  return result.output;
}
