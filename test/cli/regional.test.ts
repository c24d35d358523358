/**
 * `chord generate --region/--regions`: parsing, one-line errors, the JSON summary and record, and
 * remaking a regional image from its record bit for bit.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { parseRegionSpec, readRegionsFile } from '../../src/engine/host/regions';
import { readImageInfo } from '../../src/engine/png/image';
import { makeTmpDir, testModelDir } from '../pipeline/helpers';
import { chordProcess, cli } from './helpers';

const MODEL = testModelDir();
const tmp = makeTmpDir('chord-cli-regional-');
afterAll(() => tmp.cleanup());
const lora = (name: string) => join(MODEL, 'loras', `${name}.safetensors`);

const chord = (args: string[]) => chordProcess(tmp.dir, args);

const pixels = async (file: string) => (await sharp(file).raw().toBuffer()).toString('base64');

describe('region parsing', () => {
  it('--region: box | prompt | negative | FILE:W,FILE:W, empty fields allowed', () => {
    expect(parseRegionSpec('0,0,0.5,1|zorb on the left|blurry|a.safetensors:0.8,b.safetensors')).toEqual({
      box: [0, 0, 0.5, 1],
      prompt: 'zorb on the left',
      negative: 'blurry',
      loras: [{ path: 'a.safetensors', weight: 0.8 }, { path: 'b.safetensors', weight: 1 }],
    });
    expect(parseRegionSpec('0.5,0,1,1')).toEqual({ box: [0.5, 0, 1, 1], prompt: '', negative: '', loras: [] });
    expect(parseRegionSpec('0.5,0,1,1|||')).toEqual({ box: [0.5, 0, 1, 1], prompt: '', negative: '', loras: [] });
    expect(() => parseRegionSpec('0,0,1|x')).toThrow(/the box must be four numbers/);
    expect(() => parseRegionSpec('0,0,1,1|a|b|c|d')).toThrow(/has 5 fields; expected at most 4/);
  });

  it('--regions FILE.json: LoRA paths from the file\'s folder; a bad file is one line', async () => {
    const file = join(tmp.dir, 'regions.json');
    writeFileSync(file, JSON.stringify([{ box: [0, 0, 0.5, 1], prompt: 'zorb', loras: [{ path: 'zorb.safetensors' }] }]));
    expect(await readRegionsFile(file)).toEqual([{ box: [0, 0, 0.5, 1], prompt: 'zorb', negative: '', loras: [{ path: join(tmp.dir, 'zorb.safetensors'), weight: 1 }] }]);
    writeFileSync(file, JSON.stringify([{ box: [0, 0, 0.5], prompt: 'zorb' }]));
    await expect(readRegionsFile(file)).rejects.toThrow(/regions\.json: 0\.box/);
    writeFileSync(file, '[{');
    await expect(readRegionsFile(file)).rejects.toThrow(/is not valid JSON/);
  });
});

describe('generate --region errors', () => {
  it('bad regions and wrong combinations are one line and exit 1', async () => {
    const out = ['--model', MODEL, '--outdir', join(tmp.dir, 'none')];
    const cases: [string[], RegExp][] = [
      [['generate', 'x', '--region', '0,0,0.6,1|a', '--region', '0.5,0,1,1|b', ...out], /^chord: Regions 1 and 2 overlap \(0,0,0.6,1 and 0.5,0,1,1\)\. Boxes may touch but not overlap\.$/],
      [['generate', 'x', '--region', '0,0,1.5,1|a', ...out], /^chord: Region 1: its box 0,0,1.5,1 leaves the image\./],
      [['generate', 'x', '--region', '0.2,0,0.2,1|a', ...out], /^chord: Region 1: its box 0.2,0,0.2,1 has no area\./],
      [['generate', 'x', '--region', 'left|a', ...out], /^chord: --region "left\|a": the box must be four numbers/],
      [['generate', 'x', '--method', 'merge', '--region', '0,0,1,1|a', ...out], /^chord: Regions are given but the Merge method does not use them\./],
      [['generate', 'x', '--method', 'regional', ...out], /^chord: The Regional method needs regions\./],
      [['generate', 'x', '--no-reinit', ...out], /^chord: --no-reinit is an option of --method regional \(the method is merge\)/],
      [['generate', 'x', '--no-region-norm', ...out], /^chord: --no-region-norm is an option of --method regional \(the method is merge\)/],
      [['generate', 'x', '--region', '0,0,1,1', '--regions', join(tmp.dir, 'r.json'), ...out], /--region \(repeatable\) or --regions FILE\.json, not both/],
      [['generate', '--from', join(tmp.dir, 'a.png'), '--region', '0,0,1,1'], /--from remakes an image from its own settings/],
      [['generate', 'x', '--region', '0,0,1,1|zorb <lora:zorb:1>', ...out], /^chord: Region 1 has a <lora:\.\.\.> tag in its prompt/],
      [['generate', 'x', '--region', '0,0,1,1|a', '--method-preset', 'fast', ...out], /^chord: The Regional method has no preset "fast"\. Its presets: one-pass, placement\.$/],
      [['generate', 'x', '--method-preset', 'placement', ...out], /^chord: The Merge method has no preset "placement"\. Merge has no presets\.$/],
    ];
    for (const [args, pattern] of cases) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.err, args.join(' ')).toHaveLength(1);
      expect(r.err[0], args.join(' ')).toMatch(pattern);
    }
  }, 120_000);
});

describe('generate with regions, then --from', () => {
  it('--method-preset placement sets its options, which the other flags can change', async () => {
    const r = await chord([
      'generate', 'gray background', '--model', MODEL, '--method-preset', 'placement', '--method-option', 'warmup=2',
      '--region', `0,0,0.5,1|zorb on the left||${lora('zorb')}`, '--region', `0.5,0,1,1|quill on the right||${lora('quill')}`,
      '--steps', '3', '--seed', '2', '--out', join(tmp.dir, 'preset.png'), '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const image = (JSON.parse(r.stdout) as { images: { method: unknown; totals: unknown }[] }).images[0];
    expect(image.method).toEqual({ name: 'regional', options: { isolation: false, gate: true, reinit: false, norm: true, warmup: 2 }, order: ['zorb', 'quill'] });
    // two warm-up steps of one pass per half (no global pass: the halves cover the image), then one
    expect(image.totals).toEqual({ full: 5, shallow: 0 });
  }, 60_000);

  it('summarises and records the regions, and remakes the image bit for bit', async () => {
    const out = join(tmp.dir, 'regional.png');
    const r = await chord([
      'generate', 'gray background', '--model', MODEL, '--lora', `${lora('dots')}:0.5`,
      '--region', `0,0,0.5,1|zorb on the left||${lora('zorb')}`,
      '--region', `0.5,0,1,1|quill on the right|blurry|${lora('quill')}:0.9`,
      '--steps', '4', '--seed', '5', '--out', out, '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const image = (JSON.parse(r.stdout) as { images: { method: unknown; regions: unknown; totals: unknown }[] }).images[0];
    expect(image.method).toEqual({ name: 'regional', options: { isolation: true, gate: true, reinit: true, norm: true, warmup: 0 }, order: ['dots', 'zorb', 'quill'] });
    expect(image.regions).toEqual([
      { box: [0, 0, 0.5, 1], prompt: 'zorb on the left', negative: '', loras: ['zorb'] },
      { box: [0.5, 0, 1, 1], prompt: 'quill on the right', negative: 'blurry', loras: ['quill'] },
    ]);
    // one CFG pass per step
    expect(image.totals).toEqual({ full: 4, shallow: 0 });

    const record = (await readImageInfo(out)).chord;
    expect(record?.regions).toEqual([
      { box: [0, 0, 0.5, 1], prompt: 'zorb on the left', negativePrompt: '' },
      { box: [0.5, 0, 1, 1], prompt: 'quill on the right', negativePrompt: 'blurry' },
    ]);
    expect(record?.loras.map((l) => [l.name, l.weight, l.region?.prompt])).toEqual([['dots', 0.5, undefined], ['zorb', 1, 'zorb on the left'], ['quill', 0.9, 'quill on the right']]);

    const again = join(tmp.dir, 'again.png');
    const remade = await chord(['generate', '--from', out, '--model', MODEL, '--out', again]);
    expect(remade.stderr).toBe('');
    expect(remade.code).toBe(0);
    expect(await pixels(again)).toBe(await pixels(out));
    expect((await readImageInfo(again)).chord?.regions).toEqual(record?.regions);

    // the same regions from a file: the same image
    const file = join(tmp.dir, 'two.json');
    writeFileSync(file, JSON.stringify([
      { box: [0, 0, 0.5, 1], prompt: 'zorb on the left', loras: [{ path: lora('zorb') }] },
      { box: [0.5, 0, 1, 1], prompt: 'quill on the right', negative: 'blurry', loras: [{ path: lora('quill'), weight: 0.9 }] },
    ]));
    const fromFile = join(tmp.dir, 'file.png');
    const f = await chord(['generate', 'gray background', '--model', MODEL, '--lora', `${lora('dots')}:0.5`, '--regions', file, '--steps', '4', '--seed', '5', '--out', fromFile]);
    expect(f.stderr).toBe('');
    expect(await pixels(fromFile)).toBe(await pixels(out));
  }, 180_000);
});
