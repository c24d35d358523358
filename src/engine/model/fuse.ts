/**
 * `chord lora fuse`: a new model folder with LoRAs baked into the weights, W' = W + sum_k w_k dW_k.
 * The reference path for checking run-time LoRA, and the way to use LoRA types that have no
 * activation form (LoHa, LoKr, full diffs). The source folder is only read.
 *
 * Only the components present are fused: a folder may hold just unet/ (a common way to ship a UNet
 * fine-tune). LoRA modules for a component that is not there are skipped and counted.
 */
import { cp, mkdir, readdir, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { ChordError } from '../errors';
import { isFile } from '../fsutil';
import { mapLoraToTargets, type MappedLora } from '../lora/mapping';
import { readLoraFile } from '../lora/parse';
import type { LoraModule, LoraTarget, ModelPart } from '../lora/types';
import { findLoraTargets, fuseDeltas, type ModelProto, readModel, type WeightDelta, writeModel } from '../onnx';

export interface FuseLora {
  path: string;
  weight: number;
}

export interface FuseResult {
  outDir: string;
  /** the components written with LoRAs fused in */
  fusedParts: ModelPart[];
  /** the components the source folder does not have (their LoRA modules are skipped) */
  absentParts: ModelPart[];
  loras: {
    path: string;
    weight: number;
    summary: string;
    fusedModules: number;
    /** DoRA modules, which need the base weight and are not merged yet */
    skippedModules: number;
    /** modules for a component the folder does not have, per component */
    absentModules: Partial<Record<ModelPart, number>>;
  }[];
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

/** The components of `modelDir` a fuse can rewrite; at least one must be there. */
async function fusableParts(modelDir: string): Promise<{ dir: string; present: ModelPart[]; absent: ModelPart[] }> {
  const dir = resolve(modelDir);
  if (!(await stat(dir).then((s) => s.isDirectory(), () => false))) {
    throw new ChordError('FILE_NOT_FOUND', `Model folder not found: ${modelDir}.`, 'Choose a model folder in the diffusers ONNX layout.');
  }
  const present: ModelPart[] = [];
  const absent: ModelPart[] = [];
  for (const part of PARTS) ((await isFile(join(dir, part, 'model.onnx'))) ? present : absent).push(part);
  if (present.length === 0) {
    throw new ChordError(
      'MODEL_INVALID',
      `${modelDir} has neither text_encoder/model.onnx nor unet/model.onnx, so there is nothing to fuse LoRAs into.`,
      'Choose a model folder in the diffusers ONNX layout, or one holding at least unet/.',
    );
  }
  return { dir, present, absent };
}

async function ensureEmptyTarget(outDir: string, sourceDir: string): Promise<void> {
  const out = resolve(outDir);
  const rel = relative(sourceDir, out);
  if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) {
    throw new ChordError('BAD_ARGUMENT', `The output folder ${outDir} is inside the model folder.`, 'Choose a folder outside it; Chord never writes into a model folder.');
  }
  const entries = await readdir(out).catch(() => undefined);
  if (entries && entries.length > 0) throw new ChordError('BAD_ARGUMENT', `The output folder ${outDir} is not empty.`, 'Choose a new or empty folder.');
}

/**
 * Reads the model and LoRAs, adds every LoRA's weight delta into the text encoder and UNet (those
 * of the two the folder has), writes them to `outDir`, and copies the rest of the folder (VAE,
 * tokenizer, scheduler, configs).
 */
export async function fuseLorasIntoFolder(modelDir: string, loras: readonly FuseLora[], outDir: string): Promise<FuseResult> {
  if (loras.length === 0) throw new ChordError('BAD_ARGUMENT', 'Name at least one LoRA to fuse (--lora FILE:weight).');
  const folder = await fusableParts(modelDir);
  await ensureEmptyTarget(outDir, folder.dir);

  const models: Partial<Record<ModelPart, ModelProto>> = {};
  const targets: LoraTarget[] = [];
  for (const part of folder.present) {
    const model = await readModel(join(folder.dir, part, 'model.onnx'));
    models[part] = model;
    targets.push(...findLoraTargets(model, part));
  }

  const deltas: Record<ModelPart, Map<string, WeightDelta>> = { text_encoder: new Map(), unet: new Map() };
  const report: FuseResult['loras'] = [];
  for (const lora of loras) {
    const parsed = await readLoraFile(lora.path);
    const absentModules: Partial<Record<ModelPart, number>> = {};
    for (const e of parsed.entries) if (folder.absent.includes(e.part)) absentModules[e.part] = (absentModules[e.part] ?? 0) + 1;
    const entries = parsed.entries.filter((e) => folder.present.includes(e.part));
    if (entries.length === 0) {
      report.push({ path: lora.path, weight: lora.weight, summary: `no modules for ${folder.present.join(' or ')}`, fusedModules: 0, skippedModules: 0, absentModules });
      continue;
    }
    const mapped: MappedLora = mapLoraToTargets({ ...parsed, entries }, targets);
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
    report.push({ path: lora.path, weight: lora.weight, summary: mapped.report.summary, fusedModules: fused, skippedModules: skipped, absentModules });
  }
  if (report.every((r) => r.fusedModules === 0)) {
    throw new ChordError(
      'LORA_NO_MATCH',
      `Nothing to fuse: the LoRAs have no modules Chord can merge into ${folder.present.map((p) => `${p}/`).join(' and ')}, the only ${folder.present.length === 1 ? 'component' : 'components'} in ${modelDir}.`,
      'Use LoRAs for those components, or a model folder that has the others.',
    );
  }

  const out = resolve(outDir);
  await mkdir(out, { recursive: true });
  for (const part of folder.present) {
    const source = models[part] as ModelProto;
    const model = deltas[part].size > 0 ? fuseDeltas(source, deltas[part]) : source;
    // copy weights (not links): the fused folder must not change if the source is edited
    await writeModel(model, join(out, part, 'model.onnx'), { externalData: 'copy' });
  }
  await copyRest(folder.dir, out);
  return { outDir: out, fusedParts: folder.present, absentParts: folder.absent, loras: report };
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
