/**
 * Spectral composite (experimental, Chord's own; docs/composition.md): Composite's N predictions
 * (each LoRA alone), blended per frequency band instead of averaged. Each prediction is split
 * into a low band (a Gaussian blur of the latent-space prediction) and a high band (the rest);
 * the high band is a weighted mean led by the high-frequency LoRAs (set H), the low band one led
 * by the low-frequency LoRAs (set L): a LoRA of the other set keeps the weight `mix` relative to 1.
 * The measured profile thus decides which LoRA draws the coarse layout and which the detail.
 * With mix = 1 it is Composite exactly.
 */
import type { LoraWeights } from '../model/model';
import { alone, type CompositionMethod, type MethodStep, type NoisePrediction, type UnetCall } from './composition';

/**
 * Separable Gaussian blur of each [h, w] plane of `x` ([planes, h, w]), edges clamped. The kernel
 * reaches 3 sigma; sigma in pixels.
 */
export function gaussianLowPass(x: Float32Array, height: number, width: number, sigma: number): Float32Array {
  const plane = height * width;
  if (x.length % plane !== 0) throw new RangeError(`gaussianLowPass: ${x.length} values are not whole ${height} x ${width} planes`);
  if (sigma <= 0) return Float32Array.from(x);
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const kernel = Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)));
  const sum = kernel.reduce((a, b) => a + b, 0);
  for (let i = 0; i < kernel.length; i++) kernel[i] /= sum;
  const clamp = (v: number, hi: number) => (v < 0 ? 0 : v > hi ? hi : v);
  const tmp = new Float32Array(x.length);
  const out = new Float32Array(x.length);
  for (let p = 0; p < x.length; p += plane) {
    for (let y = 0; y < height; y++) {
      for (let c = 0; c < width; c++) {
        let v = 0;
        for (let k = -radius; k <= radius; k++) v += kernel[k + radius] * x[p + y * width + clamp(c + k, width - 1)];
        tmp[p + y * width + c] = v;
      }
    }
    for (let y = 0; y < height; y++) {
      for (let c = 0; c < width; c++) {
        let v = 0;
        for (let k = -radius; k <= radius; k++) v += kernel[k + radius] * tmp[p + clamp(y + k, height - 1) * width + c];
        out[p + y * width + c] = v;
      }
    }
  }
  return out;
}

/** Band weights of each LoRA, each band's summing to 1: H leads the high band, L the low band. */
export function bandWeights(high: readonly boolean[], mix: number): { low: number[]; high: number[] } {
  const norm = (w: number[]) => {
    const s = w.reduce((a, b) => a + b, 0);
    return w.map((x) => x / s);
  };
  return { high: norm(high.map((h) => (h ? 1 : mix))), low: norm(high.map((h) => (h ? mix : 1))) };
}

/** sum_k low_k * blur(p_k) + high_k * (p_k - blur(p_k)), for one half of the CFG pair. */
export function blendBands(parts: readonly Float32Array[], weights: { low: readonly number[]; high: readonly number[] }, height: number, width: number, sigma: number): Float32Array {
  const out = new Float32Array(parts[0].length);
  parts.forEach((p, k) => {
    const low = gaussianLowPass(p, height, width, sigma);
    const a = weights.low[k];
    const b = weights.high[k];
    for (let i = 0; i < out.length; i++) out[i] += a * low[i] + b * (p[i] - low[i]);
  });
  return out;
}

export type SpectralCompositeOptions = {
  /** weight of a LoRA in the other set's band, relative to 1 (0..1) */
  mix: number;
  /** the low band's Gaussian, as a fraction of the latent's shorter side */
  cutoff: number;
};

export class SpectralComposite implements CompositionMethod {
  readonly name = 'spectral';
  readonly options: SpectralCompositeOptions;
  readonly wantsCachedPasses = false;
  private latent: { height: number; width: number } = { height: 0, width: 0 };

  constructor(
    private readonly weights: LoraWeights,
    readonly order: readonly number[],
    private readonly highFrequency: ReadonlySet<number>,
    options: SpectralCompositeOptions,
  ) {
    this.options = { ...options };
  }

  promptWeights(): LoraWeights {
    return this.weights;
  }

  begin(_totalSteps: number, _cachedPasses: boolean, latentDims?: readonly number[]): void {
    if (!latentDims || latentDims.length !== 4) throw new RangeError('the spectral composite needs the latent size');
    this.latent = { height: latentDims[2], width: latentDims[3] };
  }

  async predict(_step: number, _totalSteps: number, unet: UnetCall): Promise<MethodStep> {
    const { predictions } = await unet({ configs: this.order.map((k) => alone(this.weights.length, k, this.weights[k])) });
    const bands = bandWeights(this.order.map((k) => this.highFrequency.has(k)), this.options.mix);
    const { height, width } = this.latent;
    const sigma = this.options.cutoff * Math.min(height, width);
    const half = (pick: (p: NoisePrediction) => Float32Array) => blendBands(predictions.map(pick), bands, height, width, sigma);
    return { prediction: { uncond: half((p) => p.uncond), cond: half((p) => p.cond) }, active: this.order };
  }
}
