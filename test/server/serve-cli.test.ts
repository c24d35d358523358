/**
 * `chord serve` as a command: the URL is the first line of stdout, 127.0.0.1 by default, and any
 * other address gets a token (made and printed when not given) that every request needs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { serve, tempFolders, type Served } from '../e2e/harness';

const folders = tempFolders();
const running: Served[] = [];
afterAll(async () => {
  for (const s of running) await s.stop();
  folders.cleanup();
});

async function start(...args: string[]): Promise<Served> {
  const s = await serve(folders.dataDir, folders.cacheDir, args);
  running.push(s);
  return s;
}

describe('chord serve', () => {
  it('listens on 127.0.0.1 without a token by default', async () => {
    const s = await start();
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const info = await fetch(new URL('/api/getInfo', s.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[]' });
    expect(await info.json()).toMatchObject({ ok: true, value: { engine: { providers: expect.arrayContaining(['cpu']) } } });
  });

  it('makes and prints a token for any other address, and refuses requests without it', async () => {
    const s = await start('--host', '0.0.0.0');
    const url = new URL(s.url);
    const token = url.searchParams.get('token') ?? '';
    expect(token).toMatch(/^[\w-]{20,}$/);
    await expect.poll(() => s.stderr.join('')).toMatch(/a token was made for this server/);
    const base = `http://127.0.0.1:${url.port}`;
    expect((await fetch(`${base}/`)).status).toBe(401);
    expect((await fetch(`${base}/api/getInfo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[]' })).status).toBe(401);
    expect((await fetch(`${base}/?token=${token}`)).status).toBe(200);
    const ok = await fetch(`${base}/api/getInfo`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-chord-token': token }, body: '[]' });
    expect(ok.status).toBe(200);
  });

  it('says so in one line when the port is taken', async () => {
    const first = await start();
    const port = new URL(first.url).port;
    await expect(start('--port', port)).rejects.toThrow(new RegExp(`chord: Port ${port} on 127\\.0\\.0\\.1 is in use\\. Choose another with --port`));
  });

  it('uses the token it is given', async () => {
    const s = await start('--host', '0.0.0.0', '--token', 'my-own-token-123');
    expect(new URL(s.url).searchParams.get('token')).toBe('my-own-token-123');
  });
});

describe("the app's page", () => {
  it('fails with what to run when it is not built and cannot be', async () => {
    const { ensureRendererBuilt } = await import('../../src/server/serve');
    const root = join(folders.dataDir, 'fake-package');
    mkdirSync(join(root, 'src', 'renderer'), { recursive: true });
    writeFileSync(join(root, 'src', 'renderer', 'main.ts'), '');
    await expect(ensureRendererBuilt(root, join(root, 'out', 'renderer'), () => undefined)).rejects.toMatchObject({
      message: "The app's page is not built (out/renderer is missing) and the build tool is not installed.",
      hint: `Run \`npm run build\` in ${root} (it writes out/renderer), then start chord serve again.`,
    });
  });

  it('is left alone when it is newer than its sources', async () => {
    const { ensureRendererBuilt } = await import('../../src/server/serve');
    const root = join(folders.dataDir, 'built-package');
    mkdirSync(join(root, 'src', 'renderer'), { recursive: true });
    writeFileSync(join(root, 'src', 'renderer', 'main.ts'), '');
    mkdirSync(join(root, 'out', 'renderer'), { recursive: true });
    writeFileSync(join(root, 'out', 'renderer', 'index.html'), '');
    const said: string[] = [];
    await ensureRendererBuilt(root, join(root, 'out', 'renderer'), (l) => said.push(l));
    expect(said).toEqual([]);
  });
});
