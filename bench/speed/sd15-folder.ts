/**
 * The SD 1.5-sized UNet (random weights, a UNet-only folder) as the engine can open it, with
 * random kohya LoRAs for it: shared by the composition-method and regional speed benches.
 */
import { cpSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chordCacheDir } from '../../src/engine';
import { derivedGraph } from '../../src/engine/model/derived-graphs';
import { branchInputs } from '../../src/engine/model/lora-stack';
import { LORA_CPU_PASS } from '../../src/engine/model/passes';
import { createSession } from '../../src/engine/model/session';
import { writeSafetensors, type TensorToWrite } from '../../src/engine/safetensors';
import { isKohyaLayer, randomLoras } from './unet-feeds';

/** A model folder around `sd15Dir`'s UNet with `modelDir`'s other parts (never run); in a temp folder. */
export function sd15Folder(modelDir: string, sd15Dir: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'chord-sd15-'));
  for (const part of ['text_encoder', 'vae_decoder', 'tokenizer', 'scheduler']) symlinkSync(resolve(modelDir, part), join(dir, part));
  symlinkSync(resolve(sd15Dir, 'unet'), join(dir, 'unet'));
  cpSync(resolve(modelDir, 'model_index.json'), join(dir, 'model_index.json'));
  return dir;
}

/** `count` random kohya LoRA files of rank `rank` on the UNet's attention layers, written into `dir`. */
export async function writeRandomLoras(unetPath: string, dir: string, count: number, rank: number): Promise<string[]> {
  const derived = await derivedGraph(unetPath, 'unet', [LORA_CPU_PASS], chordCacheDir());
  const session = await createSession(derived.path, { providers: ['cpu'], label: 'unet' });
  const branches = (branchInputs(session.inputs, session.label) ?? []).filter((b) => isKohyaLayer(b.modulePath));
  await session.release();
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (const [k, lora] of randomLoras(branches, count, rank, 99).entries()) {
    const tensors: Record<string, TensorToWrite> = {};
    for (const m of lora.modules) {
      const key = `lora_unet_${m.modulePath.replace(/\./g, '_')}`;
      tensors[`${key}.lora_down.weight`] = { dtype: 'F32', shape: m.downShape, data: m.down };
      tensors[`${key}.lora_up.weight`] = { dtype: 'F32', shape: m.upShape, data: m.up };
      tensors[`${key}.alpha`] = { dtype: 'F32', shape: [], data: [m.alpha] };
    }
    files.push(join(dir, `random-${k}.safetensors`));
    await writeSafetensors(files[k], tensors, { ss_network_dim: String(rank) });
  }
  return files;
}
