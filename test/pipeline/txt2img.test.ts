/**
 * End to end on the test model (see helpers.testModelDir): prompt -> PNG, determinism, progress,
 * cancellation, run-time LoRA against fused weights. Small sizes and few steps keep it fast.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChordError } from '../../src/engine/errors';
import { Engine, type GenerateProgress } from '../../src/engine/host/engine';
import { fuseLorasIntoFolder } from '../../src/engine/model/fuse';
import { derivedGraph } from '../../src/engine/model/derived-graphs';
import { LORA_PASS } from '../../src/engine/model/passes';
import { openModel } from '../../src/engine/model/model';
import { readImageInfo } from '../../src/engine/png/image';
import { makeTmpDir, pattern, testModelDir, writeTestLora } from './helpers';

const MODEL = testModelDir();

function listTree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

describe('txt2img end to end', () => {
  const model = MODEL as string;
  const tmp = makeTmpDir();
  let engine: Engine;
  const base = { model, prompt: 'a red circle on a blue square', negativePrompt: 'blurry', steps: 4, cfg: 6 };

  beforeAll(() => {
    engine = new Engine({ cacheDir: join(tmp.dir, 'cache') });
  });
  afterAll(async () => {
    await engine.release();
    tmp.cleanup();
  });

  it('same seed, same bytes; another seed, another image', async () => {
    const a = await engine.generate({ ...base, seed: 42, output: { file: join(tmp.dir, 'a.png') } });
    const b = await engine.generate({ ...base, seed: 42, output: { file: join(tmp.dir, 'b.png') } });
    const c = await engine.generate({ ...base, seed: 43, output: { file: join(tmp.dir, 'c.png') } });
    const bytes = (f: string) => readFileSync(f);
    expect(bytes(a.images[0].file).equals(bytes(b.images[0].file))).toBe(true);
    expect(bytes(a.images[0].file).equals(bytes(c.images[0].file))).toBe(false);

    const info = await readImageInfo(a.images[0].file);
    expect(info).toMatchObject({ width: 64, height: 64 });
    expect(info.chord).toMatchObject({ prompt: base.prompt, negativePrompt: 'blurry', seed: 42, steps: 4, cfg: 6, sampler: 'euler-a', method: 'merge', model: { name: 'glyph-sd' } });
    expect(info.chord?.model.hash).toBe(a.model.hash);
    expect(a.images[0].timings.unetSteps).toHaveLength(4);
    expect(a.provider).toBe('cpu');
  });

  it('reports progress per step with a latent preview', async () => {
    const events: GenerateProgress[] = [];
    await engine.generate(
      { ...base, seed: 1, sampler: 'dpmpp_2m', karras: true, batchCount: 2, preview: true, output: { dir: join(tmp.dir, 'progress') } },
      { onProgress: (p) => events.push(p) },
    );
    expect(events.map((e) => `${e.image}:${e.step}/${e.total}`)).toEqual(['0:1/4', '0:2/4', '0:3/4', '0:4/4', '1:1/4', '1:2/4', '1:3/4', '1:4/4']);
    expect(events[0].preview?.width).toBe(16);
    expect(events[0].preview?.rgb.length).toBe(16 * 16 * 3);
    expect(events[1].elapsedMs).toBeGreaterThan(events[0].elapsedMs);
    expect(readdirSync(join(tmp.dir, 'progress'))).toEqual(['00000-1.png', '00001-2.png']);
  });

  it('cancels between steps and leaves no file behind', async () => {
    const controller = new AbortController();
    const dir = join(tmp.dir, 'cancelled');
    const run = engine.generate(
      { ...base, seed: 7, steps: 30, output: { dir } },
      { signal: controller.signal, onProgress: (p) => p.step === 2 && controller.abort() },
    );
    const error = await run.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChordError);
    expect((error as ChordError).code).toBe('CANCELLED');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('run-time LoRA: weight 0 is the base image, weight 1 matches the fused model', async () => {
    const before = listTree(model);
    const cacheDir = join(tmp.dir, 'cache');
    const unet = await derivedGraph(join(model, 'unet', 'model.onnx'), 'unet', [LORA_PASS], cacheDir);
    const te = await derivedGraph(join(model, 'text_encoder', 'model.onnx'), 'text_encoder', [LORA_PASS], cacheDir);
    const picked = [
      ...unet.targets.filter((t) => /attn2\.to_(k|v|out\.0)$|resnets\.0\.conv1$|conv_in$|proj_in$/.test(t.modulePath)),
      ...te.targets.filter((t) => /layers\.0\.self_attn\.(q|v)_proj$/.test(t.modulePath)),
    ];
    expect(picked.some((t) => t.op === 'Conv')).toBe(true);
    const loraFile = join(tmp.dir, 'test-lora.safetensors');
    await writeTestLora(loraFile, picked, 4, 1, 10);

    // through the engine: the same seed with the LoRA at 0 gives the base image's bytes
    const plain = await engine.generate({ ...base, seed: 9, output: { file: join(tmp.dir, 'plain.png') } });
    const off = await engine.generate({ ...base, seed: 9, loras: [{ path: loraFile, weight: 0 }], output: { file: join(tmp.dir, 'off.png') } });
    const on = await engine.generate({ ...base, seed: 9, loras: [{ path: loraFile, weight: 1 }], output: { file: join(tmp.dir, 'on.png') } });
    const px = async (f: string) => (await import('sharp')).default(f).raw().toBuffer();
    expect((await px(off.images[0].file)).equals(await px(plain.images[0].file))).toBe(true);
    expect((await px(on.images[0].file)).equals(await px(plain.images[0].file))).toBe(false);
    // no LoRA on the rewritten graphs (rank 0): the original image again
    const none = await engine.generate({ ...base, seed: 9, output: { file: join(tmp.dir, 'none.png') } });
    expect((await px(none.images[0].file)).equals(await px(plain.images[0].file))).toBe(true);
    expect(on.loras).toEqual([{ name: 'test-lora', path: loraFile, weight: 1, summary: 'matched 38 of 38 modules (unet 36/36, text_encoder 2/2)' }]);
    const loraBytes = readFileSync(loraFile);
    const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    const addnet = sha256(loraBytes.subarray(8 + Number(loraBytes.readBigUInt64LE(0)))).slice(0, 12);
    const onInfo = await readImageInfo(on.images[0].file);
    expect(onInfo.chord?.loras).toEqual([{ name: 'test-lora', fileHash: sha256(loraBytes), a1111Hash: addnet, weight: 1 }]);
    expect(onInfo.a1111?.loraHashes).toEqual([{ name: 'test-lora', hash: addnet }]);

    // one UNet and text-encoder pass against the same LoRA baked into the weights
    const runtime = await openModel(model, { provider: 'cpu', cacheDir });
    await runtime.useLoras([loraFile]);
    const fused = await fuseLorasIntoFolder(model, [{ path: loraFile, weight: 1.5 }], join(tmp.dir, 'fused'));
    const baked = await openModel(fused.outDir, { provider: 'cpu' });
    const sample = { data: pattern(2 * 4 * 16 * 16, 3).map((v) => v * 20), dims: [2, 4, 16, 16] };
    const ids = { data: Int32Array.from({ length: 2 * 77 }, (_, i) => (i % 77 === 0 ? runtime.tokenizer.bos : i % 77 < 4 ? 10 * (i % 77) : runtime.tokenizer.eos)), dims: [2, 77] };
    const ctxRuntime = await runtime.encodeText(ids, [1.5]);
    const ctxBaked = await baked.encodeText(ids);
    const epsRuntime = await runtime.predictNoise(sample, 500, ctxRuntime, [1.5]);
    const epsBaked = await baked.predictNoise(sample, 500, ctxBaked);
    const epsBase = await runtime.predictNoise(sample, 500, ctxRuntime, [0]);
    const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
    expect(maxDiff(ctxRuntime.data, ctxBaked.data)).toBeLessThan(1e-4);
    expect(maxDiff(epsRuntime, epsBaked)).toBeLessThan(1e-4);
    expect(maxDiff(epsRuntime, epsBase)).toBeGreaterThan(0.1);
    // a CPU session runs the CPU form of the rewrite (conv branches summed in FusedConv)
    expect(readdirSync(join(cacheDir, 'graphs')).filter((n) => n.startsWith('unet-lora-cpu-'))).toHaveLength(1);
    await Promise.all([runtime.release(), baked.release()]);

    // the model folder was only read
    expect(listTree(model)).toEqual(before);
  });

  it('run-time LoRAs over different layer subsets (attention only, LoCon convs, text encoder) match the fused model', async () => {
    const cacheDir = join(tmp.dir, 'cache');
    const unet = await derivedGraph(join(model, 'unet', 'model.onnx'), 'unet', [LORA_PASS], cacheDir);
    const te = await derivedGraph(join(model, 'text_encoder', 'model.onnx'), 'text_encoder', [LORA_PASS], cacheDir);
    const attention = unet.targets.filter((t) => /\.attentions\.\d+\./.test(t.modulePath));
    const convs = unet.targets.filter((t) => t.op === 'Conv' && !/\.attentions\.\d+\./.test(t.modulePath));
    const text = te.targets.filter((t) => /self_attn/.test(t.modulePath));
    expect(attention.length).toBeGreaterThan(0);
    expect(convs.length).toBeGreaterThan(0);
    const files = [join(tmp.dir, 'attention.safetensors'), join(tmp.dir, 'locon.safetensors'), join(tmp.dir, 'mixed.safetensors')];
    // moderate values: large attention LoRAs push the softmax into a regime where float rounding
    // alone (fused vs run time) is amplified past the tolerance
    await writeTestLora(files[0], [...attention, ...text], 4, 21, 3);
    await writeTestLora(files[1], convs, 2, 22, 3);
    await writeTestLora(files[2], [...attention.slice(0, 5), ...convs.slice(0, 3)], 8, 23, 3);
    const weights = [0.8, 1.2, -0.6];

    const runtime = await openModel(model, { provider: 'cpu', cacheDir });
    await runtime.useLoras(files);
    const unetSession = await runtime.session('unet');
    const fused = await fuseLorasIntoFolder(model, files.map((path, k) => ({ path, weight: weights[k] })), join(tmp.dir, 'fused-mixed'));
    const baked = await openModel(fused.outDir, { provider: 'cpu' });
    const sample = { data: pattern(2 * 4 * 16 * 16, 5).map((v) => v * 20), dims: [2, 4, 16, 16] };
    const ids = { data: Int32Array.from({ length: 2 * 77 }, (_, i) => (i % 77 === 0 ? runtime.tokenizer.bos : i % 77 < 5 ? 7 * (i % 77) : runtime.tokenizer.eos)), dims: [2, 77] };
    const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
    const ctxRuntime = await runtime.encodeText(ids, weights);
    const ctxBaked = await baked.encodeText(ids);
    expect(maxDiff(ctxRuntime.data, ctxBaked.data)).toBeLessThan(1e-4);
    // the same context for both UNets, so the comparison is the UNet's alone
    const epsRuntime = await runtime.predictNoise(sample, 500, ctxBaked, weights);
    const epsBaked = await baked.predictNoise(sample, 500, ctxBaked);
    expect(maxDiff(epsRuntime, epsBaked)).toBeLessThan(1e-4);
    expect(maxDiff(epsRuntime, await runtime.predictNoise(sample, 500, ctxBaked, [0, 0, 0]))).toBeGreaterThan(0.1);

    // another set (only the LoCon file): per-layer ranks change, the session stays
    await runtime.useLoras([files[1]]);
    expect(await runtime.session('unet')).toBe(unetSession);
    const fusedOne = await fuseLorasIntoFolder(model, [{ path: files[1], weight: 1.2 }], join(tmp.dir, 'fused-locon'));
    const bakedOne = await openModel(fusedOne.outDir, { provider: 'cpu' });
    const ctxPlain = await bakedOne.encodeText(ids);
    expect(maxDiff(await runtime.predictNoise(sample, 500, ctxPlain, [1.2]), await bakedOne.predictNoise(sample, 500, ctxPlain))).toBeLessThan(1e-4);
    await Promise.all([runtime.release(), baked.release(), bakedOne.release()]);
  });
});
