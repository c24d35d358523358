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
  type DroppedFiles,
  type JobEvent,
  type JobEventListener,
  type LoraImport,
  type Reply,
} from '../../shared/api';
import { HTTP_EVENTS_PATH, HTTP_LORA_UPLOAD_PATH, httpPathOf } from '../../shared/channels';

declare global {
  interface Window {
    /** Set by the Electron preload script; absent in a browser. */
    chord?: ChordBridge;
  }
}

/** The API as the UI uses it: the calls, plus adding files the user dropped. */
export type ChordClient = ChordApi & DroppedFiles;

export function connect(): ChordClient {
  return apiOverBridge(window.chord ?? httpBridge(window.location.origin));
}

/** Unwraps replies into values or `ApiError`s; a transport failure becomes an `ApiError` too. */
export function apiOverBridge(bridge: ChordBridge): ChordClient {
  const nothing = async (send: () => Promise<Reply<null>>): Promise<void> => {
    await call(send);
  };
  return {
    getInfo: () => call(() => bridge.getInfo()),
    listModels: () => call(() => bridge.listModels()),
    addModel: (path) => call(() => bridge.addModel(path)),
    removeModel: (id) => nothing(() => bridge.removeModel(id)),
    listLoras: () => call(() => bridge.listLoras()),
    addLoras: (paths) => call(() => bridge.addLoras(paths)),
    updateLora: (id, patch) => call(() => bridge.updateLora(id, patch)),
    removeLora: (id) => nothing(() => bridge.removeLora(id)),
    generate: (request) => call(() => bridge.generate(request)),
    cancel: (jobId) => nothing(() => bridge.cancel(jobId)),
    listQueue: () => call(() => bridge.listQueue()),
    moveJob: (jobId, offset) => nothing(() => bridge.moveJob(jobId, offset)),
    listGallery: () => call(() => bridge.listGallery()),
    deleteImage: (name) => nothing(() => bridge.deleteImage(name)),
    revealImage: (name) => nothing(() => bridge.revealImage(name)),
    imageSettings: (png) => call(() => bridge.imageSettings(png)),
    startComparison: (request) => call(() => bridge.startComparison(request)),
    listComparisons: () => call(() => bridge.listComparisons()),
    exportComparison: (id) => call(() => bridge.exportComparison(id)),
    deleteComparison: (id) => nothing(() => bridge.deleteComparison(id)),
    addLoraFiles: (files) => call(() => bridge.addLoraFiles(files)),
    onJobEvent: (listener) => bridge.onJobEvent(listener),
    measureSpectra: (request) => call(() => bridge.measureSpectra(request)),
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
  const send = async <T>(path: string, body: BodyInit, contentType: string): Promise<T> => {
    const response = await fetch(new URL(path, origin), { method: 'POST', headers: { 'content-type': contentType }, body });
    const reply: unknown = await response.json().catch(() => undefined);
    if (!isReply(reply)) throw new Error(`HTTP ${response.status} from ${path}`);
    // The server answers with the Reply its dispatcher made for this call.
    return reply as T;
  };
  const post = <M extends ApiMethod>(method: M, args: unknown[]): Promise<ReplyOf<M>> =>
    send(httpPathOf(method), JSON.stringify(args), 'application/json');

  return {
    getInfo: () => post('getInfo', []),
    listModels: () => post('listModels', []),
    addModel: (path) => post('addModel', [path]),
    removeModel: (id) => post('removeModel', [id]),
    listLoras: () => post('listLoras', []),
    addLoras: (paths) => post('addLoras', [paths]),
    updateLora: (id, patch) => post('updateLora', [id, patch]),
    removeLora: (id) => post('removeLora', [id]),
    generate: (request) => post('generate', [request]),
    cancel: (jobId) => post('cancel', [jobId]),
    listQueue: () => post('listQueue', []),
    moveJob: (jobId, offset) => post('moveJob', [jobId, offset]),
    listGallery: () => post('listGallery', []),
    deleteImage: (name) => post('deleteImage', [name]),
    revealImage: (name) => post('revealImage', [name]),
    // bytes travel as the body, not as JSON
    imageSettings: (png) => send(httpPathOf('imageSettings'), new Blob([png as Uint8Array<ArrayBuffer>]), 'application/octet-stream'),
    startComparison: (request) => post('startComparison', [request]),
    listComparisons: () => post('listComparisons', []),
    exportComparison: (id) => post('exportComparison', [id]),
    deleteComparison: (id) => post('deleteComparison', [id]),
    // A browser has no paths for dropped files: each is uploaded and kept in the app's data folder.
    addLoraFiles: async (files) => {
      const result: LoraImport = { added: [], failed: [] };
      // previews first, so the LoRA they belong to finds them beside it
      const isImage = (f: File) => /\.(png|jpe?g|webp)$/i.test(f.name);
      for (const file of [...files.filter(isImage), ...files.filter((f) => !isImage(f))]) {
        const path = `${HTTP_LORA_UPLOAD_PATH}?name=${encodeURIComponent(file.name)}`;
        const reply = await send<Reply<LoraImport>>(path, file, 'application/octet-stream');
        if (!reply.ok) return reply;
        result.added.push(...reply.value.added);
        result.failed.push(...reply.value.failed);
      }
      return { ok: true, value: result };
    },
    onJobEvent: jobEventStream(origin),
    measureSpectra: (request) => post('measureSpectra', [request]),
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
