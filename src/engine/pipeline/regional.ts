/**
 * Regional composition (docs/regional.md): a global prompt plus regions, each a box, a prompt, a
 * negative prompt and the LoRAs bound to it.
 *
 * `Regional` (LoRA-Composer's attention constraints, in one UNet pass per step): the context is
 * [global | region 1 | ... | region R], each region's prompt encoded with its own LoRAs (and the
 * global ones) active; the regional graph pass (onnx/regional.ts) lets a position inside box r
 * attend only to region r's tokens (outside every box: the global ones), keeps boxes from attending
 * to each other in self-attention, and gates region r's LoRA layers to its box and tokens. Every
 * LoRA is on at its weight in the one CFG pass; the masks decide where each acts.
 *
 * `RegionalPasses` (what other tools do, for comparison): one UNet pass per region (its prompt, its
 * LoRAs plus the global ones) and one for the global prompt (global LoRAs), the noise predictions
 * combined by the boxes at latent resolution. R + 1 evaluations per step, R when the boxes cover the
 * whole latent (the global pass would weigh nothing).
 *
 * `Regional` with a warm-up runs its first steps as `RegionalPasses` (where the layout is decided;
 * placement over cost, measured in docs/regional.md), then one pass per step.
 */
import { ChordError } from '../errors';
import type { LoraWeights } from '../model/model';
import { rasterSpan, regionIds, type RegionalLayout, type RegionBox } from '../model/regional-pass';
import type { FloatTensor } from '../tensor';
import type { CompositionMethod, MethodSetup, MethodStep, NoisePrediction, PromptRequest, UnetCall } from './composition';

/** The most regions one image may have. */
export const MAX_REGIONS = 8;

export interface RegionSpec {
  box: RegionBox;
  prompt: string;
  negative: string;
}

/** Checks regions: inside the image, positive area, no overlaps, at most MAX_REGIONS. */
export function checkRegions(regions: readonly RegionSpec[]): void {
  if (regions.length === 0) throw new ChordError('BAD_ARGUMENT', 'Regional composition needs at least one region.', 'Add --region "X0,Y0,X1,Y1|PROMPT|NEGATIVE|FILE:W" or --regions FILE.json.');
  if (regions.length > MAX_REGIONS) throw new ChordError('BAD_ARGUMENT', `${regions.length} regions given; at most ${MAX_REGIONS} are supported.`, 'Merge some regions into one.');
  const text = (b: RegionBox) => `${b.x0},${b.y0},${b.x1},${b.y1}`;
  regions.forEach(({ box: b }, i) => {
    const values = [b.x0, b.y0, b.x1, b.y1];
    if (values.some((v) => !Number.isFinite(v))) throw new ChordError('BAD_ARGUMENT', `Region ${i + 1}: its box ${text(b)} must be four numbers.`);
    if (values.some((v) => v < 0 || v > 1)) throw new ChordError('BAD_ARGUMENT', `Region ${i + 1}: its box ${text(b)} leaves the image.`, 'Coordinates are fractions of the image from the top-left, from 0 to 1.');
    if (b.x1 <= b.x0 || b.y1 <= b.y0) throw new ChordError('BAD_ARGUMENT', `Region ${i + 1}: its box ${text(b)} has no area.`, 'Give X0,Y0,X1,Y1 with X0 < X1 and Y0 < Y1.');
  });
  for (let i = 0; i < regions.length; i++) {
    for (let j = i + 1; j < regions.length; j++) {
      const a = regions[i].box;
      const b = regions[j].box;
      if (a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1) {
        throw new ChordError('BAD_ARGUMENT', `Regions ${i + 1} and ${j + 1} overlap (${text(a)} and ${text(b)}).`, 'Boxes may touch but not overlap.');
      }
    }
  }
}

export interface RegionalOptions {
  /** self-attention isolation between boxes */
  isolation: boolean;
  /** a regional LoRA's spatial layers act only inside its box */
  gate: boolean;
  /** latent re-initialisation before the first step */
  reinit: boolean;
  /** group normalisations take their statistics per region */
  norm: boolean;
  /**
   * the first `warmup` steps run as per-region passes (RegionalPasses: R + 1 evaluations each, R
   * when the boxes cover the image), the rest in one pass; 0 (default): every step in one pass
   */
  warmup?: number;
}

/** Weights with the global LoRAs at their weight, plus those of `region` (undefined: none). */
function weightsFor(weights: LoraWeights, loraRegion: readonly number[], region: number | undefined): number[] {
  return weights.map((w, k) => (loraRegion[k] === -1 || loraRegion[k] === region ? w : 0));
}

/** Each region's prompt and negative, encoded with the global LoRAs and the region's own. */
function regionPrompts(regions: readonly RegionSpec[], weights: LoraWeights, loraRegion: readonly number[]): PromptRequest[] {
  return regions.map((region, r) => ({ prompt: region.prompt, negative: region.negative, weights: weightsFor(weights, loraRegion, r) }));
}

/** The global context, then each region's as the loop encoded them (`prompts()`). */
function withRegionContexts(setup: MethodSetup, regions: number): FloatTensor[] {
  if (setup.prompts.length !== regions) throw new RangeError(`${setup.prompts.length} encoded region prompts for ${regions} regions`);
  return [setup.context, ...setup.prompts];
}

/** Rows of a [2, seq, C] context, one after another along the tokens. */
export function concatContexts(parts: readonly FloatTensor[]): FloatTensor {
  const width = parts[0].dims[2];
  const seq = parts.reduce((n, p) => n + p.dims[1], 0);
  const data = new Float32Array(2 * seq * width);
  let offset = 0;
  for (const p of parts) {
    const len = p.dims[1] * width;
    for (let row = 0; row < 2; row++) data.set(p.data.subarray(row * len, (row + 1) * len), row * seq * width + offset);
    offset += len;
  }
  return { data, dims: [2, seq, width] };
}

export class Regional implements CompositionMethod {
  readonly name = 'regional';
  readonly options: Record<string, boolean | number>;
  readonly order: readonly number[];
  readonly wantsCachedPasses = false;
  private prepared?: { context: FloatTensor; layout: RegionalLayout };
  /** the first `settings.warmup` steps' method */
  private readonly warmup?: RegionalPasses;

  constructor(
    private readonly weights: LoraWeights,
    /** per LoRA: -1 global, r bound to region r */
    private readonly loraRegion: readonly number[],
    private readonly regions: readonly RegionSpec[],
    private readonly settings: RegionalOptions,
  ) {
    checkRegions(regions);
    this.order = weights.map((_, k) => k);
    const warmup = settings.warmup ?? 0;
    this.options = { isolation: settings.isolation, gate: settings.gate, reinit: settings.reinit, norm: settings.norm, warmup };
    if (warmup > 0) this.warmup = new RegionalPasses(weights, loraRegion, regions);
  }

  promptWeights(): LoraWeights {
    return weightsFor(this.weights, this.loraRegion, undefined);
  }

  prompts(): PromptRequest[] {
    return regionPrompts(this.regions, this.weights, this.loraRegion);
  }

  begin(): void {
    this.prepared = undefined;
    this.warmup?.begin();
  }

  async prepare(setup: MethodSetup): Promise<Float32Array | undefined> {
    await setup.model.useRegional();
    // the warm-up's passes run on the regional graph with neutral feeds (the plain graph's outputs)
    await this.warmup?.prepare(setup);
    const parts = withRegionContexts(setup, this.regions.length);
    const owner: number[] = parts.flatMap((part, r) => new Array<number>(part.dims[1]).fill(r));
    const layout: RegionalLayout = {
      boxes: this.regions.map((r) => r.box),
      tokenOwner: owner,
      loraRegion: this.loraRegion,
      isolation: this.settings.isolation,
      gateLoras: this.settings.gate,
      norm: this.settings.norm,
    };
    this.prepared = { context: concatContexts(parts), layout };
    if (!this.settings.reinit) return undefined;
    return this.reinitialise(setup);
  }

  /**
   * One pass at the first timestep exposes where each region's tokens are attended at the coarsest
   * attention level; the noise under the best box-sized window moves into the box, then the
   * latent gets its original mean and std back.
   */
  private async reinitialise(setup: MethodSetup): Promise<Float32Array> {
    const { context, layout } = this.prepared as { context: FloatTensor; layout: RegionalLayout };
    const [, C, h, w] = setup.latentDims;
    const input = setup.modelInput(setup.latents);
    // probe without the region constraints: where would each region's words land by themselves?
    // (every LoRA on everywhere, every position attending to every token); only the conditional
    // row's map is read, so the probe runs that row alone
    const [, seq, width] = context.dims;
    const probe: RegionalLayout = { boxes: [], tokenOwner: new Array<number>(seq).fill(0), loraRegion: this.loraRegion.map(() => -1), isolation: false, gateLoras: false };
    const out = await setup.model.runUnet({
      sample: { data: input, dims: [1, C, h, w] },
      timestep: setup.timestep,
      context: { data: context.data.subarray(seq * width, 2 * seq * width), dims: [1, seq, width] },
      loras: this.weights,
      regional: probe,
      attentionMap: true,
    });
    const map = out.attentionMap as FloatTensor;
    const [, Q, K] = map.dims;
    // the coarsest attention level's grid: Q = hl x wl with hl / wl = h / w (levels halve both)
    let hl = h;
    let wl = w;
    while (hl * wl > Q) {
      hl = Math.ceil(hl / 2);
      wl = Math.ceil(wl / 2);
    }
    const cond = map.data.subarray(0, Q * K);
    const owner = layout.tokenOwner;
    const moved = Float32Array.from(setup.latents);
    this.regions.forEach((region, r) => {
      // attention of each coarse position to region r's words (not the start token of a window)
      const score = new Float32Array(Q);
      for (let q = 0; q < Q; q++) {
        let s = 0;
        for (let t = 0; t < K; t++) if (owner[t] === r + 1 && t % 77 !== 0) s += cond[q * K + t];
        score[q] = s;
      }
      const [by0, by1] = rasterSpan(region.box.y0, region.box.y1, hl);
      const [bx0, bx1] = rasterSpan(region.box.x0, region.box.x1, wl);
      const bh = by1 - by0;
      const bw = bx1 - bx0;
      if (bh <= 0 || bw <= 0) return;
      let best = { y: by0, x: bx0, s: -Infinity };
      for (let y = 0; y + bh <= hl; y++) {
        for (let x = 0; x + bw <= wl; x++) {
          let s = 0;
          for (let i = 0; i < bh; i++) for (let j = 0; j < bw; j++) s += score[(y + i) * wl + x + j];
          if (s > best.s) best = { y, x, s };
        }
      }
      // latent coordinates: the box at full resolution, the source the box shifted by the best
      // window's offset (kept inside the latent)
      const [ly0, ly1] = rasterSpan(region.box.y0, region.box.y1, h);
      const [lx0, lx1] = rasterSpan(region.box.x0, region.box.x1, w);
      const dy = Math.min(h - ly1, Math.max(-ly0, Math.round(((best.y - by0) * h) / hl)));
      const dx = Math.min(w - lx1, Math.max(-lx0, Math.round(((best.x - bx0) * w) / wl)));
      moveWindow(moved, { C, h, w }, { y0: ly0, y1: ly1, x0: lx0, x1: lx1 }, dy, dx);
    });
    return matchMoments(moved, setup.latents);
  }

  async predict(step: number, totalSteps: number, unet: UnetCall): Promise<MethodStep> {
    if (!this.prepared) throw new RangeError('Regional.predict before prepare');
    if (this.warmup && step < (this.settings.warmup ?? 0)) return this.warmup.predict(step, totalSteps, unet);
    const { predictions } = await unet({ configs: [this.weights], regional: this.prepared });
    return { prediction: predictions[0], active: this.order.filter((k) => this.weights[k] !== 0) };
  }
}

/**
 * Moves the noise of the window `box` shifted by (dy, dx) into `box`, and the noise it displaces
 * into the cells the window vacates: a permutation of the latent's cells, so the noise stays
 * independent (copying would duplicate it, and the UNet turns duplicated noise into garbage).
 */
export function moveWindow(latent: Float32Array, dims: { C: number; h: number; w: number }, box: { y0: number; y1: number; x0: number; x1: number }, dy: number, dx: number): void {
  if (dy === 0 && dx === 0) return;
  const { C, h, w } = dims;
  const inBox = (y: number, x: number) => y >= box.y0 && y < box.y1 && x >= box.x0 && x < box.x1;
  const inSource = (y: number, x: number) => inBox(y - dy, x - dx);
  // target cell <- source cell: the box from the window, then the vacated window cells (raster
  // order) from the box cells the window did not cover (raster order)
  const moves: [number, number][] = [];
  const vacated: number[] = [];
  const displaced: number[] = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      if (inBox(y, x)) moves.push([p, (y + dy) * w + x + dx]);
      if (inSource(y, x) && !inBox(y, x)) vacated.push(p);
      if (inBox(y, x) && !inSource(y, x)) displaced.push(p);
    }
  }
  vacated.forEach((p, i) => moves.push([p, displaced[i]]));
  const plane = h * w;
  for (let c = 0; c < C; c++) {
    const old = latent.slice(c * plane, (c + 1) * plane);
    for (const [to, from] of moves) latent[c * plane + to] = old[from];
  }
}

/** `x` shifted and scaled to the mean and std of `reference`. */
export function matchMoments(x: Float32Array, reference: Float32Array): Float32Array {
  const moments = (a: Float32Array) => {
    let m = 0;
    for (const v of a) m += v;
    m /= a.length;
    let s = 0;
    for (const v of a) s += (v - m) ** 2;
    return { m, s: Math.sqrt(s / a.length) };
  };
  const a = moments(x);
  const b = moments(reference);
  const k = a.s > 0 ? b.s / a.s : 1;
  return x.map((v) => (v - a.m) * k + b.m);
}

/** Latent-resolution weights [h w] of each region (by box) and of the background. */
export function regionMasks(boxes: readonly RegionBox[], h: number, w: number): Float32Array[] {
  const ids = regionIds(boxes, h, w);
  return Array.from({ length: boxes.length + 1 }, (_, r) => Float32Array.from(ids, (id) => (id === r ? 1 : 0)));
}

export class RegionalPasses implements CompositionMethod {
  readonly name = 'regional-passes';
  readonly options = {};
  readonly order: readonly number[];
  readonly wantsCachedPasses = false;
  /**
   * The passes that run, set per image: the global prompt's (the background's) and one per region,
   * each with its LoRA weights, context and latent mask
   */
  private passes?: { config: LoraWeights; context: FloatTensor; mask: Float32Array }[];

  constructor(
    private readonly weights: LoraWeights,
    private readonly loraRegion: readonly number[],
    private readonly regions: readonly RegionSpec[],
  ) {
    checkRegions(regions);
    this.order = weights.map((_, k) => k);
  }

  promptWeights(): LoraWeights {
    return weightsFor(this.weights, this.loraRegion, undefined);
  }

  prompts(): PromptRequest[] {
    return regionPrompts(this.regions, this.weights, this.loraRegion);
  }

  begin(): void {
    this.passes = undefined;
  }

  async prepare(setup: MethodSetup): Promise<undefined> {
    const contexts = withRegionContexts(setup, this.regions.length);
    const [, , h, w] = setup.latentDims;
    const masks = regionMasks(this.regions.map((r) => r.box), h, w);
    // pass 0 is the global prompt's, pass r + 1 region r's; a pass whose mask is empty at the
    // latent size (the background's when the boxes cover the image) would be multiplied by zeros
    // everywhere: it is not run
    this.passes = masks.flatMap((mask, p) =>
      mask.some((v) => v !== 0) ? [{ config: weightsFor(this.weights, this.loraRegion, p === 0 ? undefined : p - 1), context: contexts[p], mask }] : [],
    );
    return undefined;
  }

  async predict(_step: number, _totalSteps: number, unet: UnetCall): Promise<MethodStep> {
    const passes = this.passes;
    if (!passes) throw new RangeError('RegionalPasses.predict before prepare');
    const { predictions } = await unet({ configs: passes.map((p) => p.config), contexts: passes.map((p) => p.context) });
    const plane = passes[0].mask.length;
    const combine = (half: 'uncond' | 'cond'): Float32Array => {
      const out = new Float32Array(predictions[0][half].length);
      predictions.forEach((prediction, k) => {
        const m = passes[k].mask;
        const eps = prediction[half];
        for (let i = 0; i < out.length; i++) out[i] += m[i % plane] * eps[i];
      });
      return out;
    };
    const prediction: NoisePrediction = { uncond: combine('uncond'), cond: combine('cond') };
    return { prediction, active: this.order.filter((k) => this.weights[k] !== 0) };
  }
}
