import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/engine/fsutil';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'chord-atomic-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('writes a new file and replaces an old one, leaving no temp file', async () => {
    const path = join(dir, 'image.png');
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect([...(await readFile(path))]).toEqual([1, 2, 3]);
    await writeFile(path, 'old');
    await writeFileAtomic(path, 'new');
    expect(await readFile(path, 'utf8')).toBe('new');
    expect(await readdir(dir)).toEqual(['image.png']);
  });

  it('removes its temp file when the final rename fails', async () => {
    // A non-empty folder where the file should go: the temp file is written, the rename fails.
    const path = join(dir, 'image.png');
    await mkdir(path);
    await writeFile(join(path, 'keep'), 'x');
    await expect(writeFileAtomic(path, 'data')).rejects.toMatchObject({ code: 'WRITE_FAILED', message: expect.stringContaining('a folder has that name') });
    expect(await readdir(dir)).toEqual(['image.png']);
    expect(await readdir(path)).toEqual(['keep']);
  });

  it('says when the folder does not exist', async () => {
    const path = join(dir, 'missing', 'image.png');
    await expect(writeFileAtomic(path, 'data')).rejects.toMatchObject({ code: 'FILE_NOT_FOUND', message: expect.stringContaining('does not exist') });
    expect(await readdir(dir)).toEqual([]);
  });
});
