import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import extractChunks from 'png-chunks-extract';
import encodeChunks from 'png-chunks-encode';
import pngText from 'png-chunk-text';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { ChordError } from '../../src/engine/errors';
import { encodeCompressedITXt, encodeITXt, encodeZTXt } from '../../src/engine/png/chunks';
import { encodeImage, readImageInfo, saveImage } from '../../src/engine/png/image';
import { gradient, sampleRecord } from './fixtures';

const W = 8;
const H = 4;

/** A plain PNG from sharp with extra chunks put where Pillow puts them (before IDAT). */
async function pngWith(chunks: { name: string; data: Uint8Array }[]): Promise<Buffer> {
  const png = await sharp(gradient(W, H), { raw: { width: W, height: H, channels: 3 } }).png().toBuffer();
  const all = extractChunks(png);
  const idat = all.findIndex((c) => c.name === 'IDAT');
  all.splice(idat, 0, ...chunks);
  return Buffer.from(encodeChunks(all));
}

async function expectPngError(source: string | Uint8Array, message: RegExp): Promise<void> {
  const error = await readImageInfo(source).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ChordError);
  expect((error as ChordError).code).toBe('PNG_INVALID');
  expect((error as ChordError).message).toMatch(message);
  expect((error as ChordError).message).not.toContain('\n');
}

/** Flips one byte inside the data of the first chunk named `name`, leaving its CRC stale. */
function corrupt(png: Buffer, name: string): Buffer {
  const copy = Buffer.from(png);
  const at = copy.indexOf(name, 8, 'latin1');
  copy[at + 6] ^= 0xff;
  return copy;
}

describe('encodeImage / readImageInfo', () => {
  it('round-trips the record, the pixels and the size', async () => {
    const record = sampleRecord();
    const rgb = gradient(W, H);
    const png = await encodeImage(rgb, W, H, record);
    const info = await readImageInfo(png);
    expect(info.chord).toEqual(record);
    expect(info.hasMetadata).toBe(true);
    expect([info.width, info.height]).toEqual([W, H]);
    expect(info.a1111?.seed).toBe(1234);
    expect(info.parameters?.split('\n')[1]).toBe('Negative prompt: blurry, lowres');
    const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect(new Uint8Array(data)).toEqual(rgb);
  });

  it('writes parameters as tEXt for an ASCII prompt and as iTXt for a non-ASCII one, before IDAT', async () => {
    const ascii = extractChunks(await encodeImage(gradient(W, H), W, H, sampleRecord()));
    const names = ascii.map((c) => c.name);
    expect(names.indexOf('tEXt')).toBeLessThan(names.indexOf('IDAT'));
    expect(pngText.decode(ascii.find((c) => c.name === 'tEXt')!).keyword).toBe('parameters');
    expect(ascii.filter((c) => c.name === 'iTXt')).toHaveLength(1); // the chord record

    const record = sampleRecord({ prompt: 'château sous la neige, 雪の城 🏰', negativePrompt: 'flou' });
    const png = await encodeImage(gradient(W, H), W, H, record);
    const chunks = extractChunks(png);
    expect(chunks.filter((c) => c.name === 'tEXt')).toHaveLength(0);
    expect(chunks.filter((c) => c.name === 'iTXt')).toHaveLength(2);
    const info = await readImageInfo(png);
    expect(info.a1111?.prompt.startsWith('château sous la neige, 雪の城 🏰')).toBe(true);
    expect(info.chord?.prompt).toBe(record.prompt);
  });

  it('keeps Latin-1 prompts in tEXt (as A1111 does) and reads them back exactly', async () => {
    const record = sampleRecord({ prompt: 'café crème, señor' });
    const chunks = extractChunks(await encodeImage(gradient(W, H), W, H, record));
    expect(chunks.filter((c) => c.name === 'tEXt')).toHaveLength(1);
    const info = await readImageInfo(encodeChunks(chunks));
    expect(info.a1111?.prompt.startsWith('café crème, señor')).toBe(true);
  });

  it('reads an image made by A1111 (tEXt parameters, no chord record)', async () => {
    const text = 'a fox <lora:foxy:0.7>\nNegative prompt: blur\nSteps: 30, Sampler: Euler, Schedule type: Automatic, CFG scale: 5, Seed: 42, Size: 8x4, Model hash: 6ce0161689, Lora hashes: "foxy: 0123456789ab", Version: v1.10.1';
    const info = await readImageInfo(await pngWith([pngText.encode('parameters', text)]));
    expect(info.hasMetadata).toBe(true);
    expect(info.chord).toBeUndefined();
    expect(info.parameters).toBe(text);
    expect(info.a1111).toMatchObject({ prompt: 'a fox <lora:foxy:0.7>', negativePrompt: 'blur', steps: 30, sampler: 'Euler', seed: 42 });
    expect(info.a1111?.loraHashes).toEqual([{ name: 'foxy', hash: '0123456789ab' }]);
  });

  it('reads zTXt and compressed iTXt, and lists every text chunk', async () => {
    const record = sampleRecord({ prompt: 'zürich' });
    const png = await pngWith([
      encodeZTXt('parameters', 'zürich\nSteps: 9, Sampler: Euler, CFG scale: 4'),
      encodeCompressedITXt('chord', JSON.stringify(record)),
      encodeITXt('workflow', '{"nodes":[]}'),
    ]);
    const info = await readImageInfo(png);
    expect(info.a1111).toMatchObject({ prompt: 'zürich', steps: 9, cfgScale: 4 });
    expect(info.chord).toEqual(record);
    expect(Object.keys(info.text)).toEqual(['parameters', 'chord', 'workflow']);
  });

  it('says when a PNG has no metadata, without an error', async () => {
    const info = await readImageInfo(await pngWith([pngText.encode('Software', 'something')]));
    expect(info.hasMetadata).toBe(false);
    expect(info.a1111).toBeUndefined();
    expect(info.chord).toBeUndefined();
    expect(info.text).toEqual({ Software: 'something' });
  });
});

describe('unreadable images', () => {
  let png: Buffer;
  beforeAll(async () => {
    png = await encodeImage(gradient(W, H), W, H, sampleRecord());
  });

  it('rejects a chunk whose CRC does not match', async () => {
    await expectPngError(corrupt(png, 'iTXt'), /damaged \(its iTXt chunk fails its checksum\)/);
  });

  it('rejects a truncated file', async () => {
    await expectPngError(png.subarray(0, png.length - 20), /truncated/);
    await expectPngError(png.subarray(0, 30), /truncated/);
  });

  it('rejects what is not a PNG', async () => {
    await expectPngError(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46]), /not a PNG image/);
    await expectPngError(new Uint8Array(0), /not a PNG image/);
  });

  it('reads a record of Chord 0.1.0, whose LoRAs have no a1111Hash', async () => {
    const old = sampleRecord();
    for (const l of old.loras) delete l.a1111Hash;
    // as Chord 0.1.0 wrote it: the whole-file hash prefix in "Lora hashes"
    const parameters = 'a castle\nSteps: 20, Sampler: Euler a, Seed: 1234, Lora hashes: "castleStyle: abcdef123456, knight: 0123456789ab"';
    const info = await readImageInfo(await pngWith([pngText.encode('parameters', parameters), encodeITXt('chord', JSON.stringify(old))]));
    expect(info.chord).toEqual(old);
    expect(info.chord?.loras.every((l) => l.a1111Hash === undefined)).toBe(true);
    expect(info.a1111?.loraHashes).toEqual([
      { name: 'castleStyle', hash: 'abcdef123456' },
      { name: 'knight', hash: '0123456789ab' },
    ]);
  });

  it('rejects an a1111Hash that is not 12 lower-case hex digits', async () => {
    for (const bad of [sampleRecord().loras[0].fileHash, 'ABCDEF123456', '5e1f00c0ffe']) {
      const record = sampleRecord();
      record.loras[1].a1111Hash = bad;
      await expect(encodeImage(gradient(W, H), W, H, record)).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: expect.stringContaining('loras.1.a1111Hash') });
      await expectPngError(await pngWith([encodeITXt('chord', JSON.stringify(record))]), /loras\.1\.a1111Hash/);
    }
  });

  it('rejects a chord record that is not JSON, not a record, or from a newer Chord', async () => {
    await expectPngError(await pngWith([encodeITXt('chord', '{"version": 1,')]), /Chord settings are not valid JSON/);
    const bad = { ...sampleRecord(), seed: -5 };
    await expectPngError(await pngWith([encodeITXt('chord', JSON.stringify(bad))]), /Chord settings are invalid \(seed: /);
    const shuffled = { ...sampleRecord(), ordering: { rule: 'x', order: [0, 0] } };
    await expectPngError(await pngWith([encodeITXt('chord', JSON.stringify(shuffled))]), /ordering.order/);
    const newer = { ...sampleRecord(), version: 2 };
    await expectPngError(await pngWith([encodeITXt('chord', JSON.stringify(newer))]), /newer Chord/);
  });

  it('rejects a malformed text chunk', async () => {
    const broken = { name: 'iTXt', data: Buffer.from('chord\0\x01\0\0\0not zlib', 'latin1') };
    await expectPngError(await pngWith([broken]), /damaged iTXt text chunk \(its compressed text does not decompress\)/);
    const noEnd = { name: 'zTXt', data: Buffer.from('parameters-without-end', 'latin1') };
    await expectPngError(await pngWith([noEnd]), /no end to its keyword/);
  });

  it('names the file and reports a missing one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'chord-png-'));
    try {
      const path = join(dir, 'saved.png');
      await saveImage(path, gradient(W, H), W, H, sampleRecord());
      expect((await readImageInfo(path)).chord?.seed).toBe(1234);
      await writeFile(join(dir, 'broken.png'), corrupt(await readFile(path), 'IDAT'));
      await expectPngError(join(dir, 'broken.png'), /^broken\.png is damaged \(its IDAT chunk fails its checksum\)\.$/);
      await expect(readImageInfo(join(dir, 'nope.png'))).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
      expect((await readdir(dir)).sort()).toEqual(['broken.png', 'saved.png']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('encodeImage arguments', () => {
  it('rejects pixels that do not match the size, and a record of another size', async () => {
    await expect(encodeImage(new Uint8Array(10), W, H, sampleRecord())).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await expect(encodeImage(gradient(4, 8), 4, 8, sampleRecord())).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      message: 'Image is 4x8 but its settings say 8x4.',
    });
  });

  it('rejects an incomplete record before writing anything', async () => {
    const record = sampleRecord();
    record.loras[0].fileHash = 'abc';
    await expect(encodeImage(gradient(W, H), W, H, record)).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      message: expect.stringContaining('loras.0.fileHash'),
    });
  });
});

