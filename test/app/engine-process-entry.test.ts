/**
 * The desktop app's engine entry as built (out/main/engine-process.js, what Electron's
 * utilityProcess runs), loaded in plain Node with a stand-in for Electron's parent port: it
 * answers the host protocol and makes an image with a LoRA and a composition method. The Electron
 * binary itself is not available here; this checks everything but Electron's own process plumbing.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'chord-utility-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('runs the engine loop behind a parent port', async () => {
  const script = join(dir, 'utility.mjs');
  const request = {
    prompt: 'zorb',
    model: join(ROOT, 'models/glyph-sd'),
    steps: 3,
    seed: 1,
    output: { dir: join(dir, 'out') },
    preview: true,
    loras: [{ path: join(ROOT, 'models/glyph-sd/loras/zorb.safetensors'), weight: 1 }],
    method: { name: 'switch', options: { tau: 1 } },
  };
  writeFileSync(
    script,
    `import { EventEmitter } from 'node:events';
const port = new EventEmitter();
const seen = [];
port.postMessage = (m) => {
  seen.push(m.type === 'progress' ? 'progress' + (m.progress.preview ? '+preview' : '') : m.type);
  if (m.type === 'ready') port.emit('message', { data: { type: 'generate', id: 7, request: ${JSON.stringify(request)} } });
  if (m.type === 'result') { console.log(JSON.stringify({ files: m.result.images.map((i) => i.file) })); port.emit('message', { data: { type: 'close' } }); }
  if (m.type === 'error') { console.log(JSON.stringify({ error: m.error })); port.emit('message', { data: { type: 'close' } }); }
  if (m.type === 'closed') console.log(JSON.stringify({ seen: [...new Set(seen)] }));
};
process.parentPort = port;
process.argv[2] = ${JSON.stringify(JSON.stringify({ cacheDir: join(dir, 'cache') }))};
await import(${JSON.stringify(join(ROOT, 'out/main/engine-process.js'))});
`,
  );
  const lines = await new Promise<string[]>((resolvePromise, reject) => {
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
    child.on('exit', (code) => (code === 0 ? resolvePromise(text.trim().split('\n')) : reject(new Error(`exit ${code}: ${text}`))));
  });
  const [result, seen] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(result).toEqual({ files: [join(dir, 'out', '00000-1.png')] });
  expect(seen).toEqual({ seen: ['ready', 'progress+preview', 'result', 'closed'] });
});
