/**
 * (e) and (f) on a whole model folder: each repetition is a fresh process that makes its first
 * image (e), then further images in the same process (f).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runOnce } from './child';
import { formatMs } from './format';
import type { SpeedOptions } from './options';
import type { ImageReply, ImageReport, LoraSwitchReply, LoraSwitchReport } from './protocol';

export interface ImageRun {
  report: ImageReport;
  /** from just before the fork to the first image saved (process creation included) */
  startToFirstMs: number;
}

export async function runImageBench(o: SpeedOptions, modelDir: string, cacheDir: string, log: (line: string) => void): Promise<ImageRun[]> {
  const runs: ImageRun[] = [];
  for (let rep = 0; rep < o.reps; rep++) {
    const out = await mkdtemp(join(tmpdir(), 'chord-speed-'));
    try {
      const args = [modelDir, String(o.imageSteps), String(o.imagesPerProcess), out, cacheDir, ...(o.threads ? [String(o.threads)] : [])];
      const { reply, forkedAt } = await runOnce<ImageReply>('./image-worker.ts', args, 'the image process');
      if (reply.type !== 'image') throw new Error('unexpected answer from the image process');
      const startToFirstMs = reply.firstImageAt - forkedAt;
      runs.push({ report: reply, startToFirstMs });
      log(`  process ${rep + 1}/${o.reps}: first image ${formatMs(startToFirstMs)} after start, then ${reply.imageMs.map(formatMs).join(', ')} per image`);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }
  return runs;
}

/** (d) through Model.useLoras on the model folder: one fresh process, a few passes. */
export async function runLoraSwitch(o: SpeedOptions, modelDir: string, cacheDir: string, log: (line: string) => void): Promise<LoraSwitchReport> {
  const work = await mkdtemp(join(tmpdir(), 'chord-speed-loras-'));
  try {
    const passes = o.quick ? 2 : 6;
    const args = [modelDir, cacheDir, work, String(o.loraCount), String(o.loraRank), String(passes)];
    const { reply } = await runOnce<LoraSwitchReply>('./lora-switch-worker.ts', args, 'the LoRA-switch process');
    if (reply.type !== 'lora-switch') throw new Error('unexpected answer from the LoRA-switch process');
    log(
      `  useLoras: first ${formatMs(reply.firstUseMs)}, another set ${formatMs(reply.setSwitchMs)}; passes ${formatMs(reply.steadyPassMs)} steady, ` +
        `${formatMs(reply.gatePassMs)} switching; same sessions: ${reply.sameSessions ? 'yes' : 'NO'}`,
    );
    return reply;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
