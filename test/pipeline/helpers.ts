/** Shared helpers for the pipeline, host and CLI tests: the test model, temp folders, a tiny LoRA. */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoraTarget } from '../../src/engine/lora/types';
import { writeSafetensors, type TensorToWrite } from '../../src/engine/safetensors';

/**
 * The model the end-to-end tests run: $CHORD_TEST_MODEL, else the committed demo model
 * models/glyph-sd. It must be there: a missing model fails the tests instead of skipping them.
 */
export function testModelDir(): string {
  const dir = resolve(process.env.CHORD_TEST_MODEL ?? 'models/glyph-sd');
  if (!existsSync(join(dir, 'unet', 'model.onnx'))) throw new Error(`test model missing: ${dir}/unet/model.onnx`);
  return dir;
}

/** The real SD 1.5 folder layout (configs and tokenizer only), committed as a test fixture. */
export const SD15_LAYOUT = fileURLToPath(new URL('../fixtures/sd15-layout', import.meta.url));

export function makeTmpDir(prefix = 'chord-pipeline-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Deterministic small values in [-0.06, 0.06]. */
export function pattern(n: number, salt: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 0.01 * (((i * 7 + salt * 5) % 13) - 6);
  return out;
}

const kohyaName = (t: LoraTarget) => `${t.part === 'unet' ? 'lora_unet' : 'lora_te'}_${t.modulePath.replace(/\./g, '_')}`;

/**
 * A kohya-style LoRA over the given targets (rank `rank`, alpha = rank / 2 so the scale 0.5 is
 * visible), with `magnitude` times larger values than `pattern` gives.
 */
export async function writeTestLora(path: string, targets: readonly LoraTarget[], rank: number, salt: number, magnitude = 1): Promise<void> {
  const tensors: Record<string, TensorToWrite> = {};
  targets.forEach((t, i) => {
    const k = t.op === 'Conv' ? (t.conv?.kernel ?? [1, 1]) : undefined;
    const downShape = k ? [rank, t.inFeatures, k[0], k[1]] : [rank, t.inFeatures];
    const upShape = k ? [t.outFeatures, rank, 1, 1] : [t.outFeatures, rank];
    const scaled = (a: Float32Array) => a.map((v) => v * magnitude);
    tensors[`${kohyaName(t)}.lora_down.weight`] = { dtype: 'F32', shape: downShape, data: scaled(pattern(downShape.reduce((a, b) => a * b, 1), salt + i)) };
    tensors[`${kohyaName(t)}.lora_up.weight`] = { dtype: 'F32', shape: upShape, data: scaled(pattern(upShape.reduce((a, b) => a * b, 1), salt + 2 * i + 1)) };
    tensors[`${kohyaName(t)}.alpha`] = { dtype: 'F32', shape: [], data: [rank / 2] };
  });
  await writeSafetensors(path, tensors, { ss_network_dim: String(rank), ss_base_model_version: 'sd_v1' });
}

export function readTargets(path: string): LoraTarget[] {
  return JSON.parse(readFileSync(path, 'utf8')) as LoraTarget[];
}
