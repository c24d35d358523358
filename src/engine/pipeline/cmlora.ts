/**
 * CMLoRA, cached multi-LoRA composition (ICLR 2025; docs/composition.md):
 *
 *   - LoRAs in frequency order: the high-frequency set H (largest dH first), then the low set L;
 *   - phase 1 (i <= 0.6 T, or always when L is empty): H is active; phase 2: H without its first
 *     member, then L (the background enters, the character leaves);
 *   - on a refresh step the next active LoRA (round robin) gets a full UNet pass, refreshing its
 *     cache of the deep feature, and becomes dominant; every other active LoRA runs a shallow pass
 *     from its cache (a LoRA without a cache yet gets a full pass);
 *   - weights: coeff = n - 0.5, w_non = n / (coeff + n - 1), w_dom = w_non * coeff (they sum to n,
 *     n = active LoRAs); u, c = the means of the weighted u_k, c_k; guidance as usual.
 *
 * The scheduler's multistep history holds the combined prediction (the loop only ever sees it).
 */
import type { LoraWeights } from '../model/model';
import { alone, type CompositionMethod, type DeepFeature, type MethodStep, type NoisePrediction, type UnetCall } from './composition';
import { meanPrediction } from './composite';

/** Phase boundary and refresh-schedule boundaries, as fractions of the step count T. */
export const CMLORA_PHASE_SWITCH = 0.6;
export const CMLORA_SCHEDULE_BOUNDS = [0.375, 0.875] as const;

/**
 * Whether step i (0-based) of T refreshes a cache: every c1 steps in [0, 0.375 T), every c2 steps
 * in [0.375 T, 0.875 T), every c1 steps in [0.875 T, T); each interval counts from its first step.
 */
export function isRefreshStep(step: number, total: number, c1: number, c2: number): boolean {
  const b1 = Math.ceil(CMLORA_SCHEDULE_BOUNDS[0] * total);
  const b2 = Math.ceil(CMLORA_SCHEDULE_BOUNDS[1] * total);
  if (step < b1) return step % c1 === 0;
  if (step < b2) return (step - b1) % c2 === 0;
  return (step - b2) % c1 === 0;
}

/** The active LoRAs of step i: H in phase 1, then H without its first member followed by L. */
export function activeLoras(step: number, total: number, high: readonly number[], low: readonly number[]): readonly number[] {
  if (high.length === 0) return low;
  const phase1 = low.length === 0 || step <= CMLORA_PHASE_SWITCH * total;
  return phase1 ? high : [...high.slice(1), ...low];
}

/** Dominant and non-dominant weights for n active LoRAs; w_dom + (n - 1) w_non = n. */
export function dominanceWeights(n: number): { dominant: number; other: number } {
  const coeff = n - 0.5;
  const other = n / (coeff + n - 1);
  return { dominant: other * coeff, other };
}

function weighted(p: NoisePrediction, w: number): NoisePrediction {
  const scale = (a: Float32Array) => {
    const out = new Float32Array(a.length);
    for (let i = 0; i < a.length; i++) out[i] = a[i] * w;
    return out;
  };
  return { uncond: scale(p.uncond), cond: scale(p.cond) };
}

export type CmloraOptions = {
  /** refresh interval in the first and last intervals */
  c1: number;
  /** refresh interval in the middle interval */
  c2: number;
  /** use shallow passes from cached deep features (false: every pass is a full pass) */
  cache: boolean;
};

export class Cmlora implements CompositionMethod {
  readonly name = 'cmlora';
  readonly options: CmloraOptions;
  readonly order: readonly number[];
  private readonly cachesByLora = new Map<number, DeepFeature>();
  private roundRobin = 0;
  private dominant: number | undefined;
  private shallowOk = false;

  /**
   * `high` / `low`: the set that leads (phase 1) and the set that enters in phase 2, each in its
   * order. In frequency order these are H (by dH, largest first) and L; the reverse order swaps
   * them (methods.ts), so that the comparison of the two orders is the paper's question.
   */
  constructor(
    private readonly weights: LoraWeights,
    private readonly high: readonly number[],
    private readonly low: readonly number[],
    options: CmloraOptions,
  ) {
    this.options = { ...options };
    this.order = [...high, ...low];
  }

  get wantsCachedPasses(): boolean {
    return this.options.cache;
  }

  promptWeights(): LoraWeights {
    return this.weights;
  }

  begin(_totalSteps: number, cachedPasses: boolean): void {
    this.cachesByLora.clear();
    this.roundRobin = 0;
    this.dominant = undefined;
    this.shallowOk = this.options.cache && cachedPasses;
  }

  async predict(step: number, totalSteps: number, unet: UnetCall): Promise<MethodStep> {
    const { c1, c2 } = this.options;
    const active = activeLoras(step, totalSteps, this.high, this.low);
    const refreshed: number[] = [];
    if (isRefreshStep(step, totalSteps, c1, c2) || this.dominant === undefined || !active.includes(this.dominant)) {
      this.dominant = active[this.roundRobin % active.length];
      this.roundRobin++;
    }
    const count = this.weights.length;
    const config = (k: number) => alone(count, k, this.weights[k]);
    // a full pass for the refreshed LoRA and for any without a cache; shallow for the rest
    const full = this.shallowOk
      ? active.filter((k) => !this.cachesByLora.has(k) || (k === this.dominant && isRefreshStep(step, totalSteps, c1, c2)))
      : [...active];
    const shallow = active.filter((k) => !full.includes(k));
    const predictions = new Map<number, NoisePrediction>();
    if (full.length > 0) {
      const out = await unet({ configs: full.map(config), depth: this.shallowOk ? 'fill' : 'full' });
      full.forEach((k, j) => {
        predictions.set(k, out.predictions[j]);
        if (this.shallowOk && out.deep) {
          this.cachesByLora.set(k, out.deep[j]);
          refreshed.push(k);
        }
      });
    }
    if (shallow.length > 0) {
      const out = await unet({ configs: shallow.map(config), depth: 'shallow', deep: shallow.map((k) => this.cachesByLora.get(k) as DeepFeature) });
      shallow.forEach((k, j) => predictions.set(k, out.predictions[j]));
    }
    const w = dominanceWeights(active.length);
    const parts = active.map((k) => weighted(predictions.get(k) as NoisePrediction, k === this.dominant ? w.dominant : w.other));
    return { prediction: meanPrediction(parts), active, dominant: this.dominant, refreshed };
  }
}
