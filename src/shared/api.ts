/**
 * The API contract between the UI and whatever hosts the engine (Electron main, `chord serve`).
 *
 * `ChordApi` is what the renderer programs against. The wire form of each call is a `Reply`
 * envelope (value or error data) because neither Electron IPC nor contextBridge carries an
 * error's code and hint across: a thrown error arrives as a bare, reworded message. Requests are
 * validated here, once, with valibot, by the host that receives them (`dispatch.ts`).
 *
 * This module imports nothing of ours: the renderer, preload, main and server all depend on it.
 */
import * as v from 'valibot';

// ---------------------------------------------------------------------------------------------
// Values

/** Sampler names; the engine's `SAMPLER_NAMES` (src/engine/schedulers) must match (a test pins it). */
export const SAMPLERS = ['euler', 'euler_a', 'ddim', 'dpmpp_2m', 'dpmpp_2m_karras', 'lcm'] as const;
export type Sampler = (typeof SAMPLERS)[number];

/** Bounds a request must respect. Wide on purpose: the engine rejects what its model cannot do. */
export const LIMITS = {
  promptChars: 20_000,
  steps: { min: 1, max: 200 },
  cfg: { min: 0, max: 30 },
  /** Pixels; the VAE works in 8-pixel cells. */
  size: { min: 64, max: 4096, multiple: 8 },
  batchCount: { min: 1, max: 1000 },
  loraWeight: { min: -10, max: 10 },
  loras: 16,
  /** The engine's noise generator takes any whole number in [0, 2^53 - 1]. */
  seed: { min: 0, max: Number.MAX_SAFE_INTEGER },
} as const;

/** What a request gets for each field it leaves out. */
export const DEFAULTS = {
  negative: '',
  steps: 25,
  cfg: 7,
  sampler: 'euler_a' as Sampler,
  width: 512,
  height: 512,
  batchCount: 1,
} as const;

// ---------------------------------------------------------------------------------------------
// Schemas (valibot): each message names the field and the allowed range, so the user can fix it.

function wholeNumber(field: string, min: number, max: number) {
  const message = `${field} must be a whole number from ${min} to ${max}`;
  return v.pipe(v.number(message), v.integer(message), v.minValue(min, message), v.maxValue(max, message));
}

function numberIn(field: string, min: number, max: number) {
  const message = `${field} must be a number from ${min} to ${max}`;
  return v.pipe(v.number(message), v.minValue(min, message), v.maxValue(max, message));
}

function imageSide(field: string) {
  const { min, max, multiple } = LIMITS.size;
  return v.pipe(
    wholeNumber(field, min, max),
    v.multipleOf(multiple, `${field} must be a multiple of ${multiple} pixels`),
  );
}

function text(field: string, maxChars: number) {
  return v.pipe(
    v.string(`${field} must be text`),
    v.maxLength(maxChars, `${field} is longer than ${maxChars} characters`),
  );
}

function nonEmptyText(field: string) {
  return v.pipe(v.string(`${field} must be text`), v.trim(), v.nonEmpty(`${field} is empty`));
}

export const LoraChoiceSchema = v.strictObject({
  /** A .safetensors file on the host's disk. */
  path: nonEmptyText('lora path'),
  weight: numberIn('lora weight', LIMITS.loraWeight.min, LIMITS.loraWeight.max),
});

export const GenerateRequestSchema = v.strictObject({
  prompt: text('prompt', LIMITS.promptChars),
  negative: v.optional(text('negative prompt', LIMITS.promptChars), DEFAULTS.negative),
  /** A `ModelSummary.id` from `listModels()`. */
  model: nonEmptyText('model'),
  loras: v.optional(
    v.pipe(
      v.array(LoraChoiceSchema, 'loras must be a list'),
      v.maxLength(LIMITS.loras, `at most ${LIMITS.loras} LoRAs at once`),
    ),
    () => [],
  ),
  steps: v.optional(wholeNumber('steps', LIMITS.steps.min, LIMITS.steps.max), DEFAULTS.steps),
  cfg: v.optional(numberIn('cfg', LIMITS.cfg.min, LIMITS.cfg.max), DEFAULTS.cfg),
  sampler: v.optional(v.picklist(SAMPLERS, `sampler must be one of ${SAMPLERS.join(', ')}`), DEFAULTS.sampler),
  /** Left out: the host picks one and reports it with each image. Image i of a batch uses seed + i. */
  seed: v.optional(wholeNumber('seed', LIMITS.seed.min, LIMITS.seed.max)),
  width: v.optional(imageSide('width'), DEFAULTS.width),
  height: v.optional(imageSide('height'), DEFAULTS.height),
  batchCount: v.optional(
    wholeNumber('batchCount', LIMITS.batchCount.min, LIMITS.batchCount.max),
    DEFAULTS.batchCount,
  ),
});

export const JobIdSchema = nonEmptyText('job id');

export type LoraChoice = v.InferOutput<typeof LoraChoiceSchema>;
/** What a caller sends: everything but `prompt` and `model` may be left out. */
export type GenerateRequestInput = v.InferInput<typeof GenerateRequestSchema>;
/** What the engine receives: validated, defaults filled in. */
export type GenerateRequest = v.InferOutput<typeof GenerateRequestSchema>;

// ---------------------------------------------------------------------------------------------
// Results and events

export interface AppInfo {
  /** The app's version (package.json). */
  version: string;
  engine: {
    /** ONNX Runtime execution providers usable on this machine, e.g. ["cpu", "webgpu"]. */
    providers: string[];
  };
}

export interface ModelSummary {
  /** Pass this as `GenerateRequest.model`. */
  id: string;
  /** For people: the folder name. */
  name: string;
  /** Shipped with the app (the demo model) rather than added by the user. */
  bundled: boolean;
}

/** A generation accepted into the queue; its progress arrives as `JobEvent`s. */
export interface JobTicket {
  jobId: string;
}

export type JobPhase = 'loading' | 'denoising' | 'decoding';

/** `image` is the 0-based index within the batch. */
export type JobEvent =
  | { type: 'progress'; jobId: string; image: number; phase: JobPhase; step: number; steps: number }
  | { type: 'image'; jobId: string; image: number; seed: number; url: string }
  | { type: 'done'; jobId: string }
  | { type: 'cancelled'; jobId: string }
  | { type: 'failed'; jobId: string; error: ApiErrorData };

export type JobEventListener = (event: JobEvent) => void;
export type Unsubscribe = () => void;

// ---------------------------------------------------------------------------------------------
// The API

/** What the UI can ask for. Every method rejects with an `ApiError` whose message a user can act on. */
export interface ChordApi {
  getInfo(): Promise<AppInfo>;
  listModels(): Promise<ModelSummary[]>;
  /** Validates and queues; resolves as soon as the job is accepted. */
  generate(request: GenerateRequestInput): Promise<JobTicket>;
  /** Stops a queued or running job; a finished or unknown job is left as it is. */
  cancel(jobId: string): Promise<void>;
  /** Events of every job, for as long as the listener is subscribed. */
  onJobEvent(listener: JobEventListener): Unsubscribe;
}

/** The request/response methods; `onJobEvent` is a stream, carried separately. */
export const API_METHODS = ['getInfo', 'listModels', 'generate', 'cancel'] as const;
export type ApiMethod = (typeof API_METHODS)[number];

export type ApiResult<M extends ApiMethod> = Awaited<ReturnType<ChordApi[M]>>;

/**
 * What a transport carries (and what Electron exposes as `window.chord`): the same methods,
 * each resolving to a `Reply` instead of rejecting. `undefined` results travel as `null`.
 */
export type ChordBridge = {
  [M in ApiMethod]: (...args: Parameters<ChordApi[M]>) => Promise<Reply<WireValue<ApiResult<M>>>>;
} & Pick<ChordApi, 'onJobEvent'>;

type WireValue<T> = T extends void ? null : T;

// ---------------------------------------------------------------------------------------------
// Errors across the boundary

/** A ChordError as data. `code` is a `ChordErrorCode` (src/engine/errors.ts), or 'INTERNAL' for a bug. */
export interface ApiErrorData {
  code: string;
  message: string;
  hint?: string;
}

export type Reply<T> = { ok: true; value: T } | { ok: false; error: ApiErrorData };

/** The renderer-side face of a host's ChordError. */
export class ApiError extends Error {
  readonly code: string;
  readonly hint?: string;

  constructor(data: ApiErrorData) {
    super(data.message);
    this.name = 'ApiError';
    this.code = data.code;
    this.hint = data.hint;
  }

  /** One line for a status bar or toast: the message, then what to do. */
  userText(): string {
    return this.hint ? `${this.message} ${this.hint}` : this.message;
  }
}

export function unwrapReply<T>(reply: Reply<T>): T {
  if (reply.ok) return reply.value;
  throw new ApiError(reply.error);
}

/** Validates a generate request; a failure is one line naming the first bad field. */
export function parseGenerateRequest(input: unknown): Reply<GenerateRequest> {
  return parseWith(GenerateRequestSchema, input, 'Invalid generation settings');
}

export function parseJobId(input: unknown): Reply<string> {
  return parseWith(JobIdSchema, input, 'Invalid job');
}

function parseWith<S extends v.GenericSchema>(
  schema: S,
  input: unknown,
  what: string,
): Reply<v.InferOutput<S>> {
  const result = v.safeParse(schema, input);
  if (result.success) return { ok: true, value: result.output };
  return {
    ok: false,
    error: {
      code: 'BAD_ARGUMENT',
      message: `${what}: ${describeIssues(result.issues)}.`,
      hint: 'Fix that setting and try again.',
    },
  };
}

function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  const [first] = issues;
  if (!first) return 'unknown problem';
  // Unknown keys are reported as a type mismatch on the key ("Expected never"): name the key.
  const where = v.getDotPath(first);
  let line = first.message;
  if (where && first.kind === 'schema' && first.expected === 'never') line = `unknown setting "${where}"`;
  else if (where && first.input === undefined) line = `${where} is missing`;
  return issues.length > 1 ? `${line} (and ${issues.length - 1} more)` : line;
}
