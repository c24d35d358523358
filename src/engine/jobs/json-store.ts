/** A small JSON document on disk, read leniently and written atomically (temp file + rename). */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../fsutil';

/**
 * Reads `path` as JSON and checks it with `accept`; a missing, unreadable or damaged file gives
 * `fallback` (and `onDamaged` is told, so a host can log it) rather than stopping the app.
 */
export async function readJsonFile<T>(path: string, accept: (value: unknown) => T | undefined, fallback: T, onDamaged?: (why: string) => void): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return fallback;
  }
  try {
    const value = accept(JSON.parse(text));
    if (value !== undefined) return value;
    onDamaged?.(`${path} does not hold what Chord expects; starting afresh.`);
  } catch {
    onDamaged?.(`${path} is not valid JSON; starting afresh.`);
  }
  return fallback;
}

/** Serialises writes of one file: each write waits for the previous one, so the last state wins. */
export class JsonFile<T> {
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  write(value: T): Promise<void> {
    const text = `${JSON.stringify(value, null, 1)}\n`;
    const next = this.writing.then(async () => {
      await mkdir(dirname(this.path), { recursive: true });
      await writeFileAtomic(this.path, text);
    });
    this.writing = next.catch(() => undefined);
    return next;
  }
}
