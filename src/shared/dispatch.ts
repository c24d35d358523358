/**
 * The host side of the boundary: takes untrusted arguments from a transport (Electron IPC, HTTP),
 * validates them, calls the engine host and answers with a `Reply`. Electron main and
 * `chord serve` both use it, so both validate and report errors the same way.
 */
import {
  ApiError,
  parseGenerateRequest,
  parseJobId,
  type ApiErrorData,
  type ApiMethod,
  type AppInfo,
  type ChordBridge,
  type GenerateRequest,
  type JobEventListener,
  type JobTicket,
  type ModelSummary,
  type Reply,
  type Unsubscribe,
} from './api';

/** What hosts the engine: `ChordApi`, but `generate` receives a validated request. */
export interface ApiHost {
  getInfo(): Promise<AppInfo>;
  listModels(): Promise<ModelSummary[]>;
  generate(request: GenerateRequest): Promise<JobTicket>;
  cancel(jobId: string): Promise<void>;
  onJobEvent(listener: JobEventListener): Unsubscribe;
}

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

  return {
    getInfo: () => settle(() => host.getInfo()),
    listModels: () => settle(() => host.listModels()),
    generate: async (request) => {
      const parsed = parseGenerateRequest(request);
      return parsed.ok ? settle(() => host.generate(parsed.value)) : parsed;
    },
    cancel: async (jobId) => {
      const parsed = parseJobId(jobId);
      if (!parsed.ok) return parsed;
      return settle(async () => {
        await host.cancel(parsed.value);
        return null;
      });
    },
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
