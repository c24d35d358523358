/**
 * Chord's cache folder: rewritten graphs and remembered file hashes. Never inside a model folder.
 *   CHORD_CACHE_DIR when set; else $XDG_CACHE_HOME/chord, ~/.cache/chord on Linux and other
 *   Unixes, ~/Library/Caches/chord on macOS, %LOCALAPPDATA%\chord\cache on Windows.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../fsutil';
import type { HashCache } from '../hash';
import { mkdir } from 'node:fs/promises';

export function chordCacheDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home = homedir()): string {
  if (env.CHORD_CACHE_DIR) return env.CHORD_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'chord');
  if (platform === 'darwin') return join(home, 'Library', 'Caches', 'chord');
  if (platform === 'win32' && env.LOCALAPPDATA) return join(env.LOCALAPPDATA, 'chord', 'cache');
  return join(home, '.cache', 'chord');
}

const HASHES_FILE = 'hashes.json';

/**
 * File hashes remembered across runs (keyed by path, size and mtime, see hash.ts), so the CLI
 * does not re-read a 2 GB UNet to name it in every image it saves. A missing or damaged file is
 * an empty memo.
 */
export async function loadHashCache(cacheDir: string): Promise<HashCache> {
  try {
    const raw: unknown = JSON.parse(await readFile(join(cacheDir, HASHES_FILE), 'utf8'));
    if (typeof raw !== 'object' || raw === null) return new Map();
    return new Map(Object.entries(raw).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    return new Map();
  }
}

/** Best effort: a cache that cannot be written only costs time later. */
export async function saveHashCache(cacheDir: string, hashes: HashCache): Promise<void> {
  try {
    await mkdir(cacheDir, { recursive: true });
    await writeFileAtomic(join(cacheDir, HASHES_FILE), JSON.stringify(Object.fromEntries(hashes)));
  } catch {
    // ignored on purpose
  }
}
