/**
 * `chord serve`'s HTTP face, in process with a recording host: the image route serves gallery files
 * and nothing else, the token is required when set, Host/Origin checks, malformed payloads get a
 * one-line BAD_ARGUMENT, and every response carries the Content-Security-Policy.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { app } from '../../src/engine';
import { createChordHttpServer, CONTENT_SECURITY_POLICY } from '../../src/server/http-server';
import type { ApiHost } from '../../src/shared/dispatch';

const root = mkdtempSync(join(tmpdir(), 'chord-http-'));
const rendererDir = join(root, 'renderer');
const galleryDir = join(root, 'data', 'gallery');
mkdirSync(join(rendererDir, 'assets'), { recursive: true });
mkdirSync(galleryDir, { recursive: true });
writeFileSync(join(rendererDir, 'index.html'), '<!doctype html><title>Chord</title>');
writeFileSync(join(rendererDir, 'assets', 'app.js'), 'console.log(1)');
writeFileSync(join(galleryDir, '00000-1.png'), 'PNGDATA');
writeFileSync(join(galleryDir, '.hidden.png'), 'secret');
writeFileSync(join(root, 'data', 'queue.json'), '{"secret":true}');
writeFileSync(join(root, 'outside.png'), 'outside');
const gallery = new app.Gallery(galleryDir, (n) => `/images/${n}`);

const calls: unknown[][] = [];
const notHere = async (): Promise<never> => {
  throw new Error('not in this test');
};
const host: ApiHost = {
  getInfo: async () => ({ version: '9.9.9', engine: { version: '0.2.1', providers: ['cpu'], methods: [] } }),
  listModels: notHere,
  addModel: notHere,
  removeModel: notHere,
  listLoras: async () => [],
  addLoras: notHere,
  updateLora: notHere,
  removeLora: notHere,
  generate: async (r) => {
    calls.push(['generate', r]);
    return { jobId: 'j1' };
  },
  cancel: notHere,
  listQueue: async () => [],
  moveJob: notHere,
  listGallery: notHere,
  deleteImage: notHere,
  revealImage: notHere,
  startComparison: notHere,
  listComparisons: notHere,
  exportComparison: notHere,
  deleteComparison: notHere,
  measureSpectra: notHere,
  imageSettings: async (png) => {
    calls.push(['imageSettings', png.byteLength]);
    return { prompt: 'p', negativePrompt: '', loras: [], source: 'chord' };
  },
  importLora: async (name, bytes) => {
    let size = 0;
    if (bytes instanceof Uint8Array) size = bytes.byteLength;
    else for await (const chunk of bytes) size += chunk.byteLength;
    calls.push(['importLora', name, size]);
    return { added: [], failed: [] };
  },
  onJobEvent: () => () => {},
};

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function listen(token?: string): Promise<{ server: Server; port: number }> {
  const server = createChordHttpServer({ host, rendererDir, galleryFile: (n) => gallery.fileOf(n), loraPreviewFile: () => null, token });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port })));
}

/** A raw request (no URL normalisation, so `..` reaches the server as sent). */
function send(port: number, path: string, options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: { host: `127.0.0.1:${port}`, ...options.headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const json = (port: number, method: string, body: string, headers: Record<string, string> = {}) =>
  send(port, `/api/${method}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

let open: { server: Server; port: number };
let locked: { server: Server; port: number };

beforeAll(async () => {
  open = await listen();
  locked = await listen('s3cret-token');
});

afterAll(() => {
  open.server.close();
  locked.server.close();
  rmSync(root, { recursive: true, force: true });
});

describe('the image route', () => {
  it('serves a gallery image', async () => {
    const a = await send(open.port, '/images/00000-1.png');
    expect([a.status, a.headers['content-type'], a.body]).toEqual([200, 'image/png', 'PNGDATA']);
  });

  it.each([
    '/images/../data/queue.json',
    '/images/..%2Fqueue.json',
    '/images/%2e%2e%2fqueue.json',
    '/images/..%2F..%2Foutside.png',
    '/images/%2Fetc%2Fpasswd',
    '/images/.hidden.png',
    '/images/sub%2F00000-1.png',
    '/images/00000-1.png%00.txt',
    '/images/queue.json',
    '/images/%E0%A4%A',
  ])('refuses %s', async (path) => {
    const a = await send(open.port, path);
    expect(a.status).toBeGreaterThanOrEqual(400);
    expect(a.body).not.toMatch(/secret|outside|root:/);
  });

  it('serves the page but no file outside it', async () => {
    expect((await send(open.port, '/')).status).toBe(200);
    expect((await send(open.port, '/assets/app.js')).headers['content-type']).toMatch(/javascript/);
    for (const path of ['/../data/queue.json', '/..%2Fdata%2Fqueue.json', '/assets/..%2F..%2Foutside.png', '/%2e%2e/outside.png']) {
      expect((await send(open.port, path)).status, path).toBe(404);
    }
  });
});

describe('the token', () => {
  it('refuses every request without it (401)', async () => {
    for (const path of ['/', '/assets/app.js', '/images/00000-1.png']) expect((await send(locked.port, path)).status, path).toBe(401);
    expect((await json(locked.port, 'getInfo', '[]')).status).toBe(401);
    expect((await json(locked.port, 'getInfo', '[]', { 'x-chord-token': 'wrong-token!' })).status).toBe(401);
  });

  it('accepts the header, the query and the cookie the page gets', async () => {
    expect(JSON.parse((await json(locked.port, 'getInfo', '[]', { 'x-chord-token': 's3cret-token' })).body)).toMatchObject({ ok: true });
    const page = await send(locked.port, '/?token=s3cret-token');
    expect(page.status).toBe(200);
    const cookie = String(page.headers['set-cookie']).split(';')[0];
    expect(String(page.headers['set-cookie'])).toMatch(/HttpOnly; SameSite=Strict/);
    expect((await send(locked.port, '/images/00000-1.png', { headers: { cookie } })).status).toBe(200);
  });

  it('refuses the event stream without it', async () => {
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${locked.port}/api/events`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => undefined);
    });
    expect(status).toBe(401);
    const first = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${locked.port}/api/events`, { headers: { 'x-chord-token': 's3cret-token' } });
      ws.on('message', (data) => {
        ws.close();
        resolve(String(data));
      });
      ws.on('error', () => resolve('error'));
    });
    // with the token: open, and the current queue comes first
    expect(JSON.parse(first)).toEqual({ type: 'queue', jobs: [] });
  });
});

describe('requests from elsewhere', () => {
  it('refuses a foreign Host (DNS rebinding) and a foreign Origin', async () => {
    expect((await send(open.port, '/', { headers: { host: 'evil.example:80' } })).status).toBe(403);
    expect((await json(open.port, 'getInfo', '[]', { origin: 'http://evil.example' })).status).toBe(403);
    expect((await json(open.port, 'getInfo', '[]', { origin: `http://127.0.0.1:${open.port}` })).status).toBe(200);
  });
});

describe('malformed payloads', () => {
  const reply = async (p: Promise<Answer>) => JSON.parse((await p).body) as { ok: boolean; error?: { code: string; message: string } };

  it('answers bad JSON, a non-array and bad fields with one-line BAD_ARGUMENT', async () => {
    expect(await reply(json(open.port, 'generate', '{not json'))).toMatchObject({ ok: false, error: { code: 'BAD_ARGUMENT', message: 'The request body is not valid JSON.' } });
    expect(await reply(json(open.port, 'generate', '{"prompt":"x"}'))).toMatchObject({ ok: false, error: { code: 'BAD_ARGUMENT' } });
    const bad = await reply(json(open.port, 'generate', JSON.stringify([{ prompt: 'x', model: 'm', steps: -3 }])));
    expect(bad).toMatchObject({ ok: false, error: { code: 'BAD_ARGUMENT', message: 'Invalid generation settings: steps must be a whole number from 1 to 1000.' } });
    expect(await reply(json(open.port, 'generate', JSON.stringify([{ prompt: 'x', model: 'm', __proto__: { steps: 1 }, extra: 1 }])))).toMatchObject({ ok: false });
    expect(await reply(json(open.port, 'deleteImage', JSON.stringify(['../queue.json'])))).toMatchObject({ ok: false, error: { code: 'BAD_ARGUMENT' } });
    expect(calls.filter((c) => c[0] === 'generate')).toEqual([]);
  });

  it('refuses wrong content types, methods, unknown calls and oversized bodies', async () => {
    expect((await send(open.port, '/api/getInfo', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '[]' })).status).toBe(415);
    expect((await send(open.port, '/api/getInfo')).status).toBe(405);
    expect((await json(open.port, 'constructor', '[]')).status).toBe(404);
    expect((await json(open.port, '__proto__', '[]')).status).toBe(404);
    expect((await json(open.port, 'generate', `[${'1,'.repeat(600_000)}1]`)).status).toBe(413);
  });

  it('takes image bytes for imageSettings and a named upload for LoRAs', async () => {
    const png = Buffer.from('89504e47', 'hex');
    const a = await send(open.port, '/api/imageSettings', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: png });
    expect(JSON.parse(a.body)).toMatchObject({ ok: true });
    await send(open.port, '/api/upload/lora?name=x.safetensors', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(10) });
    expect(calls).toEqual([
      ['imageSettings', 4],
      ['importLora', 'x.safetensors', 10],
    ]);
  });
});

describe('Content-Security-Policy', () => {
  it('is sent with the page, the API and errors, and allows scripts from the page itself only', async () => {
    for (const a of [await send(open.port, '/'), await json(open.port, 'getInfo', '[]'), await send(open.port, '/nope')]) {
      expect(a.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
      expect(a.headers['x-content-type-options']).toBe('nosniff');
    }
    expect(CONTENT_SECURITY_POLICY).toMatch(/script-src 'self';/);
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-eval|script-src[^;]*unsafe-inline/);
    expect(CONTENT_SECURITY_POLICY).toMatch(/frame-ancestors 'none'/);
  });
});
