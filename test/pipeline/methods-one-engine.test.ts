/**
 * One engine serves every method, one image after another (the app's engine process does): a
 * regional image between CMLoRA images must not break the cached (shallow) passes, nor the other
 * way round. The regional graph cannot be cut, so CMLoRA switches back to the plain one.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, type GenerateRequest } from '../../src/engine';
import { readModel, writeModel } from '../../src/engine/onnx/io';
import { graphOf, makeNode, type NodeProto } from '../../src/engine/onnx/proto';

const MODEL = resolve(import.meta.dirname, '../../models/glyph-sd');
const lora = (name: string, weight = 1) => ({ path: join(MODEL, 'loras', `${name}.safetensors`), weight });
const root = mkdtempSync(join(tmpdir(), 'chord-one-engine-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
/** zorb on the left half, quill on the right */
const twoRegions = (): GenerateRequest['regions'] => [
  { box: [0, 0, 0.5, 1], prompt: 'zorb', loras: [lora('zorb')] },
  { box: [0.5, 0, 1, 1], prompt: 'quill', loras: [lora('quill')] },
];

describe('one engine, several methods', () => {
  it('makes CMLoRA, then regional, then CMLoRA images with cached passes', async () => {
    const notices: string[] = [];
    const engine = new Engine({ cacheDir: join(root, 'cache'), onNotice: (n) => notices.push(n.message) });
    const base = { model: MODEL, steps: 4, seed: 1, output: { dir: join(root, 'out') } } satisfies Partial<GenerateRequest>;
    // the classes are given, so no profile is measured
    const cmlora: GenerateRequest = { ...base, prompt: 'zorb, hatz', loras: [lora('zorb'), lora('hat')], method: { name: 'cmlora', options: { c1: 2, c2: 3 } }, highFrequency: ['zorb'] };
    const regional: GenerateRequest = { ...base, prompt: 'gray background', method: { name: 'regional' }, regions: twoRegions() };
    const first = await engine.generate(cmlora);
    expect(first.images[0].totals.shallow).toBeGreaterThan(0);
    const second = await engine.generate(regional);
    expect(second.images[0].regions).toHaveLength(2);
    const third = await engine.generate(cmlora);
    expect(third.images[0].totals).toEqual(first.images[0].totals);
    expect(notices.filter((n) => /cached passes are off/.test(n))).toEqual([]);
  });
});

describe('regional with a UNet whose group norms Chord cannot rewrite', () => {
  it('says so once per image request, and makes the image with whole-image statistics', async () => {
    // the demo model with an Identity between each GroupNorm's Reshape and InstanceNormalization:
    // the same computation, but not the exported form the per-region statistics are built around
    const folder = join(root, 'odd-norms');
    mkdirSync(join(folder, 'unet'), { recursive: true });
    for (const part of ['text_encoder', 'vae_decoder', 'tokenizer', 'scheduler']) symlinkSync(join(MODEL, part), join(folder, part));
    cpSync(join(MODEL, 'model_index.json'), join(folder, 'model_index.json'));
    cpSync(join(MODEL, 'unet', 'config.json'), join(folder, 'unet', 'config.json'));
    const unet = await readModel(join(MODEL, 'unet', 'model.onnx'));
    const graph = graphOf(unet);
    const nodes: NodeProto[] = [];
    for (const node of graph.node ?? []) {
      if (node.opType === 'InstanceNormalization') {
        const passed = `${node.input?.[0]}_passed`;
        nodes.push(makeNode('Identity', [node.input?.[0] ?? ''], [passed], `${node.name}_identity`));
        nodes.push({ ...node, input: [passed, ...(node.input ?? []).slice(1)] });
      } else nodes.push(node);
    }
    await writeModel({ ...unet, graph: { ...graph, node: nodes } }, join(folder, 'unet', 'model.onnx'));

    const notices: string[] = [];
    const engine = new Engine({ cacheDir: join(root, 'cache'), onNotice: (n) => n.code === 'REGION_NORM_UNAVAILABLE' && notices.push(n.message) });
    const request: GenerateRequest = { model: folder, steps: 2, seed: 1, output: { dir: join(root, 'odd-out') }, prompt: 'gray background', method: { name: 'regional' }, regions: twoRegions() };
    const made = await engine.generate(request);
    expect(made.images).toHaveLength(1);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/^glyph-sd: its UNet's group normalisations are not in the exported form .* whole-image statistics \(as with --no-region-norm\)/);
    // asked for without them, nothing to say
    await engine.generate({ ...request, method: { name: 'regional', options: { norm: false } } });
    expect(notices).toHaveLength(1);
    // the demo model itself has them: no notice
    await engine.generate({ ...request, model: MODEL });
    expect(notices).toHaveLength(1);
  }, 120_000);
});
