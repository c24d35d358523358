import { describe, expect, it } from 'vitest';
import type { ModelFolder } from '../../src/engine/model/folder';
import { guide } from '../../src/engine/pipeline/guidance';
import { Merge } from '../../src/engine/pipeline/merge';
import { latentPreview } from '../../src/engine/pipeline/preview';
import { resolveSampler, resolveSettings, samplerRecord } from '../../src/engine/pipeline/settings';

const sd15: ModelFolder = {
  dir: '/m',
  name: 'm',
  graphs: { text_encoder: '', unet: '', vae_decoder: '' },
  tokenizerFormat: 'clip-bpe',
  latentScale: 0.18215,
  downscale: 8,
  latentChannels: 4,
  defaultWidth: 512,
  defaultHeight: 512,
  sizeMultiple: 64,
};

describe('generation settings', () => {
  it('fills defaults from the model', () => {
    const s = resolveSettings({ prompt: 'a cat', seed: 5 }, sd15);
    expect(s).toEqual({ prompt: 'a cat', negativePrompt: '', steps: 20, cfg: 7, sampler: 'euler_a', seed: 5, width: 512, height: 512 });
    const random = resolveSettings({ prompt: '' }, sd15).seed;
    expect(Number.isSafeInteger(random) && random >= 0).toBe(true);
  });

  it('rejects sizes the exported UNet cannot take, naming nearby sizes', () => {
    expect(() => resolveSettings({ prompt: '', width: 520 }, sd15)).toThrow('Width must be a multiple of 64 for this model (got 520).');
    expect(() => resolveSettings({ prompt: '', height: 0 }, sd15)).toThrow(/Height must be a whole number from 64/);
    expect(() => resolveSettings({ prompt: '', steps: 0 }, sd15)).toThrow(/Steps must be a whole number from 1 to 1000/);
    expect(() => resolveSettings({ prompt: '', cfg: Number.NaN }, sd15)).toThrow(/guidance scale/);
    expect(() => resolveSettings({ prompt: '', seed: -1 }, sd15)).toThrow(/seed must be a whole number/);
  });

  it('maps sampler names and the Karras flag', () => {
    expect(resolveSampler('euler-a', false)).toBe('euler_a');
    expect(resolveSampler('dpmpp_2m', true)).toBe('dpmpp_2m_karras');
    expect(() => resolveSampler('euler', true)).toThrow(/Karras sigmas are available with dpmpp_2m only/);
    expect(() => resolveSampler('heun', false)).toThrow(/Unknown sampler "heun"/);
    expect(samplerRecord('dpmpp_2m_karras')).toEqual({ sampler: 'dpmpp-2m', karras: true });
    expect(samplerRecord('euler_a')).toEqual({ sampler: 'euler-a', karras: false });
  });
});

describe('guidance, preview and Merge', () => {
  it('eps = u + g (c - u)', () => {
    const eps = guide({ uncond: Float32Array.of(1, 2), cond: Float32Array.of(3, 0) }, 7.5);
    expect([...eps]).toEqual([16, -13]);
  });

  it('previews a latent through the fixed linear map', () => {
    // one pixel with latent (1, 0, 0, 0) -> RGB (0.298, 0.207, 0.208) -> bytes
    const p = latentPreview(Float32Array.of(1, 0, 0, 0), 1, 1);
    expect(p).toEqual({ width: 1, height: 1, rgb: Uint8Array.of(165, 154, 154) });
  });

  it('Merge runs one pass with every LoRA at its weight, text encoder included', async () => {
    const m = new Merge([0.8, 1.2]);
    const seen: (readonly number[])[] = [];
    const prediction = { uncond: Float32Array.of(0), cond: Float32Array.of(1) };
    const out = await m.predict(3, 20, async (request) => {
      seen.push(...request.configs);
      expect(request.depth ?? 'full').toBe('full');
      return { predictions: [prediction] };
    });
    expect(out.prediction).toBe(prediction);
    expect(out.active).toEqual([0, 1]);
    expect(seen).toEqual([[0.8, 1.2]]);
    expect(m.promptWeights()).toEqual([0.8, 1.2]);
  });
});
