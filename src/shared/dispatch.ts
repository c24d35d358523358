/**
 * The host side of the boundary: takes untrusted arguments from a transport (Electron IPC, HTTP),
 * validates them, calls the engine host and answers with a `Reply`. Electron main and
 * `chord serve` both use it, so both validate and report errors the same way.
 */
import * as v from 'valibot';
import {
  ApiError,
  ComparisonIdSchema,
  ComparisonRequestSchema,
  ImageNameSchema,
  LoraIdSchema,
  LoraPatchSchema,
  LoraPathsSchema,
  ModelPathSchema,
  parseGenerateRequest,
  parseJobId,
  parseWith,
  PngBytesSchema,
  QueueMoveSchema,
  SpectraRequestSchema,
  type ApiErrorData,
  type ApiMethod,
  type ChordApi,
  type ChordBridge,
  type Comparison,
  type ComparisonRequest,
  type GenerateRequest,
  type JobTicket,
  type LoraImport,
  type Reply,
} from './api';

/**
 * What hosts the engine: `ChordApi`, but `generate` receives a validated request, plus what only
 * a browser needs (a dropped file arrives as bytes, stored in the app's data folder).
 */
export type ApiHost = Omit<ChordApi, 'generate' | 'startComparison'> & {
  generate(request: GenerateRequest): Promise<JobTicket>;
  startComparison(request: ComparisonRequest): Promise<Comparison>;
  /** Stores an uploaded LoRA file (streamed: LoRAs can be large) under the app's data folder and adds it to the library. */
  importLora(fileName: string, bytes: Uint8Array | AsyncIterable<Uint8Array>): Promise<LoraImport>;
};

/** One entry per API method; arguments arrive unchecked from the wire. */
export type Dispatcher = { [M in ApiMethod]: (...args: unknown[]) => ReturnType<ChordBridge[M]> };

export interface DispatchOptions {
  /** Called with anything thrown that is not a ChordError (a bug), e.g. to log its stack. */
  onInternalError?: (error: unknown) => void;
}

export function createDispatcher(host: ApiHost, options: DispatchOptions = {}): Dispatcher {
  const settle = async <T>(work: () => Promise<T>): Promise<Reply<T>> => {
    try {
      return { ok: true, value: await work() };
    } catch (error) {
      const data = toErrorData(error);
      if (data.code === 'INTERNAL') options.onInternalError?.(error);
      return { ok: false, error: data };
    }
  };
  const settleVoid = (work: () => Promise<void>): Promise<Reply<null>> =>
    settle(async () => {
      await work();
      return null;
    });
  /** Validates one argument, then runs `work` with it. */
  const check = <S extends v.GenericSchema, T>(schema: S, input: unknown, what: string, work: (value: v.InferOutput<S>) => Promise<Reply<T>>): Promise<Reply<T>> => {
    const parsed = parseWith(schema, input, what);
    return parsed.ok ? work(parsed.value) : Promise.resolve(parsed);
  };

  return {
    getInfo: () => settle(() => host.getInfo()),
    listModels: () => settle(() => host.listModels()),
    addModel: (path) => check(ModelPathSchema, path, 'Invalid model folder', (p) => settle(() => host.addModel(p))),
    removeModel: (id) => check(ModelPathSchema, id, 'Invalid model', (i) => settleVoid(() => host.removeModel(i))),
    listLoras: () => settle(() => host.listLoras()),
    addLoras: (paths) => check(LoraPathsSchema, paths, 'Invalid LoRA files', (p) => settle(() => host.addLoras(p))),
    updateLora: (id, patch) =>
      check(LoraIdSchema, id, 'Invalid LoRA', (i) =>
        check(LoraPatchSchema, patch, 'Invalid LoRA details', (p) => settle(() => host.updateLora(i, p))),
      ),
    removeLora: (id) => check(LoraIdSchema, id, 'Invalid LoRA', (i) => settleVoid(() => host.removeLora(i))),
    generate: async (request) => {
      const parsed = parseGenerateRequest(request);
      return parsed.ok ? settle(() => host.generate(parsed.value)) : parsed;
    },
    cancel: async (jobId) => {
      const parsed = parseJobId(jobId);
      return parsed.ok ? settleVoid(() => host.cancel(parsed.value)) : parsed;
    },
    listQueue: () => settle(() => host.listQueue()),
    moveJob: (jobId, offset) =>
      check(v.pipe(v.string('job id must be text'), v.nonEmpty('job id is empty')), jobId, 'Invalid job', (id) =>
        check(QueueMoveSchema, offset, 'Invalid move', (o) => settleVoid(() => host.moveJob(id, o))),
      ),
    listGallery: () => settle(() => host.listGallery()),
    deleteImage: (name) => check(ImageNameSchema, name, 'Invalid image', (n) => settleVoid(() => host.deleteImage(n))),
    revealImage: (name) => check(ImageNameSchema, name, 'Invalid image', (n) => settleVoid(() => host.revealImage(n))),
    imageSettings: (png) => check(PngBytesSchema, png, 'Invalid image', (bytes) => settle(() => host.imageSettings(bytes))),
    startComparison: (request) => check(ComparisonRequestSchema, request, 'Invalid comparison', (r) => settle(() => host.startComparison(r))),
    listComparisons: () => settle(() => host.listComparisons()),
    exportComparison: (id) => check(ComparisonIdSchema, id, 'Invalid comparison', (i) => settle(() => host.exportComparison(i))),
    deleteComparison: (id) => check(ComparisonIdSchema, id, 'Invalid comparison', (i) => settleVoid(() => host.deleteComparison(i))),
    measureSpectra: (request) => check(SpectraRequestSchema, request, 'Invalid spectra request', (r) => settle(() => host.measureSpectra(r))),
  };
}

interface CodedError extends Error {
  code: string;
  hint?: unknown;
}

/**
 * A thrown value as error data. ChordErrors (recognised by name, since this module may not import
 * the engine) and ApiErrors (what the app side throws, e.g. a host without an engine) keep code,
 * message and hint; anything else is a bug and says so in one line.
 */
export function toErrorData(error: unknown): ApiErrorData {
  if (isChordErrorLike(error) || error instanceof ApiError) {
    const data: ApiErrorData = { code: error.code, message: error.message };
    if (typeof error.hint === 'string') data.hint = error.hint;
    return data;
  }
  const detail = error instanceof Error ? error.message : String(error);
  return {
    code: 'INTERNAL',
    message: `Chord hit an unexpected problem: ${firstLine(detail)}`,
    hint: 'Please report it with the steps that led to it.',
  };
}

function isChordErrorLike(error: unknown): error is CodedError {
  return error instanceof Error && error.name === 'ChordError' && typeof (error as Partial<CodedError>).code === 'string';
}

function firstLine(text: string): string {
  const line = text.split('\n', 1)[0]?.trim() ?? '';
  return line || 'no details';
}
