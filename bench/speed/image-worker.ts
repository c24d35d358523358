/**
 * A fresh process that makes images with the engine, for (e) time to first image and (f) images
 * per second. Timed from the process start (performance.timeOrigin), so node's and tsx's start,
 * the imports, opening the model, creating its sessions, the image and saving it all count.
 *
 *   image-worker.ts MODEL_DIR STEPS FURTHER_IMAGES OUT_DIR CACHE_DIR [THREADS]
 */
import { join } from 'node:path';
import type { ImageReply } from './protocol';

const bootMs = performance.now();

function send(reply: ImageReply): void {
  process.send?.(reply, () => process.exit(0));
}

process.on('disconnect', () => process.exit(1));

async function main(): Promise<void> {
  const [model, stepsArg, furtherArg, outDir, cacheDir, threadsArg] = process.argv.slice(2);
  const steps = Number(stepsArg);
  const further = Number(furtherArg);
  const { Engine } = await import('../../src/engine/host/engine');
  const importedMs = performance.now();

  const engine = new Engine({ cacheDir, threads: threadsArg ? Number(threadsArg) : undefined });
  const request = { model, prompt: 'a red circle on a blue square', negativePrompt: 'blurry', steps, seed: 7 };
  const first = await engine.generate({ ...request, output: { file: join(outDir, 'first.png') } });
  const firstImageMs = performance.now();
  const maxRssFirst = process.resourceUsage().maxRSS * 1024;

  const rest = await engine.generate({ ...request, seed: 8, batchCount: further, output: { dir: join(outDir, 'more') } });
  await engine.release();
  send({
    type: 'image',
    bootMs,
    importedMs,
    firstImageMs,
    firstImageAt: performance.timeOrigin + firstImageMs,
    loadModelMs: first.timings.loadModel,
    firstImageTotalMs: first.images[0].timings.total,
    maxRssFirst,
    imageMs: rest.images.map((i) => i.timings.total),
    provider: first.provider,
    width: first.images[0].width,
    height: first.images[0].height,
    rss: process.memoryUsage().rss,
    maxRss: process.resourceUsage().maxRSS * 1024,
  });
}

main().catch(async (e: unknown) => {
  const { isChordError } = await import('../../src/engine/errors');
  send({ type: 'error', message: isChordError(e) ? e.userText() : e instanceof Error ? e.message : String(e) });
});
