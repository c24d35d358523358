import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ChordError } from '../../src/engine/errors';
import {
  DTYPE_SIZE,
  SafetensorsFile,
  decodeToFloat32,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  readSafetensorsHeader,
  serializeSafetensors,
  withSafetensors,
  writeSafetensors,
} from '../../src/engine/safetensors';

const dir = mkdtempSync(join(tmpdir(), 'chord-st-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const tmp = (name = 'f.safetensors'): string => join(dir, `${n++}-${name}`);

/** A file from a literal header string and data bytes, with an optional fake length field. */
function raw(header: string, data: Uint8Array = new Uint8Array(0), claimedLength?: bigint): string {
  const json = Buffer.from(header, 'utf8');
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(claimedLength ?? BigInt(json.length));
  const path = tmp();
  writeFileSync(path, Buffer.concat([head, json, Buffer.from(data)]));
  return path;
}

async function openError(path: string): Promise<ChordError> {
  try {
    const f = await SafetensorsFile.open(path);
    await f.close();
  } catch (e) {
    expect(e).toBeInstanceOf(ChordError);
    return e as ChordError;
  }
  throw new Error('expected SafetensorsFile.open to fail');
}

describe('half-precision conversion', () => {
  it('decodes f16 bit patterns exactly', () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x3555)).toBeCloseTo(0.333251953125, 12);
    expect(f16ToF32(0x0001)).toBe(2 ** -24); // smallest subnormal
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(Number.isNaN(f16ToF32(0x7e00))).toBe(true);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
  });

  it('encodes f16 with round-to-nearest-even', () => {
    expect(f32ToF16(1)).toBe(0x3c00);
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00); // rounds up to inf
    expect(f32ToF16(2 ** -24)).toBe(0x0001);
    expect(f32ToF16(2 ** -25)).toBe(0x0000); // tie -> even (0)
    expect(f32ToF16(3 * 2 ** -25)).toBe(0x0002); // 1.5 ulp -> 2 (even)
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie between 1 and next -> even
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    for (const v of [0.1, -3.75, 1e-5, 1234]) expect(f16ToF32(f32ToF16(v))).toBeCloseTo(v, 2);
  });

  it('encodes and decodes bf16', () => {
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(f32ToBf16(-2)).toBe(0xc000);
    const bytes = new Uint8Array([0x80, 0x3f, 0x49, 0x40]); // 1.0, 3.140625
    expect(Array.from(decodeToFloat32(bytes, 'BF16'))).toEqual([1, 3.140625]);
  });
});

describe('writeSafetensors / SafetensorsFile', () => {
  it('round-trips every dtype with metadata', async () => {
    const path = tmp();
    await writeSafetensors(
      path,
      {
        a_f32: { dtype: 'F32', shape: [2, 2], data: [1, -2, 3.5, 0.25] },
        b_f16: { dtype: 'F16', shape: [3], data: [1, 0.5, -65504] },
        c_bf16: { dtype: 'BF16', shape: [2], data: [1, -2] },
        d_f64: { dtype: 'F64', shape: [1], data: [0.1] },
        e_i64: { dtype: 'I64', shape: [2], data: [-5, 7] },
        f_i32: { dtype: 'I32', shape: [1], data: [123456] },
        g_i16: { dtype: 'I16', shape: [1], data: [-300] },
        h_i8: { dtype: 'I8', shape: [2], data: [-1, 2] },
        i_u8: { dtype: 'U8', shape: [2], bytes: new Uint8Array([0, 255]) },
        j_bool: { dtype: 'BOOL', shape: [3], data: [0, 1, 5] },
        k_empty: { dtype: 'F32', shape: [0, 4], data: [] },
      },
      { ss_network_dim: '4', note: 'hello' },
    );
    await withSafetensors(path, async (f) => {
      expect(f.metadata).toEqual({ ss_network_dim: '4', note: 'hello' });
      expect(f.names().sort()).toEqual(['a_f32', 'b_f16', 'c_bf16', 'd_f64', 'e_i64', 'f_i32', 'g_i16', 'h_i8', 'i_u8', 'j_bool', 'k_empty']);
      expect(f.info('a_f32').shape).toEqual([2, 2]);
      expect(Array.from(await f.readFloat32('a_f32'))).toEqual([1, -2, 3.5, 0.25]);
      expect(Array.from(await f.readFloat32('b_f16'))).toEqual([1, 0.5, -65504]);
      expect(Array.from(await f.readFloat32('c_bf16'))).toEqual([1, -2]);
      expect((await f.readFloat32('d_f64'))[0]).toBeCloseTo(0.1, 7);
      expect(Array.from(await f.readFloat32('e_i64'))).toEqual([-5, 7]);
      expect(Array.from(await f.readFloat32('f_i32'))).toEqual([123456]);
      expect(Array.from(await f.readFloat32('g_i16'))).toEqual([-300]);
      expect(Array.from(await f.readFloat32('h_i8'))).toEqual([-1, 2]);
      expect(Array.from(await f.readFloat32('i_u8'))).toEqual([0, 255]);
      expect(Array.from(await f.readFloat32('j_bool'))).toEqual([0, 1, 1]);
      expect((await f.readFloat32('k_empty')).length).toBe(0);
    });
    // header padded to 8 bytes; every tensor aligned to its element size
    const header = await readSafetensorsHeader(path);
    expect(header.dataStart % 8).toBe(0);
    for (const t of header.tensors) expect(t.begin % DTYPE_SIZE[t.dtype]).toBe(0);
  });

  it('writes atomically: no temp file left, replaces an existing file', async () => {
    const sub = mkdtempSync(join(dir, 'atomic-'));
    const path = join(sub, 'x.safetensors');
    writeFileSync(path, 'old');
    await writeSafetensors(path, { w: { dtype: 'F32', shape: [1], data: [2] } });
    expect(readdirSync(sub)).toEqual(['x.safetensors']);
    await withSafetensors(path, async (f) => expect(Array.from(await f.readFloat32('w'))).toEqual([2]));
    // a bad tensor fails before anything is written; the old file stays
    await expect(writeSafetensors(path, { w: { dtype: 'F32', shape: [2], data: [1] } })).rejects.toThrow(/needs 8/);
    expect(readdirSync(sub)).toEqual(['x.safetensors']);
  });

  it('says which path it could not write', async () => {
    const path = join(dir, 'missing-folder', 'x.safetensors');
    await expect(writeSafetensors(path, { w: { dtype: 'F32', shape: [1], data: [1] } })).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      message: `Could not write ${path} (ENOENT).`,
    });
  });

  it('serializes the same bytes it writes', async () => {
    const tensors = { w: { dtype: 'F16' as const, shape: [2], data: [1, 2] } };
    const path = tmp();
    await writeSafetensors(path, tensors, { a: 'b' });
    expect(Buffer.compare(readFileSync(path), Buffer.from(serializeSafetensors(tensors, { a: 'b' })))).toBe(0);
  });

  it('reads the header of a 3 GB (sparse) file without loading it', async () => {
    const big = 3 * 1024 ** 3;
    const header = JSON.stringify({ tail: { dtype: 'F32', shape: [2], data_offsets: [big - 8, big] } });
    const path = raw(header);
    const headerEnd = 8 + Buffer.byteLength(header);
    truncateSync(path, headerEnd + big); // a hole: no data is written to disk
    const t0 = Date.now();
    await withSafetensors(path, async (f) => {
      expect(f.size).toBe(headerEnd + big);
      expect(Array.from(await f.readFloat32('tail'))).toEqual([0, 0]);
    });
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('accepts a huge zero-sized shape', async () => {
    const h = await readSafetensorsHeader(raw(JSON.stringify({ z: { dtype: 'F32', shape: [2 ** 40, 0], data_offsets: [0, 0] } })));
    expect(h.tensors[0].shape).toEqual([2 ** 40, 0]);
  });

  it('keeps non-string metadata values as JSON text', async () => {
    const path = raw(JSON.stringify({ __metadata__: { a: 'x', b: 3, c: { d: 1 } } }));
    const h = await readSafetensorsHeader(path);
    expect(h.metadata).toEqual({ a: 'x', b: '3', c: '{"d":1}' });
    expect(h.tensors).toEqual([]);
  });
});

describe('hostile files are refused with SAFETENSORS_INVALID', () => {
  const ok = JSON.stringify({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } });
  const eight = new Uint8Array(8);

  it('accepts the well-formed control case', async () => {
    const f = await SafetensorsFile.open(raw(ok, eight));
    expect(f.names()).toEqual(['w']);
    await f.close();
  });

  const cases: Array<[string, () => string, RegExp]> = [
    ['a file shorter than 8 bytes', () => { const p = tmp(); writeFileSync(p, Buffer.from([1, 2, 3])); return p; }, /truncated/],
    ['an empty file', () => { const p = tmp(); writeFileSync(p, ''); return p; }, /only 0 bytes/],
    ['a header length beyond the file', () => raw(ok, eight, 5000n), /claims 5000 bytes.*truncated/],
    ['a 200 MB header claim', () => raw(ok, eight, 200n * 1024n * 1024n), /more than the 100 MB/],
    ['a 2^64-1 header claim', () => raw(ok, eight, 0xffffffffffffffffn), /more than the 100 MB/],
    ['truncated data', () => raw(ok, new Uint8Array(4)), /ends at byte 8 but the data section has only 4/],
    ['offsets out of range', () => raw(JSON.stringify({ w: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }), eight), /ends at byte 16/],
    ['negative offsets', () => raw(JSON.stringify({ w: { dtype: 'F32', shape: [2], data_offsets: [-8, 0] } }), eight), /bad data_offsets/],
    ['reversed offsets', () => raw(JSON.stringify({ w: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }), eight), /out of order/],
    ['fractional offsets', () => raw(JSON.stringify({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8.5] } }), eight), /bad data_offsets/],
    [
      'overlapping tensors',
      () => raw(JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }), eight),
      /'a' and 'b' overlap/,
    ],
    [
      'overlap hidden behind an empty tensor',
      () =>
        raw(
          JSON.stringify({
            a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
            e: { dtype: 'F32', shape: [0], data_offsets: [2, 2] },
            b: { dtype: 'U8', shape: [2], data_offsets: [6, 8] },
          }),
          eight,
        ),
      /'a' and 'b' overlap/,
    ],
    ['an unknown dtype', () => raw(JSON.stringify({ w: { dtype: 'F8_E4M3', shape: [8], data_offsets: [0, 8] } }), eight), /unsupported dtype "F8_E4M3"/],
    ['a dtype that is not a string', () => raw(JSON.stringify({ w: { dtype: 4, shape: [2], data_offsets: [0, 8] } }), eight), /unsupported dtype 4/],
    ['a shape/size mismatch', () => raw(JSON.stringify({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }), eight), /needs 12 bytes but its data_offsets span 8/],
    ['a negative dimension', () => raw(JSON.stringify({ w: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }), eight), /bad shape/],
    [
      'a shape whose product overflows',
      () => raw(JSON.stringify({ w: { dtype: 'U8', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] } }), eight),
      /needs \d+ bytes but its data_offsets span 8/,
    ],
    ['non-JSON', () => raw('{"w": not json}', eight), /not valid JSON/],
    ['a JSON array', () => raw('[1, 2, 3]', eight), /not a JSON object/],
    ['a tensor entry that is not an object', () => raw('{"w": 5}', eight), /no description object/],
    ['bad __metadata__', () => raw('{"__metadata__": [1]}', eight), /__metadata__ is not an object/],
    ['invalid UTF-8', () => { const p = tmp(); const b = Buffer.alloc(12); b.writeBigUInt64LE(4n); b.set([0x7b, 0xff, 0xfe, 0x7d], 8); writeFileSync(p, b); return p; }, /not UTF-8/],
  ];
  for (const [what, make, message] of cases) {
    it(`refuses ${what}`, async () => {
      const e = await openError(make());
      expect(e.code).toBe('SAFETENSORS_INVALID');
      expect(e.message).toMatch(message);
      expect(e.message).not.toMatch(/\n/);
    });
  }

  it('reports a missing file as FILE_NOT_FOUND', async () => {
    const e = await openError(join(dir, 'nope.safetensors'));
    expect(e.code).toBe('FILE_NOT_FOUND');
    expect(existsSync(join(dir, 'nope.safetensors'))).toBe(false);
  });
});
