import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDisconnectedEngineHost, findModelFolders } from '../../src/main/engine-host';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'chord-app-'));
  for (const name of ['glyph-sd', 'another']) {
    await mkdir(join(root, name), { recursive: true });
    await writeFile(join(root, name, 'model_index.json'), '{}');
  }
  await mkdir(join(root, 'recipe'));
  await writeFile(join(root, 'README.md'), 'not a model');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('findModelFolders', () => {
  it('lists only folders with a model_index.json, sorted by name', async () => {
    expect(await findModelFolders(root, true)).toEqual([
      { id: join(root, 'another'), name: 'another', bundled: true },
      { id: join(root, 'glyph-sd'), name: 'glyph-sd', bundled: true },
    ]);
  });

  it('finds nothing in a folder that does not exist', async () => {
    expect(await findModelFolders(join(root, 'missing'), false)).toEqual([]);
  });
});

describe('disconnected engine host', () => {
  const host = () => createDisconnectedEngineHost({ appVersion: '0.1.0', bundledModelsDir: root });

  it('reports the app version and the bundled CPU provider', async () => {
    const info = await host().getInfo();
    expect(info.version).toBe('0.1.0');
    expect(info.engine.providers).toContain('cpu');
    // CUDA needs the download Chord's install skips (package.json allowScripts), so it is not offered.
    expect(info.engine.providers).not.toContain('cuda');
  });

  it('refuses to generate with ENGINE_UNAVAILABLE', async () => {
    const request = {
      prompt: 'x',
      negative: '',
      model: join(root, 'glyph-sd'),
      loras: [],
      steps: 1,
      cfg: 7,
      sampler: 'euler' as const,
      seed: undefined,
      width: 64,
      height: 64,
      batchCount: 1,
    };
    await expect(host().generate(request)).rejects.toMatchObject({ name: 'ApiError', code: 'ENGINE_UNAVAILABLE' });
  });
});
