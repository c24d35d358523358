/**
 * Run-time LoRA equals fused LoRA on the real demo family, for each file format it ships: kohya
 * fp16 with LoCon convs (zorb), kohya fp32 (hatching), diffusers keys (quill-diffusers) and a PEFT
 * adapter folder (dots-peft). One text-encoder pass and one UNet pass each, against
 * `chord lora fuse`'s folder; plus the same LoRA in two formats gives the same output.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuseLorasIntoFolder, openModel, type Model } from '../../src/engine';

const MODEL = join(__dirname, '..', '..', 'models', 'glyph-sd');
const LORAS = join(MODEL, 'loras');
const TOLERANCE = 2e-4; // float32 re-association between x(W + dW) and xW + (xA)B

let tmp: string;
let runtime: Model;

const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

function inputs(model: Model) {
  const tok = model.tokenizer;
  const words = tok.encode('zorb hatz, a red circle on the left, gray background');
  const ids = new Int32Array(2 * 77).fill(tok.eos);
  ids[0] = tok.bos;
  ids[77] = tok.bos;
  ids.set(words, 78);
  const sample = new Float32Array(2 * 4 * 16 * 16).map((_, i) => Math.sin(i * 0.37) * 1.3);
  return { ids: { data: ids, dims: [2, 77] }, sample: { data: sample, dims: [2, 4, 16, 16] } };
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'chord-formats-'));
  runtime = await openModel(MODEL, { provider: 'cpu', cacheDir: join(tmp, 'cache') });
});
afterAll(async () => {
  await runtime.release();
  rmSync(tmp, { recursive: true, force: true });
});

describe('run-time LoRA equals fused LoRA on the demo family', () => {
  for (const [file, weight] of [['zorb.safetensors', 1], ['hatching.safetensors', 0.7], ['quill-diffusers.safetensors', 1], ['dots-peft', 1.2]] as const) {
    it(`${file} at weight ${weight}`, async () => {
      const path = join(LORAS, file);
      await runtime.useLoras([path]);
      const fused = await fuseLorasIntoFolder(MODEL, [{ path, weight }], join(tmp, `fused-${file}`));
      const baked = await openModel(fused.outDir, { provider: 'cpu', cacheDir: join(tmp, 'cache') });
      const { ids, sample } = inputs(runtime);
      const ctxRun = await runtime.encodeText(ids, [weight]);
      const ctxBaked = await baked.encodeText(ids);
      expect(maxDiff(ctxRun.data, ctxBaked.data)).toBeLessThan(TOLERANCE);
      const epsRun = await runtime.predictNoise(sample, 600, ctxRun, [weight]);
      const epsBaked = await baked.predictNoise(sample, 600, ctxBaked);
      expect(maxDiff(epsRun, epsBaked)).toBeLessThan(TOLERANCE);
      // and the LoRA really does something
      const epsOff = await runtime.predictNoise(sample, 600, ctxRun, [0]);
      expect(maxDiff(epsRun, epsOff)).toBeGreaterThan(1e-2);
      await baked.release();
    });
  }

  it('the same LoRA in kohya fp16 and diffusers fp32 keys gives the same output', async () => {
    await runtime.useLoras([join(LORAS, 'quill.safetensors'), join(LORAS, 'quill-diffusers.safetensors')]);
    const { ids, sample } = inputs(runtime);
    const a = await runtime.predictNoise(sample, 600, await runtime.encodeText(ids, [1, 0]), [1, 0]);
    const b = await runtime.predictNoise(sample, 600, await runtime.encodeText(ids, [0, 1]), [0, 1]);
    expect(maxDiff(a, b)).toBeLessThan(1e-2); // fp16 storage of the kohya copy
  });
});
