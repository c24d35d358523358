/** Shared helpers for the LoRA tests: temp folders, tiny tensors, a tiny SD 1.5-like target list. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TensorToWrite } from '../../src/engine/safetensors';
import type { LoraTarget } from '../../src/engine/lora/types';

export function makeTmpDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'chord-lora-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Deterministic values 0.01 * ((i * 7 + salt) % 13 - 6) for a shape. */
export function values(shape: number[], salt = 0): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 0.01 * (((i * 7 + salt) % 13) - 6);
  return out;
}

export function f32(shape: number[], data?: ArrayLike<number>, salt = 0): TensorToWrite {
  return { dtype: 'F32', shape, data: data ?? values(shape, salt) };
}

export function f16(shape: number[], data?: ArrayLike<number>, salt = 0): TensorToWrite {
  return { dtype: 'F16', shape, data: data ?? values(shape, salt) };
}

export const scalar = (v: number): TensorToWrite => ({ dtype: 'F32', shape: [], data: [v] });

const linear = (modulePath: string, inFeatures: number, outFeatures: number, part: LoraTarget['part'] = 'unet'): LoraTarget => ({
  part,
  modulePath,
  op: 'MatMul',
  inFeatures,
  outFeatures,
});

const conv = (modulePath: string, inFeatures: number, outFeatures: number, k: number): LoraTarget => ({
  part: 'unet',
  modulePath,
  op: 'Conv',
  inFeatures,
  outFeatures,
  conv: { kernel: [k, k], strides: [1, 1], pads: [k >> 1, k >> 1, k >> 1, k >> 1], dilations: [1, 1], group: 1 },
});

const TB = 'down_blocks.0.attentions.0.transformer_blocks.0';

/** A tiny SD 1.5-like model: real module paths, 4-channel blocks, the real 768 context width. */
export const TINY_TARGETS: LoraTarget[] = [
  conv('down_blocks.0.attentions.0.proj_in', 4, 4, 1),
  linear(`${TB}.attn1.to_q`, 4, 4),
  linear(`${TB}.attn1.to_k`, 4, 4),
  linear(`${TB}.attn1.to_v`, 4, 4),
  linear(`${TB}.attn1.to_out.0`, 4, 4),
  linear(`${TB}.attn2.to_q`, 4, 4),
  linear(`${TB}.attn2.to_k`, 768, 4),
  linear(`${TB}.attn2.to_v`, 768, 4),
  linear(`${TB}.attn2.to_out.0`, 4, 4),
  linear(`${TB}.ff.net.0.proj`, 4, 16),
  linear(`${TB}.ff.net.2`, 8, 4),
  conv('down_blocks.0.attentions.0.proj_out', 4, 4, 1),
  conv('down_blocks.0.resnets.0.conv1', 4, 4, 3),
  conv('down_blocks.0.resnets.0.conv2', 4, 4, 3),
  { ...linear('down_blocks.0.resnets.0.time_emb_proj', 8, 4), op: 'Gemm' },
  conv('down_blocks.0.downsamplers.0.conv', 4, 4, 3),
  conv('down_blocks.1.resnets.0.conv_shortcut', 4, 8, 1),
  linear('down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q', 8, 8),
  conv('mid_block.attentions.0.proj_in', 8, 8, 1),
  linear('up_blocks.1.attentions.2.transformer_blocks.0.attn1.to_q', 8, 8),
  conv('up_blocks.0.upsamplers.0.conv', 8, 8, 3),
  linear('text_model.encoder.layers.0.self_attn.q_proj', 6, 6, 'text_encoder'),
  linear('text_model.encoder.layers.0.self_attn.out_proj', 6, 6, 'text_encoder'),
  linear('text_model.encoder.layers.0.mlp.fc1', 6, 24, 'text_encoder'),
];

/** Plain row-major matmul for expected values: a [m, k] @ b [k, n]. */
export function refMatmul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): number[] {
  const out = new Array<number>(m * n).fill(0);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) out[i * n + j] += a[i * k + p] * b[p * n + j];
  return out;
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-6): void {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= tol * Math.max(1, Math.abs(expected[i])))) {
      throw new Error(`index ${i}: ${actual[i]} != ${expected[i]}`);
    }
  }
}
