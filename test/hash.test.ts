import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashFile, modelHash } from '../src/engine/hash';

// sha256 of "abc" (FIPS 180-2 test vector) and of "abcabc" (`printf abcabc | sha256sum`)
const SHA_ABC = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
const SHA_ABCABC = 'bbb59da3af939f7af5f360f2ceb80a496e3bae1cd87dde426db0ae40677e1c2c';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'chord-hash-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('hashFile', () => {
  it('gives the sha256 of the file in hex', async () => {
    await writeFile(join(dir, 'a.bin'), 'abc');
    expect(await hashFile(join(dir, 'a.bin'))).toBe(SHA_ABC);
  });

  it('reuses a cached digest while path, size and mtime are unchanged', async () => {
    const path = join(dir, 'lora.safetensors');
    const when = new Date('2024-01-01T00:00:00Z'); // whole seconds survive utimes exactly
    await writeFile(path, 'abc');
    await utimes(path, when, when);
    const cache = new Map<string, string>();
    expect(await hashFile(path, cache)).toBe(SHA_ABC);
    expect(cache.size).toBe(1);

    // Same size, same mtime: the cache answers (proving it is used), even though bytes differ.
    await writeFile(path, 'xyz');
    await utimes(path, when, when);
    expect(await hashFile(path, cache)).toBe(SHA_ABC);

    // A new mtime means a new key: the file is read again.
    await utimes(path, when, new Date(when.getTime() + 5000));
    expect(await hashFile(path, cache)).not.toBe(SHA_ABC);
    expect(cache.size).toBe(2);
  });

  it('reports a missing file', async () => {
    await expect(hashFile(join(dir, 'missing.bin'))).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
  });
});

describe('modelHash', () => {
  it('is the sha256 of unet/model.onnx for a single-file UNet, ignoring configs', async () => {
    await mkdir(join(dir, 'unet'));
    await writeFile(join(dir, 'unet', 'model.onnx'), 'abc');
    await writeFile(join(dir, 'unet', 'config.json'), '{}');
    await writeFile(join(dir, 'unet', '.DS_Store'), 'junk');
    expect(await modelHash(dir)).toBe(SHA_ABC);
  });

  it('covers external weight files, after model.onnx, in name order', async () => {
    await mkdir(join(dir, 'unet'));
    await writeFile(join(dir, 'unet', 'model.onnx'), 'a');
    await writeFile(join(dir, 'unet', 'model.onnx_data'), 'bc');
    await writeFile(join(dir, 'unet', 'weights.pb'), 'abc');
    expect(await modelHash(dir)).toBe(SHA_ABCABC);
  });

  it('rejects a folder without unet/model.onnx', async () => {
    await expect(modelHash(dir)).rejects.toMatchObject({ code: 'MODEL_INVALID' });
    await mkdir(join(dir, 'unet'));
    await expect(modelHash(dir)).rejects.toMatchObject({ code: 'MODEL_INVALID', message: expect.stringContaining('unet/model.onnx') });
  });
});
