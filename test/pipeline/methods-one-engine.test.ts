/**
 * One engine serves every method, one image after another (the app's engine process does): a
 * regional image between CMLoRA images must not break the cached (shallow) passes, nor the other
 * way round. The regional graph cannot be cut, so CMLoRA switches back to the plain one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, type GenerateRequest } from '../../src/engine';

const MODEL = resolve(import.meta.dirname, '../../models/glyph-sd');
const lora = (name: string, weight = 1) => ({ path: join(MODEL, 'loras', `${name}.safetensors`), weight });
const root = mkdtempSync(join(tmpdir(), 'chord-one-engine-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('one engine, several methods', () => {
  it('makes CMLoRA, then regional, then CMLoRA images with cached passes', async () => {
    const notices: string[] = [];
    const engine = new Engine({ cacheDir: join(root, 'cache'), onNotice: (n) => notices.push(n.message) });
    const base = { model: MODEL, steps: 4, seed: 1, output: { dir: join(root, 'out') } } satisfies Partial<GenerateRequest>;
    // the classes are given, so no profile is measured
    const cmlora: GenerateRequest = { ...base, prompt: 'zorb, hatz', loras: [lora('zorb'), lora('hat')], method: { name: 'cmlora', options: { c1: 2, c2: 3 } }, highFrequency: ['zorb'] };
    const regional: GenerateRequest = {
      ...base,
      prompt: 'gray background',
      method: { name: 'regional' },
      regions: [
        { box: [0, 0, 0.5, 1], prompt: 'zorb', loras: [lora('zorb')] },
        { box: [0.5, 0, 1, 1], prompt: 'quill', loras: [lora('quill')] },
      ],
    };
    const first = await engine.generate(cmlora);
    expect(first.images[0].totals.shallow).toBeGreaterThan(0);
    const second = await engine.generate(regional);
    expect(second.images[0].regions).toHaveLength(2);
    const third = await engine.generate(cmlora);
    expect(third.images[0].totals).toEqual(first.images[0].totals);
    expect(notices.filter((n) => /cached passes are off/.test(n))).toEqual([]);
  });
});
