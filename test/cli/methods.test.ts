/**
 * `chord generate --method/--order/--from`: method flags, their one-line errors, the JSON step
 * log, the record, and remaking an image from its record bit for bit.
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { readImageInfo, saveImage } from '../../src/engine/png/image';
import type { ChordImageRecord } from '../../src/engine/png/record';
import { ENGINE_VERSION } from '../../src/engine/pipeline/record';
import { makeTmpDir, testModelDir } from '../pipeline/helpers';
import { cli, chordProcess } from './helpers';

const MODEL = testModelDir();
const tmp = makeTmpDir('chord-cli-methods-');
afterAll(() => tmp.cleanup());
const lora = (name: string) => join(MODEL, 'loras', `${name}.safetensors`);

const chord = (args: string[]) => chordProcess(tmp.dir, args);

const pixels = async (file: string) => (await sharp(file).raw().toBuffer()).toString('base64');

describe('method flags', () => {
  it('wrong combinations are one line and exit 1', async () => {
    const cases: [string[], RegExp][] = [
      [['generate', 'x', '--switch-interval', '3'], /^chord: --switch-interval is an option of --method switch \(the method is merge\)\. Drop --switch-interval or use --method switch\.$/],
      [['generate', 'x', '--method', 'switch', '--cache-interval', '2,3'], /--cache-interval is an option of --method cmlora/],
      [['generate', 'x', '--method', 'cmlora', '--cache-interval', '0,3'], /--cache-interval takes two whole numbers of at least 1/],
      [['generate', 'x', '--method', 'blend'], /argument 'blend' is invalid.*merge, switch, composite, cmlora/],
      [['generate', 'x', '--method', 'composite', '--model', MODEL, '--outdir', join(tmp.dir, 'none')], /^chord: The Composite method composes LoRAs; give at least 1\./],
      [['generate', 'x', '--from', join(tmp.dir, 'a.png'), '--seed', '3'], /--from remakes an image from its own settings/],
      [['generate', 'x', '--method', 'switch', '--order', 'zorb,zorb', '--model', MODEL, '--lora', lora('zorb'), '--lora', lora('hat'), '--outdir', join(tmp.dir, 'none')], /The order names zorb twice/],
      [['generate', 'x', '--method', 'switch', '--order', 'zorb,ball', '--model', MODEL, '--lora', lora('zorb'), '--lora', lora('hat'), '--outdir', join(tmp.dir, 'none')], /The order names ball, which is not one of the LoRAs \(zorb, hat\)/],
    ];
    for (const [args, pattern] of cases) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.err, args.join(' ')).toHaveLength(1);
      expect(r.err[0], args.join(' ')).toMatch(pattern);
    }
  }, 60_000);
});

describe('generate --method switch, then --from', () => {
  it('logs the active LoRA of every step, records the method, and remakes the image bit for bit', async () => {
    const out = join(tmp.dir, 'switch.png');
    const r = await chord([
      'generate', 'zorb hatz', '--model', MODEL, '--lora', lora('hat'), '--lora', `${lora('zorb')}:0.9`,
      '--method', 'switch', '--switch-interval', '2', '--order', 'category', '--steps', '6', '--seed', '11', '--sampler', 'dpmpp_2m', '--out', out, '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const image = (JSON.parse(r.stdout) as { images: { method: unknown; steps: { active: string[]; full: number; shallow: number }[]; totals: unknown }[] }).images[0];
    // category order: the character (zorb) before the clothing (hat), whatever the listing
    expect(image.method).toEqual({ name: 'switch', options: { tau: 2 }, order: ['zorb', 'hat'] });
    expect(image.steps.map((s) => s.active)).toEqual([['zorb'], ['zorb'], ['zorb'], ['hat'], ['hat'], ['zorb']]);
    expect(image.totals).toEqual({ full: 6, shallow: 0 });

    const record = (await readImageInfo(out)).chord;
    expect(record?.method).toBe('switch');
    expect(record?.methodOptions).toEqual({ tau: 2 });
    expect(record?.ordering).toEqual({ rule: 'category', order: [1, 0] });
    expect(record?.stepLog?.map((s) => s.active)).toEqual([[1], [1], [1], [0], [0], [1]]);
    expect((await readImageInfo(out)).parameters).toMatch(/Composition: "switch \(tau 2; order zorb, hat\)"/);

    const again = join(tmp.dir, 'again.png');
    const remade = await chord(['generate', '--from', out, '--model', MODEL, '--out', again]);
    expect(remade.stderr).toBe('');
    expect(remade.code).toBe(0);
    expect(await pixels(again)).toBe(await pixels(out));
    // the same settings; the order is now given by name, as the record listed it
    expect((await readImageInfo(again)).chord).toEqual({ ...record, ordering: { rule: 'names', order: [1, 0] } });

    // an image another engine version made: remade, with one warning line that says so
    const older = join(tmp.dir, 'older.png');
    const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    await saveImage(older, new Uint8Array(data), info.width, info.height, { ...(record as ChordImageRecord), engineVersion: '0.2.0' });
    const fromOlder = await chord(['generate', '--from', older, '--model', MODEL, '--out', join(tmp.dir, 'older-again.png')]);
    expect(fromOlder.code).toBe(0);
    expect(fromOlder.stderr.trim().split('\n')).toEqual([
      `chord: warning: ${older} was made by Chord's engine 0.2.0 and this is ${ENGINE_VERSION}: the remake may differ from it (docs/image-metadata.md says what changed).`,
    ]);
  }, 120_000);

  it('--from an image without Chord settings, or with a LoRA that is nowhere, is one clear line', async () => {
    const plain = join(tmp.dir, 'plain.png');
    await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toFile(plain);
    const r = await cli('generate', '--from', plain);
    expect(r.err).toEqual([`chord: ${plain} holds no Chord settings, so it cannot be remade. Use an image Chord made (chord info shows its settings).`]);
  });
});
