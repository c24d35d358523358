/**
 * Guards the committed demo model family (models/glyph-sd): every graph loads in onnxruntime-node
 * with the inputs and outputs the engine expects, and every LoRA file maps completely onto the
 * UNet and text encoder found in the graphs. A broken re-export cannot land.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { findLoraTargets, readModel } from '../../src/engine/onnx';
import { loadLora } from '../../src/engine/lora/load';
import type { LoraTarget } from '../../src/engine/lora/types';

const MODEL = join(__dirname, '..', '..', 'models', 'glyph-sd');

const EXPECTED: Record<string, { inputs: string[]; outputs: string[] }> = {
  text_encoder: { inputs: ['input_ids'], outputs: ['last_hidden_state', 'pooler_output'] },
  unet: { inputs: ['sample', 'timestep', 'encoder_hidden_states'], outputs: ['out_sample'] },
  vae_decoder: { inputs: ['latent_sample'], outputs: ['sample'] },
  vae_encoder: { inputs: ['sample'], outputs: ['latent_sample'] },
};

function json(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

describe('the committed glyph-sd model folder', () => {
  it('has the diffusers ONNX layout and the configs the engine reads', () => {
    for (const f of ['model_index.json', 'tokenizer/tokenizer.json', 'scheduler/scheduler_config.json',
      'unet/config.json', 'vae_decoder/config.json', 'text_encoder/config.json']) {
      expect(existsSync(join(MODEL, f)), f).toBe(true);
    }
    const vae = json(join(MODEL, 'vae_decoder/config.json'));
    expect(vae.latent_channels).toBe(4);
    expect(vae.downscale_factor).toBe(4);
    expect(typeof vae.scaling_factor).toBe('number');
    const sched = json(join(MODEL, 'scheduler/scheduler_config.json'));
    expect([sched.beta_schedule, sched.beta_start, sched.beta_end, sched.num_train_timesteps, sched.prediction_type])
      .toEqual(['scaled_linear', 0.00085, 0.012, 1000, 'epsilon']);
  });

  for (const [part, io] of Object.entries(EXPECTED)) {
    it(`${part}/model.onnx loads with inputs ${io.inputs.join(', ')}`, async () => {
      const session = await ort.InferenceSession.create(join(MODEL, part, 'model.onnx'));
      expect([...session.inputNames]).toEqual(io.inputs);
      expect([...session.outputNames]).toEqual(io.outputs);
      await session.release();
    });
  }

  it('runs one UNet step with the right output shape', async () => {
    const session = await ort.InferenceSession.create(join(MODEL, 'unet', 'model.onnx'));
    const sample = new ort.Tensor('float32', new Float32Array(2 * 4 * 16 * 16).fill(0.1), [2, 4, 16, 16]);
    const timestep = new ort.Tensor('float32', new Float32Array([500, 500]), [2]);
    const ctx = new ort.Tensor('float32', new Float32Array(2 * 77 * 64).fill(0.01), [2, 77, 64]);
    const out = await session.run({ sample, timestep, encoder_hidden_states: ctx });
    expect(out.out_sample.dims).toEqual([2, 4, 16, 16]);
    expect([...(out.out_sample.data as Float32Array)].every(Number.isFinite)).toBe(true);
    await session.release();
  });

  it('names UNet and text-encoder layers by module path, as real SD exports do', async () => {
    const unet = findLoraTargets(await readModel(join(MODEL, 'unet', 'model.onnx')), 'unet');
    const te = findLoraTargets(await readModel(join(MODEL, 'text_encoder', 'model.onnx')), 'text_encoder');
    const paths = new Set([...unet, ...te].map((t) => t.modulePath));
    for (const p of ['down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q',
      'up_blocks.2.attentions.1.transformer_blocks.0.attn2.to_out.0', 'mid_block.resnets.1.conv2',
      'down_blocks.1.resnets.0.time_emb_proj', 'text_model.encoder.layers.0.self_attn.q_proj']) {
      expect(paths.has(p), p).toBe(true);
    }
  });

  it('has LoRA files whose every module maps onto the model', async () => {
    const targets: LoraTarget[] = [
      ...findLoraTargets(await readModel(join(MODEL, 'unet', 'model.onnx')), 'unet'),
      ...findLoraTargets(await readModel(join(MODEL, 'text_encoder', 'model.onnx')), 'text_encoder'),
    ];
    const dir = join(MODEL, 'loras');
    const files = readdirSync(dir).filter((f) => f.endsWith('.safetensors'));
    expect(files.length).toBeGreaterThanOrEqual(12);
    for (const f of [...files, 'dots-peft']) {
      const lora = await loadLora(join(dir, f), targets);
      expect(lora.report.unmatched, f).toEqual([]);
      expect(lora.modules.length, f).toBeGreaterThan(40);
      if (!f.endsWith('-peft')) expect(lora.modules.some((m) => m.part === 'text_encoder'), f).toBe(true);
      expect(lora.modules.some((m) => m.kind === 'conv'), f).toBe(true);
      if (!f.includes('-')) expect(existsSync(join(dir, f.replace(/\.safetensors$/, '.png'))), f).toBe(true);
    }
  });
});
