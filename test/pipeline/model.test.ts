import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ChordError } from '../../src/engine/errors';
import { inspectModelFolder } from '../../src/engine/model/folder';
import { openModel } from '../../src/engine/model/model';
import { createSession } from '../../src/engine/model/session';
import { DataType, encodeModel, makeNode, makeValueInfo } from '../../src/engine/onnx/proto';
import { makeTmpDir, SD15_LAYOUT, testModelDir } from './helpers';

const MODEL = testModelDir();
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A fake model folder: empty .onnx files where given, small config files copied from SD 1.5. */
function fakeFolder(opts: { skip?: string[]; tokenizer?: 'clip' | 'json' | 'none'; vaeConfig?: string } = {}): string {
  const { dir, cleanup } = makeTmpDir('chord-model-');
  cleanups.push(cleanup);
  const put = (rel: string, content: string) => {
    if (opts.skip?.includes(rel)) return;
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), content);
  };
  put('model_index.json', '{"_class_name":"OnnxStableDiffusionPipeline"}');
  for (const g of ['text_encoder', 'unet', 'vae_decoder']) put(`${g}/model.onnx`, '');
  put('scheduler/scheduler_config.json', readFileSync(join(SD15_LAYOUT, 'scheduler', 'scheduler_config.json'), 'utf8'));
  if (opts.vaeConfig !== undefined) put('vae_decoder/config.json', opts.vaeConfig);
  if ((opts.tokenizer ?? 'clip') === 'clip') {
    mkdirSync(join(dir, 'tokenizer'), { recursive: true });
    for (const f of ['vocab.json', 'merges.txt']) if (!opts.skip?.includes(`tokenizer/${f}`)) copyFileSync(join(SD15_LAYOUT, 'tokenizer', f), join(dir, 'tokenizer', f));
  }
  return dir;
}

async function errorOf(p: Promise<unknown>): Promise<ChordError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ChordError) return e;
    throw e;
  }
  throw new Error('expected a ChordError');
}

describe('model folder checks', () => {
  it('reads SD 1.5 defaults when configs say nothing', async () => {
    const f = await inspectModelFolder(fakeFolder());
    expect(f).toMatchObject({ latentScale: 0.18215, downscale: 8, latentChannels: 4, defaultWidth: 512, sizeMultiple: 64, tokenizerFormat: 'clip-bpe' });
  });

  it('names every missing file in one message', async () => {
    const e = await errorOf(inspectModelFolder(fakeFolder({ skip: ['model_index.json', 'unet/model.onnx'], tokenizer: 'none' })));
    expect(e.code).toBe('MODEL_INVALID');
    expect(e.message).toMatch(/is not a complete model folder: missing model_index\.json, unet\/model\.onnx, tokenizer\/tokenizer\.json \(or tokenizer\/vocab\.json \+ tokenizer\/merges\.txt\)\.$/);
  });

  it('names the one missing CLIP tokenizer file', async () => {
    const e = await errorOf(inspectModelFolder(fakeFolder({ skip: ['tokenizer/merges.txt'] })));
    expect(e.message).toMatch(/missing tokenizer\/merges\.txt\.$/);
  });

  it('reports an unreadable config and a bad value', async () => {
    const broken = await errorOf(inspectModelFolder(fakeFolder({ vaeConfig: '{ "scaling_factor": ' })));
    expect(broken.code).toBe('MODEL_INVALID');
    expect(broken.message).toMatch(/vae_decoder\/config\.json is not valid JSON\.$/);
    const bad = await errorOf(inspectModelFolder(fakeFolder({ vaeConfig: '{ "scaling_factor": -1 }' })));
    expect(bad.message).toMatch(/vae_decoder\/config\.json: scaling_factor must be a positive number \(got -1\)\.$/);
  });

  it('a folder that does not exist is FILE_NOT_FOUND', async () => {
    const e = await errorOf(inspectModelFolder('/nonexistent/chord-model'));
    expect(e.code).toBe('FILE_NOT_FOUND');
  });

  it('a graph that is not ONNX is reported with its path when its session is created', async () => {
    const model = await openModel(fakeFolder(), { provider: 'cpu' });
    const e = await errorOf(model.session('unet'));
    expect(e.code).toBe('MODEL_INVALID');
    expect(e.message).toMatch(/^chord-model-\w+\/unet\/model\.onnx cannot be loaded: /);
  });

  it('reads the test model sizes', async () => {
    const f = await inspectModelFolder(MODEL as string);
    expect(f).toMatchObject({ downscale: 4, latentChannels: 4, defaultWidth: 64, defaultHeight: 64, sizeMultiple: 16, name: 'glyph-sd' });
  });
});

describe('fp16 models on the CPU', () => {
  it('are upcast once to float32 in the cache and give the fp32 results', async () => {
    // the fp16 fixture cannot even be loaded by the CPU provider (it lacks float16 kernels)
    const dir = fakeFolder();
    copyFileSync('test/fixtures/onnx/tiny_unet_fp16.onnx', join(dir, 'unet', 'model.onnx'));
    const cacheDir = join(dir, '..', `${dir.split('/').pop()}-cache`);
    cleanups.push(() => rmSync(cacheDir, { recursive: true, force: true }));
    const notices: string[] = [];
    const model = await openModel(dir, { provider: 'cpu', cacheDir, onNotice: (n) => notices.push(n.code) });
    const unet = await model.session('unet');
    expect(unet.floatType).toBe('float32');
    expect(notices).toEqual(['GRAPH_CONVERTED']);
    expect(readdirSync(join(cacheDir, 'graphs'))).toEqual([expect.stringMatching(/^unet-fp32-[0-9a-f]{32}$/)]);

    const sample = { data: Float32Array.from({ length: 2 * 4 * 8 * 8 }, (_, i) => Math.sin(i)), dims: [2, 4, 8, 8] };
    const context = { data: Float32Array.from({ length: 2 * 3 * 6 }, (_, i) => Math.cos(i)), dims: [2, 3, 6] };
    const eps = await model.predictNoise(sample, 500, context);
    const reference = await createSession('test/fixtures/onnx/tiny_unet.onnx', { providers: ['cpu'], label: 'fp32' });
    const want = (await reference.run({ sample, timestep: { data: Float32Array.of(500, 500), dims: [2] }, encoder_hidden_states: context }))[reference.outputNames[0]];
    expect(eps.length).toBe(want.length);
    // fp16 weights: agreement to fp16 precision
    const maxDiff = eps.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0);
    expect(maxDiff).toBeLessThan(0.02);
    await Promise.all([model.release(), reference.release()]);
  });
});

describe('sessions', () => {
  /** x: float16 [2] -> y = Cast(x) float32, z = x float16 (Identity) */
  function fp16Graph(): Uint8Array {
    return encodeModel({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'fp16',
        node: [makeNode('Cast', ['x'], ['y'], 'cast', [{ name: 'to', type: 2, i: DataType.FLOAT }]), makeNode('Identity', ['x'], ['z'], 'id')],
        input: [makeValueInfo('x', DataType.FLOAT16, [2])],
        output: [makeValueInfo('y', DataType.FLOAT, [2]), makeValueInfo('z', DataType.FLOAT16, [2])],
      },
    });
  }

  it('feeds and reads fp16 graphs as float32', async () => {
    const s = await createSession(fp16Graph(), { providers: ['cpu'], label: 'fp16' });
    expect(s.floatType).toBe('float16');
    const out = await s.run({ x: { data: Float32Array.of(1.5, -0.1), dims: [2] } }, ['y', 'z']);
    // -0.1 is not a half: it comes back rounded to the nearest one
    expect([...out.y]).toEqual([1.5, -0.0999755859375]);
    expect([...out.z]).toEqual([1.5, -0.0999755859375]);
    await s.release();
  });

  it('feeds int32 token ids to an int64 graph input', async () => {
    const s = await createSession('test/fixtures/onnx/tiny_text_encoder.onnx', { providers: ['cpu'], label: 'te' });
    expect(s.inputs.get('input_ids')?.type).toBe('int64');
    const out = await s.run({ input_ids: { data: Int32Array.of(1, 2, 3, 0), dims: [1, 4] } });
    expect(out[s.outputNames[0]].length).toBe(32);
    await expect(s.run({ input_ids: { data: Float32Array.of(1, 2, 3, 0), dims: [1, 4] } })).rejects.toThrow(/input "input_ids" is int64 but was given floats/);
    await s.release();
  });

  it('a failing provider falls back to the CPU with a notice', async () => {
    const notices: string[] = [];
    const s = await createSession(fp16Graph(), { providers: ['cuda', 'cpu'], label: 'fp16', onNotice: (n) => notices.push(n.message) });
    if (s.provider === 'cpu') {
      expect(notices).toEqual([expect.stringMatching(/^CUDA could not run fp16 \(.+\); using CPU instead\./)]);
      // where the CUDA library is simply not installed, the notice says how to install it
      if (process.platform === 'linux') expect(notices[0]).toMatch(/npm run install-cuda/);
    } else {
      // on a machine where CUDA does start there is nothing to fall back from, and no notice
      expect(s.provider).toBe('cuda');
      expect(notices).toEqual([]);
    }
    await s.release();
  });

  it('CPU sessions flush denormal floats to zero', async () => {
    // Softmax over scores biased by -1e4 (regional attention) makes denormals, which the CPU
    // computes with an order of magnitude slower; sessions flush them (createSession)
    const graph = encodeModel({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'denormal',
        node: [makeNode('Mul', ['x', 'y'], ['z'], 'mul')],
        input: [makeValueInfo('x', DataType.FLOAT, [64]), makeValueInfo('y', DataType.FLOAT, [64])],
        output: [makeValueInfo('z', DataType.FLOAT, [64])],
      },
    });
    const s = await createSession(graph, { providers: ['cpu'], label: 'denormal' });
    const out = await s.run({ x: { data: new Float32Array(64).fill(1e-20), dims: [64] }, y: { data: new Float32Array(64).fill(1e-20), dims: [64] } });
    // 1e-40 is below float32's smallest normal (1.2e-38): flushed, not kept as a denormal
    expect([...out.z]).toEqual(new Array(64).fill(0));
    await s.release();
  });
});
