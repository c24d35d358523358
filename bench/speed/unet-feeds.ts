/**
 * Inputs for timing a UNet on its own: latents, timestep and text context of a CFG batch of two,
 * random LoRAs of the right shapes for a rewritten graph, and the engine's per-step work exactly
 * as the pipeline does it (txt2img.ts step 4 around Model.predictNoise).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LoraModule } from '../../src/engine/lora/types';
import type { BranchInput, LoraForPart } from '../../src/engine/model/lora-stack';
import type { Feed, InputInfo, ModelSession } from '../../src/engine/model/session';
import { guide } from '../../src/engine/pipeline/guidance';
import { createScheduler, NoiseGenerator, SD15_SCHEDULER_CONFIG, type NoiseSource, type Scheduler } from '../../src/engine/schedulers';
import { batchItem, repeat, type FloatTensor } from '../../src/engine/tensor';

/** CFG: every UNet pass runs uncond and cond together. */
export const CFG_BATCH = 2;
/** CLIP's window length: SD 1.x text context is [batch, 77, width]. */
export const CONTEXT_TOKENS = 77;
/** SD's VAE: 8 image pixels per latent pixel. */
export const LATENT_DOWNSCALE = 8;

export interface UnetShapes {
  /** [channels, height, width] of one latent */
  latent: [number, number, number];
  /** cross-attention width: 768 for SD 1.x, 64 for the demo model */
  contextWidth: number;
}

/**
 * Latent and context sizes for a latent side: channels and cross-attention width from the
 * graph's declared input shapes, else from `unet/config.json`, else SD 1.x values.
 */
export async function unetShapes(session: ModelSession, unetDir: string, side: number): Promise<UnetShapes> {
  const fixed = (name: string, axis: number): number | undefined => {
    const d = session.inputs.get(name)?.shape[axis];
    return typeof d === 'number' && d > 0 ? d : undefined;
  };
  let config: Record<string, unknown> = {};
  try {
    config = JSON.parse(await readFile(join(unetDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    // no config: the graph or SD 1.x defaults decide
  }
  const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined);
  const channels = fixed('sample', 1) ?? num(config.in_channels) ?? 4;
  const contextWidth = fixed('encoder_hidden_states', 2) ?? num(config.cross_attention_dim) ?? 768;
  return { latent: [channels, side, side], contextWidth };
}

/** Fast deterministic uniform values in [-amplitude, amplitude) (contents do not matter for timing). */
export function uniform(count: number, seed: number, amplitude: number): Float32Array {
  const out = new Float32Array(count);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = ((s / 4294967296) * 2 - 1) * amplitude;
  }
  return out;
}

/**
 * The UNet layers a standard kohya LoRA trains (sd-scripts' `networks.lora` without conv options):
 * the Linears and 1x1 convs inside each Transformer2DModel (`…attentions.N.`), i.e. proj_in,
 * attn1/attn2 to_q/to_k/to_v/to_out.0, ff.net.0.proj, ff.net.2 and proj_out; 192 of SD 1.5's
 * 282 targets. LoCon-style LoRAs also train the resnet and sampler convs, the time embedding and
 * conv_in/conv_out: every target.
 */
export function isKohyaLayer(modulePath: string): boolean {
  return /(^|\.)attentions\.\d+\./.test(modulePath);
}

/**
 * `count` LoRAs of rank `rank` with random down/up for the given branches of a rewritten graph, in
 * kohya layout (down [r, in(, kh, kw)], up [out, r(, 1, 1)]), alpha = rank (scale 1).
 */
export function randomLoras(branches: readonly BranchInput[], count: number, rank: number, seed: number): LoraForPart[] {
  const loras: LoraForPart[] = [];
  for (let k = 0; k < count; k++) {
    const modules: LoraModule[] = branches.map((b, i) => {
      const kernel = b.kind === 'conv' ? b.kernel : undefined;
      const downShape = kernel ? [rank, b.inFeatures, kernel[0], kernel[1]] : [rank, b.inFeatures];
      const upShape = kernel ? [b.outFeatures, rank, 1, 1] : [b.outFeatures, rank];
      const size = (s: number[]) => s.reduce((x, y) => x * y, 1);
      const salt = seed + 1000 * k + 2 * i;
      return {
        part: 'unet',
        modulePath: b.modulePath,
        kind: b.kind,
        rank,
        alpha: rank,
        scale: 1,
        down: uniform(size(downShape), salt, 0.05),
        downShape,
        up: uniform(size(upShape), salt + 1, 0.05),
        upShape,
      };
    });
    loras.push({ modules });
  }
  return loras;
}

/**
 * The timestep feed as Model.predictNoise builds it: exports take float or integer timesteps,
 * one per batch item, a single one, or a scalar.
 */
export function timestepFeed(info: InputInfo | undefined, batch: number, timestep: number): Feed {
  const scalar = info !== undefined && info.shape.length === 0;
  const count = scalar || (info?.shape.length === 1 && info.shape[0] === 1) ? 1 : batch;
  const isInt = info?.type === 'int64' || info?.type === 'int32';
  return { data: isInt ? new Int32Array(count).fill(Math.round(timestep)) : new Float32Array(count).fill(timestep), dims: scalar ? [] : [count] };
}

/** Latents, timestep and context of one CFG batch, as engine feeds. */
export function baseFeeds(session: ModelSession, shapes: UnetShapes, seed: number): Record<string, Feed> {
  const [c, h, w] = shapes.latent;
  const noise = new NoiseGenerator(seed);
  return {
    sample: { data: noise.randn(CFG_BATCH * c * h * w), dims: [CFG_BATCH, c, h, w] },
    timestep: timestepFeed(session.inputs.get('timestep'), CFG_BATCH, 981),
    encoder_hidden_states: { data: noise.randn(CFG_BATCH * CONTEXT_TOKENS * shapes.contextWidth), dims: [CFG_BATCH, CONTEXT_TOKENS, shapes.contextWidth] },
  };
}

/**
 * The engine's work for one denoising step, as txt2img does it: scale the latent, repeat it for
 * the CFG batch, run the UNet through the engine's session (typed feeds -> tensors, output
 * copied back), split the halves, guide, scheduler step. Model.predictNoise is mirrored here
 * (timestep feed + LoRA feeds + ModelSession.run) because a Model needs a whole model folder and
 * makes its own session, while the benchmark runs the engine path on the same session as the
 * bare loop, so the difference is only the engine's own work.
 */
export class EngineSteps {
  private latents: Float32Array;
  private readonly scheduler: Scheduler;
  private readonly noise: NoiseSource;
  private readonly context: FloatTensor;
  private readonly latentSize: number;
  private index = 0;

  constructor(
    readonly session: ModelSession,
    private readonly shapes: UnetShapes,
    seed: number,
    private readonly totalSteps = 20,
    private readonly cfg = 7,
  ) {
    const [c, h, w] = shapes.latent;
    this.latentSize = c * h * w;
    const generator = new NoiseGenerator(seed);
    this.context = { data: generator.randn(CFG_BATCH * CONTEXT_TOKENS * shapes.contextWidth), dims: [CFG_BATCH, CONTEXT_TOKENS, shapes.contextWidth] };
    this.scheduler = createScheduler('euler_a', SD15_SCHEDULER_CONFIG);
    this.scheduler.setTimesteps(totalSteps);
    this.latents = generator.randn(this.latentSize).map((v) => v * this.scheduler.initNoiseSigma);
    this.noise = generator.source(this.latentSize);
  }

  /** One step; `loraFeeds` are what Model.loraFeeds gives for this pass ({} for an original graph). */
  async step(loraFeeds: Record<string, Feed>): Promise<void> {
    const i = this.index;
    const [c, h, w] = this.shapes.latent;
    const modelInput = this.scheduler.scaleModelInput(this.latents, i);
    const timestep = this.scheduler.timesteps[i];
    const s = this.session;
    const out = await s.run({
      sample: { data: repeat(modelInput, CFG_BATCH), dims: [CFG_BATCH, c, h, w] },
      timestep: timestepFeed(s.inputs.get('timestep'), CFG_BATCH, timestep),
      encoder_hidden_states: this.context,
      ...loraFeeds,
    });
    const eps = out[s.outputNames[0]];
    const prediction = { uncond: batchItem(eps, this.latentSize, 0), cond: batchItem(eps, this.latentSize, 1) };
    this.latents = this.scheduler.step(guide(prediction, this.cfg), i, this.latents, this.noise);
    // a long benchmark walks through the schedule again and again; restart it from fresh latents
    this.index = (i + 1) % this.totalSteps;
    if (this.index === 0) {
      this.scheduler.setTimesteps(this.totalSteps);
      this.latents = this.noise().map((v) => v * this.scheduler.initNoiseSigma);
    }
  }
}
