/** File-system helpers shared across the engine. */
import { randomBytes } from 'node:crypto';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ChordError, isChordError } from './errors';

/** Whether `path` is a regular file (false for folders, missing paths and unreadable ones). */
export async function isFile(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isFile(), () => false);
}

/**
 * Writes a file so that readers (and a crash) see either the old content or all of the new one:
 * the bytes go to a hidden temp file in the same folder (same file system, so the rename is
 * atomic), are flushed to disk, then the temp file is renamed over `path`. On any failure the
 * temp file is removed and a ChordError says what to do.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  try {
    const file = await open(temp, 'wx');
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (e) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw isChordError(e) ? e : writeError(path, e);
  }
}

function writeError(path: string, e: unknown): ChordError {
  const code = (e as NodeJS.ErrnoException).code;
  const options = { cause: e };
  switch (code) {
    case 'ENOENT':
      return new ChordError('FILE_NOT_FOUND', `Cannot save ${path}: the folder ${dirname(path)} does not exist.`, 'Create the folder or choose another one.', options);
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new ChordError('WRITE_FAILED', `Cannot save ${path}: no permission to write there.`, 'Choose another folder.', options);
    case 'ENOSPC':
      return new ChordError('WRITE_FAILED', `Cannot save ${path}: the disk is full.`, 'Free some space and try again.', options);
    case 'EISDIR':
      return new ChordError('WRITE_FAILED', `Cannot save ${path}: a folder has that name.`, 'Choose another file name.', options);
    default:
      return new ChordError('WRITE_FAILED', `Cannot save ${path} (${code ?? (e as Error).message}).`, undefined, options);
  }
}
