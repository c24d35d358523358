/**
 * The HTTP + WebSocket face of the API for `chord serve`: the built page, `POST /api/<method>`
 * through the shared dispatcher (so requests are validated exactly as over Electron IPC), job
 * events on a WebSocket, gallery images and LoRA previews, nothing else.
 *
 * Security: the page's Content-Security-Policy is also sent as a header; requests must name this
 * server as their Host (no DNS rebinding) and, if they carry an Origin, come from this server's
 * own page (no cross-site calls); when a token is set, every request needs it (header, `?token=`
 * or the cookie the page gets when opened with `?token=`) or is refused with 401.
 */
import { timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { ChordError } from '../engine';
import { API_METHODS, type ApiMethod, type Reply } from '../shared/api';
import { HTTP_API_PREFIX, HTTP_COMPARISONS_PATH, HTTP_EVENTS_PATH, HTTP_IMAGES_PATH, HTTP_LORA_PREVIEWS_PATH, HTTP_LORA_UPLOAD_PATH, HTTP_TOKEN_HEADER } from '../shared/channels';
import { createDispatcher, toErrorData, type ApiHost } from '../shared/dispatch';

/** The same policy as the page's meta tag, sent as a header so it holds even if the page changes. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

const JSON_LIMIT = 1024 * 1024;
const PNG_LIMIT = 64 * 1024 * 1024;
const LORA_LIMIT = 2 * 1024 * 1024 * 1024 - 1;
const TOKEN_COOKIE = 'chord_token';

const STATIC_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.ico': 'image/x-icon',
};
const IMAGE_TYPES: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp' };

export interface ChordHttpOptions {
  host: ApiHost;
  /** the built renderer (out/renderer) */
  rendererDir: string;
  /** a gallery image's file by its name, or undefined when it is not one */
  galleryFile: (name: string) => string | undefined;
  /** a LoRA's preview image file by LoRA id */
  loraPreviewFile: (id: string) => string | null;
  /** an exported comparison grid's file by its name, or undefined when it is not one */
  comparisonFile?: (name: string) => string | undefined;
  /** required on every request when set */
  token?: string;
  onInternalError?: (error: unknown) => void;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function createChordHttpServer(options: ChordHttpOptions): Server {
  const dispatcher = createDispatcher(options.host, { onInternalError: options.onInternalError });
  const rendererDir = resolve(options.rendererDir);
  const sockets = new Set<WebSocket>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 });
  options.host.onJobEvent((event) => {
    const text = JSON.stringify(event);
    for (const s of sockets) if (s.readyState === s.OPEN) s.send(text);
  });

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (error instanceof HttpError) return sendText(res, error.status, error.message);
      options.onInternalError?.(error);
      sendText(res, 500, 'Internal error');
    });
  });

  /** Host, Origin and token checks shared by HTTP and WebSocket; the failure's status and text. */
  const refusal = (req: IncomingMessage): HttpError | undefined => {
    const hostHeader = req.headers.host ?? '';
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    if (!allowedHost(hostHeader, port)) return new HttpError(403, 'Unknown host name.');
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${hostHeader}`) return new HttpError(403, 'Cross-site requests are not allowed.');
    if (options.token && !hasToken(req, options.token)) return new HttpError(401, 'This Chord server needs its access token: open the URL it printed.');
    return undefined;
  };

  /** Loopback binds accept loopback names only; other binds (with a token) accept any name. */
  const allowedHost = (hostHeader: string, port: number): boolean => {
    if (options.token) return true;
    return [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`].includes(hostHeader.toLowerCase());
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    setSecurityHeaders(res);
    const refused = refusal(req);
    if (refused) return sendText(res, refused.status, refused.message);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;

    if (path.startsWith(HTTP_API_PREFIX)) {
      if (req.method !== 'POST') throw new HttpError(405, 'Use POST.');
      if (path === HTTP_LORA_UPLOAD_PATH) {
        const name = url.searchParams.get('name') ?? '';
        // streamed to disk by the host: a LoRA can be hundreds of megabytes
        return sendJson(res, await settle(() => options.host.importLora(name, limitedBody(req, LORA_LIMIT, 'application/octet-stream'))));
      }
      const method = path.slice(HTTP_API_PREFIX.length);
      if (!isApiMethod(method)) throw new HttpError(404, 'No such API method.');
      if (method === 'imageSettings') {
        const bytes = await readBody(req, PNG_LIMIT, 'application/octet-stream');
        return sendJson(res, await dispatcher.imageSettings(bytes));
      }
      const body = await readBody(req, JSON_LIMIT, 'application/json');
      let args: unknown;
      try {
        args = JSON.parse(Buffer.from(body).toString('utf8'));
      } catch {
        return sendJson(res, badRequest('The request body is not valid JSON.'));
      }
      if (!Array.isArray(args)) return sendJson(res, badRequest('The request body must be a JSON array of arguments.'));
      return sendJson(res, await dispatcher[method](...args));
    }

    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'Method not allowed.');
    if (path.startsWith(HTTP_IMAGES_PATH)) {
      const file = options.galleryFile(decodeSegment(path.slice(HTTP_IMAGES_PATH.length)));
      if (!file) throw new HttpError(404, 'No such image.');
      return sendFile(res, file, 'image/png', req.method === 'HEAD');
    }
    if (path.startsWith(HTTP_COMPARISONS_PATH)) {
      const file = options.comparisonFile?.(decodeSegment(path.slice(HTTP_COMPARISONS_PATH.length)));
      if (!file) throw new HttpError(404, 'No such grid.');
      return sendFile(res, file, 'image/png', req.method === 'HEAD');
    }
    if (path.startsWith(HTTP_LORA_PREVIEWS_PATH)) {
      const file = options.loraPreviewFile(decodeSegment(path.slice(HTTP_LORA_PREVIEWS_PATH.length)));
      const type = file ? IMAGE_TYPES[extname(file).toLowerCase()] : undefined;
      if (!file || !type) throw new HttpError(404, 'No such preview.');
      return sendFile(res, file, type, req.method === 'HEAD');
    }
    // the page and its assets
    if (options.token && url.searchParams.get('token') === options.token) {
      res.setHeader('set-cookie', `${TOKEN_COOKIE}=${encodeURIComponent(options.token)}; Path=/; HttpOnly; SameSite=Strict`);
    }
    const relative = path === '/' ? 'index.html' : decodeSegment(path.slice(1));
    const file = resolve(rendererDir, relative);
    const type = STATIC_TYPES[extname(file).toLowerCase()];
    if (!file.startsWith(rendererDir + sep) || !type) throw new HttpError(404, 'Not found.');
    return sendFile(res, file, type, req.method === 'HEAD');
  }

  const settle = async <T>(work: () => Promise<T>): Promise<Reply<T>> => {
    try {
      return { ok: true, value: await work() };
    } catch (error) {
      const data = toErrorData(error);
      if (data.code === 'INTERNAL') options.onInternalError?.(error);
      return { ok: false, error: data };
    }
  };

  server.on('upgrade', (req, socket, head) => {
    const refused = refusal(req);
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (refused || path !== HTTP_EVENTS_PATH) {
      const status = refused?.status ?? 404;
      socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : 'Not Found'}\r\nConnection: close\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      // a page that (re)connects, e.g. after the server restarted, starts from the current queue
      void options.host
        .listQueue()
        .then((jobs) => {
          if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'queue', jobs }));
        })
        .catch(() => undefined);
      ws.on('close', () => sockets.delete(ws));
      // the page only listens; anything it sends is ignored
      ws.on('message', () => undefined);
    });
  });
  server.on('close', () => {
    for (const s of sockets) s.terminate();
    wss.close();
  });
  return server;
}

function isApiMethod(name: string): name is ApiMethod {
  return (API_METHODS as readonly string[]).includes(name);
}

function badRequest(message: string): Reply<never> {
  return { ok: false, error: { code: 'BAD_ARGUMENT', message, hint: 'This is a problem in the caller; reload the page.' } };
}

function decodeSegment(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new HttpError(400, 'Bad path.');
  }
}

function hasToken(req: IncomingMessage, token: string): boolean {
  const given: string[] = [];
  const header = req.headers[HTTP_TOKEN_HEADER];
  if (typeof header === 'string') given.push(header);
  const query = new URL(req.url ?? '/', 'http://localhost').searchParams.get('token');
  if (query) given.push(query);
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...rest] = part.trim().split('=');
    if (k === TOKEN_COOKIE) {
      try {
        given.push(decodeURIComponent(rest.join('=')));
      } catch {
        // a mangled cookie is no token
      }
    }
  }
  const want = Buffer.from(token);
  return given.some((g) => {
    const b = Buffer.from(g);
    return b.length === want.length && timingSafeEqual(b, want);
  });
}

function setSecurityHeaders(res: ServerResponse): void {
  res.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
  res.setHeader('x-frame-options', 'DENY');
  res.setHeader('cross-origin-opener-policy', 'same-origin');
  res.setHeader('cross-origin-resource-policy', 'same-origin');
}

async function readBody(req: IncomingMessage, limit: number, type: string): Promise<Uint8Array> {
  const contentType = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (contentType !== type) throw new HttpError(415, `Send ${type}.`);
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new HttpError(413, 'Too large.');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, 'Too large.');
    chunks.push(chunk as Buffer);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

/** The request body as a stream, checked for type and size as it arrives. */
function limitedBody(req: IncomingMessage, limit: number, type: string): AsyncIterable<Uint8Array> {
  const contentType = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (contentType !== type) throw new HttpError(415, `Send ${type}.`);
  if (Number(req.headers['content-length'] ?? 0) > limit) throw new HttpError(413, 'Too large.');
  return (async function* () {
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      // thrown inside the host's upload: a ChordError, so the page gets it as a plain reply
      if (size > limit) throw new ChordError('BAD_ARGUMENT', `The file is larger than ${Math.round(limit / 2 ** 30)} GB, too large for a LoRA.`, 'Check that it is a LoRA file.');
      yield chunk as Buffer;
    }
  })();
}

function sendJson(res: ServerResponse, reply: Reply<unknown>): void {
  const body = JSON.stringify(reply);
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(body);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(text);
}

async function sendFile(res: ServerResponse, file: string, type: string, headOnly: boolean): Promise<void> {
  let body: Buffer;
  try {
    if (!(await stat(file)).isFile()) throw new Error('not a file');
    body = await readFile(file);
  } catch {
    throw new HttpError(404, 'Not found.');
  }
  res.writeHead(200, { 'content-type': type, 'content-length': body.length, 'cache-control': 'no-cache' });
  res.end(headOnly ? undefined : body);
}

/** For tests and the CLI: the renderer's entry file. */
export function rendererIndex(rendererDir: string): string {
  return join(rendererDir, 'index.html');
}
