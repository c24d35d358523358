/**
 * Once before any test file: `electron-vite build` output (out/) is made from the current sources,
 * so the browser tests, the `chord serve` tests and the utility-process entry test, which run in
 * parallel, never race to build it. Builds only when out/ is missing or older than the sources it
 * comes from (a few seconds); otherwise nothing happens.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');

function newest(dir: string): number {
  if (!existsSync(dir)) return 0;
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return t;
}

const mtime = (file: string): number => (existsSync(file) ? statSync(file).mtimeMs : 0);

export function setup(): void {
  const sources = Math.max(...['renderer', 'shared', 'main', 'preload', 'engine'].map((d) => newest(join(ROOT, 'src', d))));
  const built = Math.min(mtime(join(ROOT, 'out/renderer/index.html')), mtime(join(ROOT, 'out/main/engine-process.js')));
  if (built > 0 && built >= sources) return;
  console.error('test setup: building the app (electron-vite build)...');
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/electron-vite/bin/electron-vite.js'), 'build'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`electron-vite build failed:\n${r.stderr}`);
}
