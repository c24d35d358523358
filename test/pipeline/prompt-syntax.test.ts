/**
 * A1111 prompt syntax on the demo model, end to end: emphasis through the text encoder, <lora:...>
 * tags against --lora, and a textual-inversion embedding made from an existing concept.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type GenerateRequest } from '../../src/engine/host/engine';
import type { EngineNotice } from '../../src/engine/model/session';
import { openModel, type Model } from '../../src/engine/model/model';
import { readModel } from '../../src/engine/onnx';
import { tensorFloat32 } from '../../src/engine/onnx/proto';
import { readImageInfo } from '../../src/engine/png/image';
import { applyEmphasis, promptWindows } from '../../src/engine/prompt/windows';
import { writeSafetensors } from '../../src/engine/safetensors';
import { makeTmpDir, testModelDir } from './helpers';

const MODEL = testModelDir();
const LORAS = join(MODEL, 'loras');
const EMBEDDING_FIXTURES = join(__dirname, '..', 'fixtures', 'embeddings');

async function pixels(file: string): Promise<Buffer> {
  return (await sharp(file).raw().toBuffer({ resolveWithObject: true })).data;
}

function meanAbsDiff(a: Buffer, b: Buffer): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

describe('emphasis through the glyph-sd text encoder', () => {
  const tmp = makeTmpDir();
  let model: Model;
  beforeAll(async () => {
    model = await openModel(MODEL, { cacheDir: join(tmp.dir, 'cache') });
  });
  afterAll(async () => {
    await model.release();
    tmp.cleanup();
  });

  const encode = async (prompt: string) => {
    const w = promptWindows(model.tokenizer, prompt);
    const ids = new Int32Array(w.windows.length * model.tokenizer.maxLength);
    w.windows.forEach((x, i) => ids.set(x, i * model.tokenizer.maxLength));
    const hidden = await model.encodeText({ data: ids, dims: [w.windows.length, model.tokenizer.maxLength] });
    const raw = hidden.data.slice();
    applyEmphasis(hidden.data, w.weights[0]);
    return { raw, weighted: hidden.data };
  };

  it('(x:1.0) gives exactly the embedding of x; a weight changes it and keeps the mean', async () => {
    const plain = await encode('a red circle, zorb');
    const one = await encode('a red circle, (zorb:1.0)');
    expect(one.weighted).toEqual(plain.weighted);
    const strong = await encode('a red circle, (zorb:1.5)');
    expect(strong.raw).toEqual(plain.raw);
    expect(strong.weighted).not.toEqual(plain.weighted);
    const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(strong.weighted)).toBeCloseTo(mean(plain.weighted), 5);
  });
});

describe('prompt syntax end to end on glyph-sd', () => {
  const tmp = makeTmpDir();
  let engine: Engine;
  const notices: EngineNotice[] = [];
  const base = { model: MODEL, negativePrompt: 'blurry', steps: 4, cfg: 6, seed: 7 };
  let n = 0;
  const gen = (req: Omit<GenerateRequest, 'output' | 'model'>) => engine.generate({ ...base, ...req, output: { file: join(tmp.dir, `${n++}.png`) } });

  beforeAll(() => {
    engine = new Engine({ cacheDir: join(tmp.dir, 'cache'), onNotice: (x) => notices.push(x) });
  });
  afterAll(async () => {
    await engine.release();
    tmp.cleanup();
  });

  it('<lora:zorb:1> with --lora-dir gives the image of --lora zorb.safetensors:1, bit for bit', async () => {
    const viaTag = await gen({ prompt: 'zorb on a gray background <lora:zorb:1>', loraDirs: [LORAS] });
    const viaOption = await gen({ prompt: 'zorb on a gray background ', loras: [{ path: join(LORAS, 'zorb.safetensors'), weight: 1 }] });
    expect((await pixels(viaTag.images[0].file)).equals(await pixels(viaOption.images[0].file))).toBe(true);
    expect(viaTag.loras.map((l) => l.name)).toEqual(['zorb']);
    const info = await readImageInfo(viaTag.images[0].file);
    expect(info.chord?.prompt).toBe('zorb on a gray background <lora:zorb:1>');
    expect(info.parameters?.split('\n')[0]).toBe('zorb on a gray background <lora:zorb:1>');
  });

  it('a tag and a --lora of the same file are one LoRA, and the notice says which weight won', async () => {
    notices.length = 0;
    const r = await gen({ prompt: 'zorb <lora:zorb:0.3>', loraDirs: [LORAS], loras: [{ path: join(LORAS, 'zorb.safetensors'), weight: 0.9 }] });
    expect(r.loras.map((l) => [l.name, l.weight])).toEqual([['zorb', 0.9]]);
    expect(notices.map((x) => x.message)).toEqual([expect.stringMatching(/<lora:zorb:0\.3> in the prompt and --lora .*zorb\.safetensors \(weight 0\.9\) are the same file; using the weight of --lora/)]);
  });

  it('an unknown tag name is an error naming the folders searched', async () => {
    await expect(gen({ prompt: 'x <lora:nope:1>', loraDirs: [LORAS] })).rejects.toThrow(`No LoRA named "nope" (from <lora:nope:1>) in ${LORAS}.`);
    await expect(gen({ prompt: 'x <lora:zorb:1>' })).rejects.toThrow(/no LoRA folder was given/);
  });

  it('an embedding made of zorb\'s token row reproduces zorb, in .pt and .safetensors form', async () => {
    // the safetensors form of the same rows, written from the text encoder's token table
    const te = await readModel(join(MODEL, 'text_encoder', 'model.onnx'));
    const table = tensorFloat32(te.graph?.initializer?.find((t) => t.name === 'text_model.embeddings.token_embedding.weight') ?? {});
    const zorbId = 119;
    const stDir = join(tmp.dir, 'emb-st');
    mkdirSync(stDir);
    await writeSafetensors(join(stDir, 'glyphzorb.safetensors'), { emb_params: { dtype: 'F32', shape: [1, 64], data: table.subarray(zorbId * 64, zorbId * 64 + 64) } });
    const ptDir = join(tmp.dir, 'emb-pt');
    mkdirSync(ptDir);
    copyFileSync(join(EMBEDDING_FIXTURES, 'glyphzorb.pt'), join(ptDir, 'glyphzorb.pt'));

    const lora = [{ path: join(LORAS, 'zorb.safetensors'), weight: 1 }];
    const trigger = await gen({ prompt: 'zorb on a gray background', loras: lora });
    const viaPt = await gen({ prompt: 'glyphzorb on a gray background', loras: lora, embeddingDirs: [ptDir] });
    const viaSt = await gen({ prompt: 'glyphzorb on a gray background', loras: lora, embeddingDirs: [stDir] });
    const without = await gen({ prompt: 'on a gray background', loras: lora });
    // the text encoder now runs its embedding graph with no rows: still the original image
    const again = await gen({ prompt: 'zorb on a gray background', loras: lora });
    const [a, b, c, d, e] = await Promise.all([trigger, viaPt, viaSt, without, again].map((r) => pixels(r.images[0].file)));
    expect(meanAbsDiff(a, b)).toBe(0);
    expect(meanAbsDiff(a, c)).toBe(0);
    expect(a.equals(e)).toBe(true);
    const conceptMatters = meanAbsDiff(a, d);
    console.log(`glyphzorb vs zorb: mean |diff| ${meanAbsDiff(a, b)}; zorb vs no trigger word: ${conceptMatters.toFixed(2)} (8-bit levels)`);
    expect(conceptMatters).toBeGreaterThan(1);

    const info = await readImageInfo(viaPt.images[0].file);
    expect(info.chord?.embeddings?.map((e) => e.name)).toEqual(['glyphzorb']);
    expect(info.a1111?.tiHashes).toEqual([{ name: 'glyphzorb', hash: info.chord?.embeddings?.[0].fileHash.slice(0, 12) }]);
    expect(info.parameters?.split('\n')[0]).toBe('glyphzorb on a gray background <lora:zorb:1>');
  });

  it('a used embedding of the wrong width is a clear error; an unused broken file is not read', async () => {
    const dir = join(tmp.dir, 'emb-bad');
    mkdirSync(dir);
    copyFileSync(join(EMBEDDING_FIXTURES, 'a1111-small.pt'), join(dir, 'smallemb.pt'));
    copyFileSync(join(EMBEDDING_FIXTURES, 'hostile-code.pt'), join(dir, 'hostile.pt'));
    await expect(gen({ prompt: 'a red circle', negativePrompt: 'smallemb', embeddingDirs: [dir] })).rejects.toThrow(/smallemb\.pt has vectors of width 4, but this model's text encoder takes width 64/);
    await expect(gen({ prompt: 'a hostile red circle', embeddingDirs: [dir] })).rejects.toThrow(/names the Python object/);
    const fine = await gen({ prompt: 'a red circle', embeddingDirs: [dir] });
    expect(fine.images).toHaveLength(1);
  });
});
