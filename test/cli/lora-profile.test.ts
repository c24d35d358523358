/** `chord lora profile`: in process through runCli, and as a real process for Ctrl-C. */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTmpDir, testModelDir } from '../pipeline/helpers';
import { cli } from './helpers';

const MODEL = testModelDir();
const LORAS = join(MODEL, 'loras');
const tmp = makeTmpDir('chord-cli-profile-');
const cacheDir = join(tmp.dir, 'cache');
let savedCacheDir: string | undefined;
beforeAll(() => {
  savedCacheDir = process.env.CHORD_CACHE_DIR;
  process.env.CHORD_CACHE_DIR = cacheDir;
});
afterAll(() => {
  if (savedCacheDir === undefined) delete process.env.CHORD_CACHE_DIR;
  else process.env.CHORD_CACHE_DIR = savedCacheDir;
  tmp.cleanup();
});

const quick = ['--model', MODEL, '--steps', '2', '--seeds', '1'];

describe('chord lora profile (in process)', () => {
  it('--json prints one object per LoRA and line', async () => {
    const r = await cli('lora', 'profile', ...quick, '--json', join(LORAS, 'zorb.safetensors'), join(LORAS, 'sunset.safetensors'));
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out).toHaveLength(2);
    const rows = r.out.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((x) => x.name)).toEqual(['zorb', 'sunset']);
    expect(rows.map((x) => x.prompt)).toEqual(['zorb', 'sunsa']);
    for (const x of rows) {
      expect(Object.keys(x).slice(0, 6)).toEqual(['file', 'name', 'dH', 'class', 'radial', 'ms']);
      expect(typeof x.dH).toBe('number');
      expect(x.class).toBe((x.dH as number) > -0.02 ? 'H' : 'L');
      expect(x.radial).toHaveLength(46);
      expect(Number.isInteger(x.ms)).toBe(true);
      expect(x.cached).toBe(false);
    }
    expect(rows[0].file).toBe(join(LORAS, 'zorb.safetensors'));
  });

  it('prints a table without --json, from the cache the second time; --threshold takes a negative dH', async () => {
    const r = await cli('lora', 'profile', ...quick, '--threshold', '-1', join(LORAS, 'zorb.safetensors'));
    expect(r.code).toBe(0);
    expect(r.out[0]).toMatch(/^name +class +dH +ms +file$/);
    expect(r.out[1]).toMatch(/^zorb +H +[+-]\d\.\d{4} +\d+ +.*zorb\.safetensors \(cached\)$/);
    expect(r.out[2]).toBe("class H: dH above -1; dH = high-band statistic of the LoRA images minus the base images'");
  });

  it('--prompt replaces the trigger words', async () => {
    const r = await cli('lora', 'profile', ...quick, '--json', '--prompt', 'dotty', join(LORAS, 'dots-peft'));
    expect(r.code).toBe(0);
    expect((JSON.parse(r.out[0]) as { prompt: string }).prompt).toBe('dotty');
  });

  it('bad input is one line and exit code 1', async () => {
    const missing = await cli('lora', 'profile', ...quick, join(tmp.dir, 'nope.safetensors'));
    expect(missing.code).toBe(1);
    expect(missing.err).toHaveLength(1);
    expect(missing.err[0]).toMatch(/^chord: .*nope\.safetensors/);
    const seeds = await cli('lora', 'profile', '--seeds', '0', join(LORAS, 'zorb.safetensors'));
    expect(seeds.code).toBe(1);
    expect(seeds.err).toEqual(["chord: option '--seeds <n>' argument '0' is invalid. --seeds must be a whole number of at least 1 (got 0)."]);
    const none = await cli('lora', 'profile');
    expect(none.code).toBe(1);
    expect(none.err).toEqual(["chord: missing required argument 'file'"]);
  });
});

describe('chord lora profile (process)', () => {
  it('Ctrl-C stops it after the current step with exit code 130', async () => {
    const processCache = join(tmp.dir, 'process-cache');
    const result = await new Promise<{ code: number | null; stderr: string; stdout: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['bin/chord.js', 'lora', 'profile', '--model', MODEL, '--steps', '500', '--seeds', '64', join(LORAS, 'dots.safetensors')], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, CHORD_CACHE_DIR: processCache, CHORD_DEBUG: '' },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr, stdout }));
      // the cache folder gets the LoRA-capable graphs just before the first image
      const poll = setInterval(() => {
        if (existsSync(processCache) && readdirSync(processCache).length > 0) {
          clearInterval(poll);
          setTimeout(() => child.kill('SIGINT'), 1000);
        }
      }, 25);
    });
    expect(result.code).toBe(130);
    expect(result.stderr.split('\n').filter((l) => l.length > 0)).toEqual(['chord: Generation cancelled.']);
    // the header only: nothing was measured
    expect(result.stdout.split('\n').filter((l) => l.length > 0)).toHaveLength(1);
    expect(existsSync(join(processCache, 'spectral'))).toBe(false);
  });
});
