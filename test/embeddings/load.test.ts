import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEmbedding } from '../../src/engine/embeddings/load';
import { writeSafetensors } from '../../src/engine/safetensors';

const FIXTURES = fileURLToPath(new URL('../fixtures/embeddings/', import.meta.url));
const fixture = (name: string) => join(FIXTURES, name);
const SMALL = [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'chord-emb-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readEmbedding: formats', () => {
  it('reads an A1111 .pt (string_to_param) without running its pickle', async () => {
    const e = await readEmbedding(fixture('a1111-small.pt'), 4);
    expect(e.name).toBe('a1111-small');
    expect(e.vectors).toBe(2);
    expect([...e.data]).toEqual(SMALL);
    expect(e.fileHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('reads float16 storage and non-contiguous strides', async () => {
    expect([...(await readEmbedding(fixture('a1111-half.pt'), 4)).data]).toEqual(SMALL);
    expect([...(await readEmbedding(fixture('a1111-strided.pt'), 4)).data]).toEqual(SMALL);
  });

  it('reads a diffusers learned_embeds.bin (one token, one vector)', async () => {
    const e = await readEmbedding(fixture('diffusers-small.bin'), 4);
    expect(e.vectors).toBe(1);
    expect([...e.data]).toEqual(SMALL.slice(0, 4));
  });

  it('reads A1111 emb_params, SDXL-style clip_l and diffusers safetensors', async () => {
    const files = {
      'a.safetensors': { emb_params: { dtype: 'F32' as const, shape: [2, 4], data: SMALL } },
      'b.safetensors': { clip_g: { dtype: 'F16' as const, shape: [2, 6], data: new Array(12).fill(9) }, clip_l: { dtype: 'F16' as const, shape: [2, 4], data: SMALL } },
      'learned_embeds.safetensors': { '<cat-toy>': { dtype: 'F32' as const, shape: [4], data: SMALL.slice(4) } },
    };
    for (const [name, tensors] of Object.entries(files)) await writeSafetensors(join(dir, name), tensors);
    expect([...(await readEmbedding(join(dir, 'a.safetensors'), 4)).data]).toEqual(SMALL);
    expect([...(await readEmbedding(join(dir, 'b.safetensors'), 4)).data]).toEqual(SMALL);
    const d = await readEmbedding(join(dir, 'learned_embeds.safetensors'), 4);
    expect(d.name).toBe('learned_embeds');
    expect([...d.data]).toEqual(SMALL.slice(4));
  });
});

describe('readEmbedding: bad and hostile files', () => {
  it('refuses a pickle that names a Python callable, naming it', async () => {
    await expect(readEmbedding(fixture('hostile-code.pt'), 4)).rejects.toThrow(/names the Python object "(posix|os)\.system".*never runs code/);
  });

  it('refuses a wrong width, saying what the model takes', async () => {
    await expect(readEmbedding(fixture('a1111-small.pt'), 768)).rejects.toThrow(/width 4, but this model's text encoder takes width 768/);
  });

  it('refuses NaN values', async () => {
    await expect(readEmbedding(fixture('a1111-nan.pt'), 4)).rejects.toThrow(/not a finite number \(NaN\) at vector 1/);
  });

  it('refuses old-style PyTorch files and non-archives', async () => {
    await expect(readEmbedding(fixture('legacy.pt'), 4)).rejects.toThrow(/old-style/);
    await expect(readEmbedding(fixture('make_embeddings.py'), 4)).rejects.toThrow(/extension \.py/);
  });

  it('refuses a safetensors file with several unnamed tensors', async () => {
    const path = join(dir, 'many.safetensors');
    await writeSafetensors(path, { x: { dtype: 'F32', shape: [4], data: SMALL.slice(4) }, y: { dtype: 'F32', shape: [4], data: SMALL.slice(4) } });
    await expect(readEmbedding(path, 4)).rejects.toThrow(/no emb_params or clip_l/);
  });
});

describe('readTorchZip limits', () => {
  it('refuses an archive that unpacks past the limit before inflating it', async () => {
    const { zipSync } = await import('fflate');
    const { readTorchZip } = await import('../../src/engine/embeddings/torch-zip');
    const zip = zipSync({ 'x/data.pkl': new Uint8Array([0x80, 2, 0x4e, 0x2e]), 'x/data/0': new Uint8Array(4096) }, { level: 9 });
    expect(zip.length).toBeLessThan(1000);
    expect(readTorchZip(zip, 'bomb.pt')).toBeNull();
    expect(() => readTorchZip(zip, 'bomb.pt', 1000)).toThrow('bomb.pt unpacks to more than 1000 bytes');
  });
});
