import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { outputFiles } from '../../src/engine/host/engine';
import { makeTmpDir } from './helpers';

const tmp = makeTmpDir('chord-out-');
afterAll(() => tmp.cleanup());

describe('output file names', () => {
  it('one file as given; several numbered before the extension', async () => {
    expect(await outputFiles({ file: join(tmp.dir, 'a', 'cat.png') }, 1, 7)).toEqual([join(tmp.dir, 'a', 'cat.png')]);
    expect(await outputFiles({ file: join(tmp.dir, 'cat.png') }, 2, 7)).toEqual([join(tmp.dir, 'cat-1.png'), join(tmp.dir, 'cat-2.png')]);
  });

  it('a folder continues after the highest A1111-style counter already there', async () => {
    const dir = join(tmp.dir, 'outputs');
    mkdirSync(dir);
    writeFileSync(join(dir, '00003-99.png'), '');
    writeFileSync(join(dir, 'notes.txt'), '');
    expect(await outputFiles({ dir }, 2, 10)).toEqual([join(dir, '00004-10.png'), join(dir, '00005-11.png')]);
    expect(await outputFiles({ dir: join(tmp.dir, 'new') }, 1, 0)).toEqual([join(tmp.dir, 'new', '00000-0.png')]);
  });
});
