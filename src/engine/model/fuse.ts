/**
 * `chord lora fuse`: a new model folder with LoRAs baked into the weights, W' = W + sum_k w_k dW_k.
 * The reference path for checking run-time LoRA, and the way to use LoRA types that have no
 * activation form (LoHa, LoKr, full diffs). The source folder is only read.
 */
import { cp, mkdir, readdir, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { ChordError } from '../errors';
import { mapLoraToTargets, type MappedLora } from '../lora/mapping';
import { readLoraFile } from '../lora/parse';
import type { LoraModule, LoraTarget, ModelPart } from '../lora/types';
import { findLoraTargets, fuseDeltas, type ModelProto, readModel, type WeightDelta, writeModel } from '../onnx';
import { inspectModelFolder } from './folder';

export interface FuseLora {
  path: string;
  weight: number;
}

export interface FuseResult {
  outDir: string;
  loras: { path: string; weight: number; summary: string; fusedModules: number; skippedModules: number }[];
}

const PARTS: readonly ModelPart[] = ['text_encoder', 'unet'];

/** scale * up [out, r] @ down [r, cols] in PyTorch layout, times the user weight. */
export function denseDelta(m: LoraModule, weight: number): WeightDelta {
  const out = m.upShape[0];
  const cols = m.down.length / m.rank;
  const delta = new Float32Array(out * cols);
  const s = m.scale * weight;
  for (let o = 0; o < out; o++) {
    for (let r = 0; r < m.rank; r++) {
      const u = m.up[o * m.rank + r] * s;
      if (u === 0) continue;
      const row = r * cols;
      const dst = o * cols;
      for (let c = 0; c < cols; c++) delta[dst + c] += u * m.down[row + c];
    }
  }
  const shape = m.kind === 'conv' ? [out, ...m.downShape.slice(1)] : [out, cols];
  return { delta, shape };
}

function addInto(map: Map<string, WeightDelta>, modulePath: string, d: WeightDelta): void {
  const prev = map.get(modulePath);
  if (!prev) {
    map.set(modulePath, d);
    return;
  }
  for (let i = 0; i < prev.delta.length; i++) prev.delta[i] += d.delta[i];
}

async function ensureEmptyTarget(outDir: string, sourceDir: string): Promise<void> {
  const out = resolve(outDir);
  const rel = relative(sourceDir, out);
  if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) {
    throw new ChordError('BAD_ARGUMENT', `The output folder ${outDir} is inside the model folder.`, 'Choose a folder outside it; Chord never writes into a model folder.');
  }
  const entries = await readdir(out).catch(() => undefined);
  if (entries && entries.length > 0) throw new ChordError('BAD_ARGUMENT', `The output folder ${outDir} is not empty.`, 'Choose a new or empty folder.');
  await mkdir(out, { recursive: true });
}

/**
 * Reads the model and LoRAs, adds every LoRA's weight delta into the text encoder and UNet, writes
 * them to `outDir`, and copies the rest of the folder (VAE, tokenizer, scheduler, configs).
 */
export async function fuseLorasIntoFolder(modelDir: string, loras: readonly FuseLora[], outDir: string): Promise<FuseResult> {
  if (loras.length === 0) throw new ChordError('BAD_ARGUMENT', 'Name at least one LoRA to fuse (--lora FILE:weight).');
  const folder = await inspectModelFolder(modelDir);
  await ensureEmptyTarget(outDir, folder.dir);

  const models = {} as Record<ModelPart, ModelProto>;
  const targets: LoraTarget[] = [];
  for (const part of PARTS) {
    models[part] = await readModel(folder.graphs[part]);
    targets.push(...findLoraTargets(models[part], part));
  }

  const deltas: Record<ModelPart, Map<string, WeightDelta>> = { text_encoder: new Map(), unet: new Map() };
  const report: FuseResult['loras'] = [];
  for (const lora of loras) {
    const mapped: MappedLora = mapLoraToTargets(await readLoraFile(lora.path), targets);
    let fused = 0;
    let skipped = 0;
    for (const m of mapped.modules) {
      addInto(deltas[m.part], m.modulePath, denseDelta(m, lora.weight));
      fused++;
    }
    for (const d of mapped.deltas) {
      // DoRA depends on the base weight, which the graph side has not exposed for merging yet
      if (d.dora) {
        skipped++;
        continue;
      }
      addInto(deltas[d.part], d.modulePath, { delta: d.delta.map((v) => v * lora.weight), shape: d.shape });
      fused++;
    }
    report.push({ path: lora.path, weight: lora.weight, summary: mapped.report.summary, fusedModules: fused, skippedModules: skipped });
  }

  const out = resolve(outDir);
  for (const part of PARTS) {
    const model = deltas[part].size > 0 ? fuseDeltas(models[part], deltas[part]) : models[part];
    // copy weights (not links): the fused folder must not change if the source is edited
    await writeModel(model, join(out, part, 'model.onnx'), { externalData: 'copy' });
  }
  await copyRest(folder.dir, out);
  return { outDir: out, loras: report };
}

/** Everything except the two rewritten graphs (and their external weights). */
async function copyRest(src: string, dst: string): Promise<void> {
  for (const entry of await readdir(src)) {
    const from = join(src, entry);
    if (PARTS.includes(entry as ModelPart) && (await stat(from)).isDirectory()) {
      for (const file of await readdir(from)) {
        if (/\.json$/i.test(file)) await cp(join(from, file), join(dst, entry, basename(file)));
      }
      continue;
    }
    await cp(from, join(dst, entry), { recursive: true, errorOnExist: false });
  }
}
