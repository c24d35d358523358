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

describe('readTorchZip: hand-made pickles', () => {
  /** pickle opcodes from parts: strings become BINUNICODE, numbers BININT1, arrays raw opcodes */
  function pickle(...parts: Array<string | number | number[]>): Uint8Array {
    const out: number[] = [0x80, 2];
    for (const p of parts) {
      if (typeof p === 'number') out.push(0x4b, p);
      else if (Array.isArray(p)) out.push(...p);
      else {
        const bytes = new TextEncoder().encode(p);
        out.push(0x58, bytes.length, 0, 0, 0, ...bytes);
      }
    }
    return Uint8Array.from([...out, 0x2e]);
  }
  const op = { MARK: [0x28], TUPLE: [0x74], TUPLE1: [0x85], EMPTY_DICT: [0x7d], EMPTY_TUPLE: [0x29], SETITEM: [0x73], REDUCE: [0x52], PERSID: [0x51], FALSE: [0x89], TRUE: [0x88] };
  const global = (module: string, name: string) => [0x63, ...new TextEncoder().encode(`${module}\n${name}\n`)];
  const orderedDict = [...global('collections', 'OrderedDict'), ...op.EMPTY_TUPLE, ...op.REDUCE];

  it('reads a parameter saved with _rebuild_parameter_with_state (newer PyTorch), dropping the state', async () => {
    const { zipSync } = await import('fflate');
    const { readTorchZip } = await import('../../src/engine/embeddings/torch-zip');
    const tensor = [
      ...global('torch._utils', '_rebuild_tensor_v2'),
      ...op.MARK,
    ];
    const data = pickle(
      op.EMPTY_DICT, 'string_to_param', op.EMPTY_DICT, '*',
      global('torch._utils', '_rebuild_parameter_with_state'), op.MARK,
      tensor, op.MARK, 'storage', global('torch', 'FloatStorage'), '0', 'cpu', 2, op.TUPLE, op.PERSID,
      0, 2, op.TUPLE1, 1, op.TUPLE1, op.FALSE, orderedDict, op.TUPLE, op.REDUCE,
      op.TRUE, orderedDict, op.EMPTY_DICT, op.TUPLE, op.REDUCE,
      op.SETITEM, op.SETITEM,
    );
    const zip = zipSync({ 'e/data.pkl': data, 'e/data/0': new Uint8Array(new Float32Array([0.5, -2]).buffer) });
    const root = readTorchZip(zip, 'state.pt');
    const params = root !== null && typeof root === 'object' && !Array.isArray(root) && root.kind === 'dict' ? root.entries.get('string_to_param') : undefined;
    const t = params !== undefined && params !== null && typeof params === 'object' && !Array.isArray(params) && params.kind === 'dict' ? params.entries.get('*') : undefined;
    expect(t).toMatchObject({ kind: 'tensor', shape: [2] });
    expect([...(t as { data: Float32Array }).data]).toEqual([0.5, -2]);
  });

  it('refuses a call of an allowed global with arguments it does not read, and unknown instructions', async () => {
    const { zipSync } = await import('fflate');
    const { readTorchZip } = await import('../../src/engine/embeddings/torch-zip');
    const call = zipSync({ 'e/data.pkl': pickle(global('torch._utils', '_rebuild_parameter'), 'x', op.TUPLE1, op.REDUCE) });
    expect(() => readTorchZip(call, 'p.pt')).toThrow(/makes a parameter of something that is not a tensor/);
    const unknown = zipSync({ 'e/data.pkl': pickle([0x93]) });
    expect(() => readTorchZip(unknown, 'u.pt')).toThrow(/uses the pickle instruction 0x93/);
    const builtins = zipSync({ 'e/data.pkl': pickle(global('builtins', 'eval')) });
    expect(() => readTorchZip(builtins, 'b.pt')).toThrow(/names the Python object "builtins\.eval"/);
  });
});
