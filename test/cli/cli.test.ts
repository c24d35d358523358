/**
 * The `chord` command: in-process through runCli for argument handling, and as a real process
 * (bin/chord.js) for generation, exit codes, one-line errors and Ctrl-C.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseLoraSpec } from '../../src/engine/cli';
import { readImageInfo } from '../../src/engine/png/image';
import { writeSafetensors, type TensorToWrite } from '../../src/engine/safetensors';
import { withSafetensors } from '../../src/engine/safetensors/reader';
import { makeTmpDir, SD15_LAYOUT, testModelDir } from '../pipeline/helpers';
import { cli, chordProcess } from './helpers';

const MODEL = testModelDir();
const tmp = makeTmpDir('chord-cli-');
afterAll(() => tmp.cleanup());

/** Runs bin/chord.js; `onStart` gets the child (e.g. to send it a signal). */
const chord = (args: string[], onStart?: (kill: (signal: NodeJS.Signals) => void) => void) => chordProcess(tmp.dir, args, onStart);

const lines = (s: string) => s.split('\n').filter((l) => l.length > 0);

describe('chord (in process)', () => {
  it('tokenize --json on the SD 1.5 layout (no .onnx files needed)', async () => {
    const long = Array.from({ length: 100 }, () => 'cat').join(' ');
    const r = await cli('tokenize', '--model', SD15_LAYOUT, '--json', 'a cat', long);
    expect(r.code).toBe(0);
    expect(r.out[0]).toBe('{"ids":[49406,320,2368,49407],"count":4}');
    // no truncation at 77: 100 words + BOS + EOS
    const second = JSON.parse(r.out[1]) as { ids: number[]; count: number };
    expect(second.count).toBe(102);
    expect(second.ids).toHaveLength(102);
    expect(second.ids.slice(0, 3)).toEqual([49406, 2368, 2368]);
    expect(r.out).toHaveLength(2);
  });

  it('tokenize without --json prints the count and ids', async () => {
    const r = await cli('tokenize', '--model', SD15_LAYOUT, 'a cat');
    expect(r.out).toEqual(['4 tokens: 49406 320 2368 49407']);
  });

  it('bad arguments are one line on stderr and exit 1', async () => {
    for (const args of [
      ['generate', 'x', '--steps', 'abc'],
      ['generate', 'x', '--sampler', 'heun'],
      ['generate', 'x', '--provider', 'tpu'],
      ['tokenize', '--model', join(tmp.dir, 'nothing-here'), 'x'],
      ['info', join(tmp.dir, 'missing.png')],
      ['frobnicate'],
      ['generate'],
    ]) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.err, args.join(' ')).toHaveLength(1);
      expect(r.err[0], args.join(' ')).toMatch(/^chord: \S/);
    }
    expect((await cli('generate', 'x', '--steps', 'abc')).err[0]).toBe("chord: option '--steps <n>' argument 'abc' is invalid. --steps must be a whole number of at least 1.");
    expect((await cli('info', join(tmp.dir, 'missing.png'))).err[0]).toMatch(/^chord: Image not found: .*missing\.png\.$/);
  });

  it('parses --lora FILE[:weight], Windows paths included', () => {
    expect(parseLoraSpec('style.safetensors')).toEqual({ path: 'style.safetensors', weight: 1 });
    expect(parseLoraSpec('style.safetensors:0.6')).toEqual({ path: 'style.safetensors', weight: 0.6 });
    expect(parseLoraSpec('C:\\loras\\a.safetensors')).toEqual({ path: 'C:\\loras\\a.safetensors', weight: 1 });
    expect(parseLoraSpec('C:\\loras\\a.safetensors:-1.5')).toEqual({ path: 'C:\\loras\\a.safetensors', weight: -1.5 });
    expect(parseLoraSpec('odd:name.safetensors')).toEqual({ path: 'odd:name.safetensors', weight: 1 });
  });
});

describe('chord (as a process)', () => {
  it('a missing model folder: one line, no stack trace, exit 1', async () => {
    const r = await chord(['generate', 'a cat', '--model', join(tmp.dir, 'no-model'), '--outdir', join(tmp.dir, 'o1')]);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([expect.stringMatching(/^chord: Model folder not found: .*no-model\. Choose a model folder/)]);
    expect(r.stdout).toBe('');
  });

  it('generate --json: files and per-stage timings', async () => {
    const outdir = join(tmp.dir, 'out');
    const r = await chord(['generate', 'a red glyph', '--model', MODEL as string, '--steps', '3', '--seed', '5', '--batch-count', '2', '--outdir', outdir, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as {
      files: string[];
      images: { seed: number; timings: { tokenize: number; textEncoder: number; unetSteps: number[]; decode: number; save: number } }[];
      provider: string;
      timings: { loadModel: number };
    };
    expect(summary.files).toEqual([join(outdir, '00000-5.png'), join(outdir, '00001-6.png')]);
    expect(summary.images.map((i) => i.seed)).toEqual([5, 6]);
    expect(summary.images[0].timings.unetSteps).toHaveLength(3);
    expect(summary.images[0].timings.decode).toBeGreaterThan(0);
    expect(summary.timings.loadModel).toBeGreaterThan(0);
    // only the finished images, no temp files
    expect(readdirSync(outdir)).toEqual(['00000-5.png', '00001-6.png']);
    expect(readFileSync(summary.files[0]).subarray(1, 4).toString()).toBe('PNG');
  });

  it('generate with a LoRA writes A1111\'s short hash in "Lora hashes", the one lora inspect shows', async () => {
    const glyph = resolve('models/glyph-sd');
    const lora = join(glyph, 'loras', 'zorb.safetensors');
    const out = join(tmp.dir, 'lora-hash.png');
    const r = await chord(['generate', 'zorb', '--model', glyph, '--steps', '1', '--seed', '3', '--lora', `${lora}:0.8`, '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);

    // computed here from the bytes: the file claims no sshs_model_hash, so A1111 shows the addnet
    // hash (sha256 of everything after the 8 + N header bytes), first 12 hex
    const bytes = readFileSync(lora);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    expect(bytes.subarray(8, 8 + headerLength).toString('utf8')).not.toContain('sshs_model_hash');
    const addnet = createHash('sha256').update(bytes.subarray(8 + headerLength)).digest('hex').slice(0, 12);
    const whole = createHash('sha256').update(bytes).digest('hex');
    expect(addnet).not.toBe(whole.slice(0, 12));

    const info = await readImageInfo(out);
    expect(info.a1111?.loraHashes).toEqual([{ name: 'zorb', hash: addnet }]);
    expect(info.parameters).not.toContain(whole.slice(0, 12));
    expect(info.chord?.loras).toEqual([{ name: 'zorb', fileHash: whole, a1111Hash: addnet, weight: 0.8 }]);
    expect((await cli('lora', 'inspect', lora)).out).toContain(`A1111 "Lora hashes": ${addnet}`);
    // remembered by path, size and mtime across runs, next to the whole-file hash
    const memo = JSON.parse(readFileSync(join(tmp.dir, 'cache', 'hashes.json'), 'utf8')) as Record<string, string>;
    const entries = Object.entries(memo).filter(([k]) => k.startsWith(`${lora}\0`));
    expect(entries.map(([k, v]) => [k.endsWith('\0a1111'), v]).sort()).toEqual([[false, whole], [true, addnet]]);
  });

  it('a failed save leaves nothing behind', async () => {
    const blocker = join(tmp.dir, 'a-file');
    writeFileSync(blocker, 'not a folder');
    const r = await chord(['generate', 'x', '--model', MODEL as string, '--steps', '1', '--out', join(blocker, 'img.png')]);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^chord: Cannot create the folder .*a-file/);
    expect(readFileSync(blocker, 'utf8')).toBe('not a folder');
  });

  it('a LoRA with a NaN weight: one line naming the file and the tensor, exit 1, no image', async () => {
    // the demo LoRA zorb, rewritten as float32 with one NaN in its second tensor
    const lora = join(tmp.dir, 'zorb-nan.safetensors');
    const bad = await withSafetensors(resolve('models/glyph-sd/loras/zorb.safetensors'), async (f) => {
      const tensors: Record<string, TensorToWrite> = {};
      const name = f.names().filter((n) => n.endsWith('.lora_up.weight'))[1];
      for (const n of f.names()) {
        const data = await f.readFloat32(n);
        if (n === name) data[0] = Number.NaN;
        tensors[n] = { dtype: 'F32', shape: f.info(n).shape, data };
      }
      await writeSafetensors(lora, tensors, f.metadata);
      return name;
    });
    const out = join(tmp.dir, 'nan.png');
    const r = await chord(['generate', 'zorb', '--model', MODEL as string, '--steps', '1', '--lora', lora, '--out', out]);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([expect.stringMatching(/^chord: zorb-nan\.safetensors: tensor (\S+) holds NaN \(value 1 of \d+\); Chord does not load LoRAs with NaN or infinite weights\. /)]);
    expect(r.stderr).toContain(` tensor ${bad} holds NaN`);
    expect(existsSync(out)).toBe(false);
  });

  it('Ctrl-C cancels between steps: exit 130, no image', async () => {
    const outdir = join(tmp.dir, 'interrupted');
    // the output folder is created just before the first step: interrupt once it appears
    const r = await chord(['generate', 'x', '--model', MODEL as string, '--steps', '500', '--width', '256', '--height', '256', '--seed', '1', '--outdir', outdir], (kill) => {
      const poll = setInterval(() => {
        if (existsSync(outdir)) {
          clearInterval(poll);
          setTimeout(() => kill('SIGINT'), 200);
        }
      }, 25);
    });
    expect(r.code).toBe(130);
    expect(lines(r.stderr)).toEqual(['chord: Generation cancelled.']);
    expect(existsSync(outdir) ? readdirSync(outdir) : []).toEqual([]);
  });
});
