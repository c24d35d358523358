/**
 * How the UI reaches the engine host, picked once at start-up: Electron's `window.chord` bridge
 * when the preload put it there, otherwise HTTP + WebSocket to the `chord serve` that served this
 * page. Both speak `ChordBridge` (replies as data); `connect()` turns either into the `ChordApi`
 * the rest of the UI uses, so no other module knows which one it has.
 */
import {
  ApiError,
  unwrapReply,
  type ApiErrorData,
  type ApiMethod,
  type ChordApi,
  type ChordBridge,
  type JobEvent,
  type JobEventListener,
  type Reply,
} from '../../shared/api';
import { HTTP_EVENTS_PATH, httpPathOf } from '../../shared/channels';

declare global {
  interface Window {
    /** Set by the Electron preload script; absent in a browser. */
    chord?: ChordBridge;
  }
}

export function connect(): ChordApi {
  return apiOverBridge(window.chord ?? httpBridge(window.location.origin));
}

/** Unwraps replies into values or `ApiError`s; a transport failure becomes an `ApiError` too. */
export function apiOverBridge(bridge: ChordBridge): ChordApi {
  return {
    getInfo: () => call(() => bridge.getInfo()),
    listModels: () => call(() => bridge.listModels()),
    generate: (request) => call(() => bridge.generate(request)),
    cancel: async (jobId) => {
      await call(() => bridge.cancel(jobId));
    },
    onJobEvent: (listener) => bridge.onJobEvent(listener),
  };
}

async function call<T>(send: () => Promise<Reply<T>>): Promise<T> {
  let reply: Reply<T>;
  try {
    reply = await send();
  } catch (error) {
    throw new ApiError(unreachable(error instanceof Error ? error.message : String(error)));
  }
  return unwrapReply(reply);
}

function unreachable(detail: string): ApiErrorData {
  return {
    code: 'ENGINE_UNAVAILABLE',
    message: `The Chord engine host did not answer (${detail}).`,
    hint: 'Restart Chord; if you use chord serve, check that it is still running.',
  };
}

// ---------------------------------------------------------------------------------------------
// HTTP + WebSocket (chord serve)

/** Pause before re-opening the event stream after it drops. */
const EVENTS_RETRY_MS = 2000;

export function httpBridge(origin: string): ChordBridge {
  type ReplyOf<M extends ApiMethod> = Awaited<ReturnType<ChordBridge[M]>>;
  const post = async <M extends ApiMethod>(method: M, args: unknown[]): Promise<ReplyOf<M>> => {
    const response = await fetch(new URL(httpPathOf(method), origin), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(args),
    });
    const body: unknown = await response.json().catch(() => undefined);
    if (!isReply(body)) throw new Error(`HTTP ${response.status} from ${httpPathOf(method)}`);
    // The server answers with the Reply its dispatcher made for this method.
    return body as ReplyOf<M>;
  };

  return {
    getInfo: () => post('getInfo', []),
    listModels: () => post('listModels', []),
    generate: (request) => post('generate', [request]),
    cancel: (jobId) => post('cancel', [jobId]),
    onJobEvent: jobEventStream(origin),
  };
}

function isReply(body: unknown): body is Reply<unknown> {
  return typeof body === 'object' && body !== null && typeof (body as { ok?: unknown }).ok === 'boolean';
}

function parseJobEvent(data: unknown): JobEvent | undefined {
  if (typeof data !== 'string') return undefined;
  try {
    return JSON.parse(data) as JobEvent;
  } catch {
    return undefined;
  }
}

/** One WebSocket shared by all listeners, open while anyone listens, re-opened if it drops. */
function jobEventStream(origin: string): ChordApi['onJobEvent'] {
  const listeners = new Set<JobEventListener>();
  let socket: WebSocket | undefined;
  let retry: ReturnType<typeof setTimeout> | undefined;
  const url = new URL(HTTP_EVENTS_PATH, origin);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';

  const open = (): void => {
    retry = undefined;
    const ws = new WebSocket(url);
    ws.onmessage = (message) => {
      const event = parseJobEvent(message.data);
      if (event) for (const listener of listeners) listener(event);
    };
    ws.onclose = () => {
      if (socket === ws) socket = undefined;
      if (listeners.size > 0 && retry === undefined) retry = setTimeout(open, EVENTS_RETRY_MS);
    };
    socket = ws;
  };

  return (listener) => {
    listeners.add(listener);
    if (!socket && retry === undefined) open();
    return () => {
      listeners.delete(listener);
      if (listeners.size > 0) return;
      clearTimeout(retry);
      retry = undefined;
      socket?.close();
      socket = undefined;
    };
  };
}
