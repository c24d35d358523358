/**
 * Text to image, the whole denoising loop top to bottom (the shape of diffusers'
 * StableDiffusionPipeline):
 *
 *   1. tokenize the prompt and the negative prompt into 77-token windows (same count for both),
 *      with A1111's emphasis weights, BREAK and embedding placeholders (prompt/windows.ts)
 *   2. encode them, weight each window's hidden states (mean restored, A1111):
 *      context = [uncond | cond], windows concatenated along the token axis (A1111)
 *   3. seeded noise x * initNoiseSigma
 *   4. for each step: the composition method runs the UNet on the CFG batch (x, x), once or for
 *      several LoRA configurations, full or shallow, as it sees fit -> (u, c);
 *      eps = u + g (c - u); x = scheduler.step(eps, x)
 *   5. decode x / latentScale with the VAE, to 8-bit RGB
 *
 * Between steps the loop yields to the event loop, reports progress and honours cancellation.
 */
import { ChordError } from '../errors';
import type { LoraWeights, Model } from '../model/model';
import { createScheduler } from '../schedulers';
import { NoiseGenerator } from '../schedulers/noise';
import { planarToRgbBytes, scale, type FloatTensor } from '../tensor';
import type { PromptEmbeddings } from '../embeddings/prompt';
import { applyEmphasis, promptWindows } from '../prompt/windows';
import { emptyWindow } from '../tokenizer';
import type { CompositionMethod, PromptRequest } from './composition';
import { assertFiniteImage, assertFiniteStep } from './finite';
import { guide } from './guidance';
import { unetCall, unetRowsPerCall } from './unet-call';
import { Merge } from './merge';
import { latentPreview, type PreviewImage } from './preview';
import type { GenerationSettings } from './settings';

/** Milliseconds spent in each stage of one image. */
export interface StageTimings {
  tokenize: number;
  textEncoder: number;
  /** one entry per denoising step (all UNet passes of that step and the scheduler update) */
  unetSteps: number[];
  decode: number;
}

export interface StepProgress {
  /** 1-based step just finished */
  step: number;
  total: number;
  /** since the start of this image */
  elapsedMs: number;
  /** latent preview, when asked for */
  preview?: PreviewImage;
}

/** What happened in one step: which LoRAs the method used, and the UNet evaluations it cost. */
export interface StepLog {
  /** 0-based */
  step: number;
  /** indices into the LoRA stack */
  active: readonly number[];
  dominant?: number;
  refreshed: readonly number[];
  /** UNet evaluations of one CFG row pair: full passes and shallow passes */
  full: number;
  shallow: number;
}

export interface Txt2ImgOptions {
  /** default: Merge of no LoRAs */
  method?: CompositionMethod;
  signal?: AbortSignal;
  onProgress?: (progress: StepProgress) => void;
  /** attach a cheap latent preview to each progress event */
  preview?: boolean;
  /** textual-inversion embeddings the prompts may use (the model's text encoder switched by useEmbeddings) */
  embeddings?: PromptEmbeddings;
  /** most batch rows in one UNet call (default: unetRowsPerCall for the latent size) */
  maxBatchRows?: number;
}

export interface Txt2ImgResult {
  /** interleaved 8-bit RGB, width x height */
  rgb: Uint8Array;
  width: number;
  height: number;
  timings: StageTimings;
  steps: StepLog[];
}

export async function txt2img(model: Model, settings: GenerationSettings, options: Txt2ImgOptions = {}): Promise<Txt2ImgResult> {
  const { signal, onProgress } = options;
  const method: CompositionMethod = options.method ?? new Merge([]);
  const { tokenizer, folder } = model;
  const start = performance.now();
  const timings: StageTimings = { tokenize: 0, textEncoder: 0, unetSteps: [], decode: 0 };
  throwIfCancelled(signal);

  // 1. prompt -> windows; the negative prompt gets as many windows, so both halves batch together.
  //    A method may need more prompts (each region's): they go into the same text-encoder call.
  let t = performance.now();
  const embeddings = options.embeddings;
  const requests: PromptRequest[] = [
    { prompt: settings.prompt, negative: settings.negativePrompt, weights: method.promptWeights() },
    ...(method.prompts?.() ?? []),
  ];
  const pairs = requests.map((r) => tokenizePair(tokenizer, r.prompt, r.negative, embeddings));
  timings.tokenize = performance.now() - t;

  // 2. one text-encoder batch [2n, 77] -> [2n, 77, C] per prompt; its memory already is [2, 77n, C]:
  //    row 0 = uncond (negative windows one after another), row 1 = cond
  t = performance.now();
  const [context, ...methodPrompts] = await encodeTokenized(model, pairs, requests.map((r) => r.weights), embeddings);
  timings.textEncoder = performance.now() - t;

  // 3. seeded initial noise; ancestral samplers draw their per-step noise from the same stream
  const scheduler = createScheduler(settings.sampler, model.schedulerConfig);
  scheduler.setTimesteps(settings.steps);
  const h = settings.height / folder.downscale;
  const w = settings.width / folder.downscale;
  const latentDims = [1, folder.latentChannels, h, w];
  const latentSize = folder.latentChannels * h * w;
  const generator = new NoiseGenerator(settings.seed);
  let latents = scale(generator.randn(latentSize), scheduler.initNoiseSigma);
  const stepNoise = generator.source(latentSize);

  // 4. denoise
  // a process that made a regional image before still runs the regional graph, which cannot be cut:
  // back to the plain one first (one app engine serves every method, one image after another)
  if (method.wantsCachedPasses) await model.useRegional(false);
  const cachedPasses = method.wantsCachedPasses ? await model.enableCachedPasses() : false;
  method.begin(settings.steps, cachedPasses, latentDims);
  if (method.prepare) {
    t = performance.now();
    const replaced = await method.prepare({
      context,
      prompts: methodPrompts,
      latents,
      latentDims,
      timestep: scheduler.timesteps[0],
      modelInput: (x) => scheduler.scaleModelInput(x, 0),
      model,
    });
    if (replaced) latents = replaced;
    timings.textEncoder += performance.now() - t;
  }
  const maxRows = Math.max(2, options.maxBatchRows ?? unetRowsPerCall(h, w));
  const steps: StepLog[] = [];
  const total = scheduler.timesteps.length;
  for (let i = 0; i < total; i++) {
    await yieldToEventLoop();
    throwIfCancelled(signal);
    t = performance.now();
    const timestep = scheduler.timesteps[i];
    const modelInput = scheduler.scaleModelInput(latents, i);
    const cost = { full: 0, shallow: 0 };
    const unet = unetCall(model, { modelInput, latentDims, timestep, context, maxRows }, cost);
    const done = await method.predict(i, total, unet);
    assertFiniteStep(i + 1, total, 'noise prediction', done.prediction.uncond, done.prediction.cond);
    latents = scheduler.step(guide(done.prediction, settings.cfg), i, latents, stepNoise);
    assertFiniteStep(i + 1, total, 'latent', latents);
    steps.push({ step: i, active: done.active, dominant: done.dominant, refreshed: done.refreshed ?? [], ...cost });
    timings.unetSteps.push(performance.now() - t);
    onProgress?.({
      step: i + 1,
      total,
      elapsedMs: performance.now() - start,
      preview: options.preview && folder.latentChannels === 4 ? latentPreview(latents, w, h) : undefined,
    });
  }

  // 5. latents -> pixels
  await yieldToEventLoop();
  throwIfCancelled(signal);
  t = performance.now();
  const image = await model.decodeLatents({ data: scale(latents, 1 / folder.latentScale), dims: latentDims });
  assertFiniteImage(image.data);
  const rgb = planarToRgbBytes(image.data, settings.width, settings.height);
  timings.decode = performance.now() - t;
  return { rgb, width: settings.width, height: settings.height, timings, steps };
}

/** A prompt and its negative as token windows of the same count (step 1), uncond windows first. */
interface TokenizedPair {
  ids: Int32Array;
  windows: number;
  /** per window, the emphasis weight of each token */
  weights: Float32Array[];
}

function tokenizePair(tokenizer: Model['tokenizer'], prompt: string, negativePrompt: string, embeddings?: PromptEmbeddings): TokenizedPair {
  const pos = promptWindows(tokenizer, prompt, { embeddings: embeddings?.tokens });
  const neg = promptWindows(tokenizer, negativePrompt, { embeddings: embeddings?.tokens });
  const windows = Math.max(pos.windows.length, neg.windows.length);
  // the shorter prompt gets empty-prompt windows (weight 1), as A1111 pads it
  const padded = (p: typeof pos) => ({
    windows: [...p.windows, ...Array.from({ length: windows - p.windows.length }, () => emptyWindow(tokenizer))],
    weights: [...p.weights, ...Array.from({ length: windows - p.weights.length }, () => new Float32Array(tokenizer.maxLength).fill(1))],
  });
  const [negative, positive] = [padded(neg), padded(pos)];
  const ids = new Int32Array(2 * windows * tokenizer.maxLength);
  [...negative.windows, ...positive.windows].forEach((w, i) => ids.set(w, i * tokenizer.maxLength));
  return { ids, windows, weights: [...negative.weights, ...positive.weights] };
}

/**
 * Step 2: the text encoder on both halves of every pair, in one batch, each pair's rows with its
 * own LoRA weights, emphasis applied: one CFG context [2, 77 n, C'] per pair, in order.
 */
async function encodeTokenized(model: Model, pairs: readonly TokenizedPair[], weights: readonly LoraWeights[], embeddings?: PromptEmbeddings): Promise<FloatTensor[]> {
  const { tokenizer } = model;
  const rows = pairs.reduce((n, p) => n + 2 * p.windows, 0);
  const ids = new Int32Array(rows * tokenizer.maxLength);
  let offset = 0;
  for (const p of pairs) {
    ids.set(p.ids, offset);
    offset += p.ids.length;
  }
  const rowWeights = pairs.flatMap((p, i) => Array.from({ length: 2 * p.windows }, () => weights[i]));
  const hidden = await model.encodeText({ data: ids, dims: [rows, tokenizer.maxLength] }, rowWeights, embeddings?.rows);
  const width = hidden.dims[2];
  const windowSize = tokenizer.maxLength * width;
  let window = 0;
  return pairs.map((p) => {
    const data = hidden.data.slice(window * windowSize, (window + 2 * p.windows) * windowSize);
    p.weights.forEach((w, i) => applyEmphasis(data.subarray(i * windowSize, (i + 1) * windowSize), w));
    window += 2 * p.windows;
    return { data, dims: [2, p.windows * tokenizer.maxLength, width] };
  });
}

/** Prompts and their negatives, each with its own LoRA weights, encoded as steps 1 and 2 do (one text-encoder call). */
export function encodePairs(model: Model, requests: readonly PromptRequest[], embeddings?: PromptEmbeddings): Promise<FloatTensor[]> {
  if (requests.length === 0) return Promise.resolve([]);
  const pairs = requests.map((r) => tokenizePair(model.tokenizer, r.prompt, r.negative, embeddings));
  return encodeTokenized(model, pairs, requests.map((r) => r.weights), embeddings);
}

function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new ChordError('CANCELLED', 'Generation cancelled.');
}

/** Lets queued messages (a cancel request, in a worker) run between the blocking ONNX calls. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

