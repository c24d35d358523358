/**
 * Once before any test file: the app's page (out/renderer) is built from the current sources, so
 * the browser tests and the `chord serve` tests, which run in parallel, never race to build it.
 * Builds only when it is missing or older than src/renderer and src/shared (a second or two).
 */
import { join, resolve } from 'node:path';
import { ensureRendererBuilt } from '../src/server/serve';

export async function setup(): Promise<void> {
  const root = resolve(import.meta.dirname, '..');
  await ensureRendererBuilt(root, join(root, 'out', 'renderer'), (line) => console.error(line));
}
