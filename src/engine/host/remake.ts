/**
 * Making an image again from its `chord` record (`chord generate --from IMAGE`): the same prompt,
 * seed, sampler, size, LoRAs (found by their file hash), method, options and order. On the same
 * execution provider the result is the same image, bit for bit.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ChordError } from '../errors';
import { locateLora } from '../lora/parse';
import { recordedMethodOptions } from '../pipeline/methods';
import { hashFile } from '../hash';
import type { ChordImageRecord } from '../png/record';
import type { GenerateRequest } from './engine';

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/**
 * The file of a recorded LoRA, by its name, beside the model (loras/) or in `loraDirs`; its hash
 * must match. Records hold no paths: images are shared, and a path tells about its maker's disk.
 */
export async function findRecordedLora(lora: ChordImageRecord['loras'][number], modelDir: string, loraDirs: readonly string[] = []): Promise<string> {
  const candidates = [join(modelDir, 'loras'), ...loraDirs].flatMap((d) => [join(d, `${lora.name}.safetensors`), join(d, lora.name)]);
  const looked: string[] = [];
  for (const path of candidates) {
    if (!(await exists(path))) continue;
    looked.push(path);
    const loc = await locateLora(path).catch(() => undefined);
    if (loc && (await hashFile(loc.file)) === lora.fileHash) return path;
  }
  throw new ChordError(
    'FILE_NOT_FOUND',
    `The LoRA ${lora.name} this image was made with was not found${looked.length ? ` (${looked.join(', ')} ${looked.length > 1 ? 'differ' : 'differs'} from it)` : ''}.`,
    'Put the file beside the model in loras/, or pass its folder with --lora-dir.',
  );
}

/** A generation request that makes the recorded image again (one image, its own seed). */
export async function requestFromRecord(
  record: ChordImageRecord,
  options: { model: string; output: GenerateRequest['output']; loraDirs?: readonly string[] },
): Promise<GenerateRequest> {
  const found = await Promise.all(
    record.loras.map(async (l) => ({
      path: await findRecordedLora(l, options.model, options.loraDirs),
      weight: l.weight,
      ...(l.textEncoderWeight !== undefined ? { textEncoderWeight: l.textEncoderWeight } : {}),
      ...(l.promptTag ? { promptTag: true } : {}),
    })),
  );
  // regional images: bound LoRAs go back to their region (found by its box; boxes never overlap)
  const sameBox = (a: readonly number[], b: readonly number[]) => a.every((x, i) => x === b[i]);
  const regionOf = (k: number) => (record.regions ?? []).findIndex((r) => record.loras[k].region !== undefined && sameBox(r.box, (record.loras[k].region as { box: number[] }).box));
  const loras = found.filter((_, k) => regionOf(k) < 0);
  const regions = record.regions?.map((r, i) => ({ box: r.box, prompt: r.prompt, negative: r.negativePrompt, loras: found.filter((_, k) => regionOf(k) === i) }));
  const names = record.loras.map((l) => l.name);
  const numeric: Record<string, number | boolean> = {};
  for (const [k, v] of Object.entries(record.methodOptions)) if (typeof v !== 'string') numeric[k] = v;
  return {
    model: options.model,
    expectModelHash: record.model.hash,
    prompt: record.prompt,
    negativePrompt: record.negativePrompt,
    steps: record.steps,
    cfg: record.cfg,
    sampler: record.sampler,
    karras: record.karras,
    seed: record.seed,
    width: record.width,
    height: record.height,
    loras,
    // the prompt's <lora:...> tags are among the recorded LoRAs, found by their hash above
    ignorePromptTags: true,
    ...(record.embeddings ? { expectEmbeddings: record.embeddings.map((e) => ({ name: e.name, fileHash: e.fileHash })) } : {}),
    method: { name: record.method, options: recordedMethodOptions(record.method, numeric) },
    // the recorded order is authoritative whatever rule chose it; so is the H/L split
    order: record.loras.length > 0 ? record.ordering.order.map((k) => names[k]).join(',') : 'user',
    highFrequency: record.ordering.highFrequency?.map((k) => names[k]),
    output: options.output,
    ...(regions ? { regions } : {}),
  };
}
