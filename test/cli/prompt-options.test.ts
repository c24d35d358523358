/** `chord` options for prompt syntax: --lora-dir, --embedding-dir, tokenize placeholders, info's TI hashes. */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeText, insertChunks } from '../../src/engine/png/chunks';
import { writeSafetensors } from '../../src/engine/safetensors';
import { makeTmpDir, testModelDir } from '../pipeline/helpers';
import { cli } from './helpers';

const MODEL = testModelDir();
const tmp = makeTmpDir('chord-cli-prompt-');
afterAll(() => tmp.cleanup());
const embeddings = join(tmp.dir, 'embeddings');
mkdirSync(embeddings);
copyFileSync(join(__dirname, '..', 'fixtures', 'embeddings', 'glyphzorb.pt'), join(embeddings, 'glyphzorb.pt'));

describe('chord prompt options', () => {
  it('tokenize --embedding-dir shows an embedding name as its placeholder id (after the 250-token vocabulary)', async () => {
    const plain = await cli('tokenize', '--model', MODEL, '--json', 'zorb glyphzorb');
    const withEmb = await cli('tokenize', '--model', MODEL, '--json', '--embedding-dir', embeddings, 'zorb glyphzorb');
    const ids = (r: { out: string[] }) => (JSON.parse(r.out[0]) as { ids: number[] }).ids;
    expect(ids(plain).length).toBeGreaterThan(4);
    expect(ids(withEmb)).toEqual([248, 119, 250, 249]);
  });

  it('generate with a tag and an embedding; info reads the TI hashes back', async () => {
    const out = join(tmp.dir, 'a.png');
    const r = await cli('generate', 'glyphzorb on a gray background <lora:zorb:1>', '--lora-dir', join(MODEL, 'loras'), '--embedding-dir', embeddings, '--steps', '2', '--seed', '3', '--out', out);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    const info = await cli('info', out);
    expect(info.out[1].split('\n')[0]).toBe('glyphzorb on a gray background <lora:zorb:1>');
    expect(info.out).toContainEqual(expect.stringMatching(/^Embeddings \(TI hashes\): glyphzorb [0-9a-f]{12}$/));
  });

  it('--from remakes an image made with a two-weight tag and an embedding, bit for bit', async () => {
    const out = join(tmp.dir, 'tagged.png');
    const again = join(tmp.dir, 'tagged-again.png');
    const first = await cli('generate', '(glyphzorb:1.2) on a gray background <lora:zorb:0.5:0.9>', '--lora-dir', join(MODEL, 'loras'), '--embedding-dir', embeddings, '--steps', '2', '--seed', '4', '--out', out);
    expect(first.err).toEqual([]);
    // no --lora-dir: the tag's LoRA is found by its recorded hash beside the model
    const remade = await cli('generate', '--from', out, '--embedding-dir', embeddings, '--out', again);
    expect(remade.err).toEqual([]);
    const px = async (f: string) => (await sharp(f).raw().toBuffer({ resolveWithObject: true })).data;
    expect((await px(out)).equals(await px(again))).toBe(true);
    const info = await cli('info', '--json', again);
    const chord = (JSON.parse(info.out[0]) as { chord: { loras: unknown[] } }).chord;
    expect(chord.loras).toEqual([expect.objectContaining({ name: 'zorb', weight: 0.9, textEncoderWeight: 0.5, promptTag: true })]);
    // the embedding must be the recorded file
    const missing = await cli('generate', '--from', out, '--out', join(tmp.dir, 'x.png'));
    expect(missing.err).toEqual(['chord: The image was made with the embedding glyphzorb, which no --embedding-dir folder holds. Pass the folder holding the original embedding with --embedding-dir.']);
    const other = join(tmp.dir, 'other-emb');
    mkdirSync(other);
    await writeSafetensors(join(other, 'glyphzorb.safetensors'), { emb_params: { dtype: 'F32', shape: [1, 64], data: new Float32Array(64).fill(0.1) } });
    const changed = await cli('generate', '--from', out, '--embedding-dir', other, '--out', join(tmp.dir, 'y.png'));
    expect(changed.err[0]).toMatch(/^chord: The embedding .*glyphzorb\.safetensors is not the glyphzorb this image was made with \(its hash differs\)\./);
  });

  it('info reads the TI hashes of an image made by A1111', async () => {
    const rgb = new Uint8Array(4 * 4 * 3).fill(128);
    const png = await sharp(rgb, { raw: { width: 4, height: 4, channels: 3 } }).png().toBuffer();
    const text = 'a cat, EasyNegative\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 4x4, TI hashes: "easynegative: c74b4e810b03, bad_hands: 1234567890ab", Version: v1.10.1';
    const file = join(tmp.dir, 'a1111.png');
    writeFileSync(file, insertChunks(png, [encodeText('parameters', text)]));
    const r = await cli('info', file);
    expect(r.out).toContain('Embeddings (TI hashes): easynegative c74b4e810b03, bad_hands 1234567890ab');
  });

  it('an unknown tag is one line naming the folders searched', async () => {
    const dir = join(MODEL, 'loras');
    const r = await cli('generate', 'x <lora:nope:1>', '--lora-dir', dir, '--steps', '1', '--out', join(tmp.dir, 'b.png'));
    expect(r.code).toBe(1);
    expect(r.err).toEqual([`chord: No LoRA named "nope" (from <lora:nope:1>) in ${dir}. The name is the file name without .safetensors, or the alias in its metadata; check the spelling or add the folder with --lora-dir.`]);
  });
});
