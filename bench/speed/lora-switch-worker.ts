/**
 * (d) through the engine's own API on a whole model folder: `Model.useLoras` with one set of
 * LoRAs, passes whose gate switches the active LoRA, then `useLoras` with another set. The UNet
 * and text-encoder sessions must stay the same objects throughout (no session is re-created).
 *
 *   lora-switch-worker.ts MODEL_DIR CACHE_DIR WORK_DIR COUNT RANK PASSES
 */
import { join } from 'node:path';
import { isChordError } from '../../src/engine/errors';
import type { LoraTarget } from '../../src/engine/lora/types';
import { derivedGraph } from '../../src/engine/model/derived-graphs';
import { LORA_PASS } from '../../src/engine/model/passes';
import { openModel } from '../../src/engine/model/model';
import { type TensorToWrite, writeSafetensors } from '../../src/engine/safetensors';
import type { LoraSwitchReply } from './protocol';
import { median } from './stats';
import { CFG_BATCH, CONTEXT_TOKENS, isKohyaLayer, uniform, unetShapes } from './unet-feeds';

process.on('disconnect', () => process.exit(1));

function send(reply: LoraSwitchReply): void {
  process.send?.(reply, () => process.exit(0));
}

async function main(): Promise<void> {
  const [modelDir, cacheDir, workDir, countArg, rankArg, passesArg] = process.argv.slice(2);
  const count = Number(countArg);
  const rank = Number(rankArg);
  const passes = Number(passesArg);
  const model = await openModel(modelDir, { cacheDir, provider: 'cpu' });
  // the targets the engine will find (the rewrite is cached, so useLoras below reuses it); the
  // files are standard kohya LoRAs (attention, ff, proj_in/out)
  const { targets: unetTargets } = await derivedGraph(model.folder.graphs.unet, 'unet', [LORA_PASS], cacheDir);
  const targets = unetTargets.filter((t) => isKohyaLayer(t.modulePath));
  const files: string[] = [];
  for (let k = 0; k < count; k++) {
    const file = join(workDir, `lora-${k}.safetensors`);
    await writeSafetensors(file, kohyaTensors(targets, rank, k));
    files.push(file);
  }

  let t = performance.now();
  await model.useLoras(files);
  const firstUseMs = performance.now() - t;
  const unet = await model.session('unet');
  const textEncoder = await model.session('text_encoder');
  let same = true;
  const check = async () => {
    same &&= (await model.session('unet')) === unet && (await model.session('text_encoder')) === textEncoder;
  };

  const f = model.folder;
  const shapes = await unetShapes(unet, join(f.dir, 'unet'), f.defaultWidth / f.downscale);
  const [c, h, w] = shapes.latent;
  const sample = { data: uniform(CFG_BATCH * c * h * w, 1, 1), dims: [CFG_BATCH, c, h, w] };
  const context = { data: uniform(CFG_BATCH * CONTEXT_TOKENS * shapes.contextWidth, 2, 1), dims: [CFG_BATCH, CONTEXT_TOKENS, shapes.contextWidth] };
  const pass = async (weights: number[]) => {
    const t0 = performance.now();
    await model.predictNoise(sample, 981, context, weights);
    return performance.now() - t0;
  };
  const all = files.map(() => 1);
  await pass(all);
  const steady: number[] = [];
  const gate: number[] = [];
  for (let i = 0; i < passes; i++) {
    steady.push(await pass(all));
    // one LoRA on, the others off: another LoRA each pass
    gate.push(await pass(files.map((_, k) => (k === i % count ? 1 : 0))));
    await check();
  }

  t = performance.now();
  const fewer = files.slice(1);
  await model.useLoras(fewer);
  const setSwitchMs = performance.now() - t;
  const passAfterSetSwitchMs = await pass(fewer.map(() => 1));
  await check();
  await model.release();
  send({
    type: 'lora-switch',
    count,
    rank,
    firstUseMs,
    gatePassMs: median(gate),
    steadyPassMs: median(steady),
    setSwitchMs,
    passAfterSetSwitchMs,
    sameSessions: same,
    rss: process.memoryUsage().rss,
    maxRss: process.resourceUsage().maxRSS * 1024,
  });
}

/** A kohya-style LoRA file's tensors over UNet targets (the naming `lora_unet_<path with _>`). */
function kohyaTensors(targets: readonly LoraTarget[], rank: number, salt: number): Record<string, TensorToWrite> {
  const out: Record<string, TensorToWrite> = {};
  targets.forEach((t, i) => {
    const name = `lora_unet_${t.modulePath.replace(/\./g, '_')}`;
    const k = t.op === 'Conv' ? (t.conv?.kernel ?? [1, 1]) : undefined;
    const down = k ? [rank, t.inFeatures, k[0], k[1]] : [rank, t.inFeatures];
    const up = k ? [t.outFeatures, rank, 1, 1] : [t.outFeatures, rank];
    const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
    out[`${name}.lora_down.weight`] = { dtype: 'F32', shape: down, data: uniform(size(down), 1000 * salt + 2 * i + 1, 0.05) };
    out[`${name}.lora_up.weight`] = { dtype: 'F32', shape: up, data: uniform(size(up), 1000 * salt + 2 * i + 2, 0.05) };
    out[`${name}.alpha`] = { dtype: 'F32', shape: [], data: Float32Array.of(rank) };
  });
  return out;
}

main().catch((e: unknown) => {
  send({ type: 'error', message: isChordError(e) ? e.userText() : e instanceof Error ? e.message : String(e) });
});
