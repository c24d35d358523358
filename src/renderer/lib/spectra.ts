/**
 * Frequency classes and the spectra plot, as pure functions: which class a card shows (the user's,
 * else the one measured on the chosen model), what a generate request says about the classes, and
 * the plot's scales, ticks and curves (docs/spectral.md has the measurement).
 */
import type { FrequencyClass, LoraEntry, LoraFrequency, LoraSpectrum } from '../../shared/api';

/** The share of the largest radius where the high band starts (the engine's HIGH_BAND_START). */
export const HIGH_BAND_START = 0.2;

export interface ShownClass {
  /** null: not measured on this model and not set by the user */
  class: FrequencyClass | null;
  source: 'override' | 'measured' | 'none';
  /** the measurement on this model, when there is one */
  measured: LoraFrequency | null;
}

/** The class a LoRA has on `model`: the user's, else the measured one. */
export function shownClass(lora: Pick<LoraEntry, 'frequency' | 'classOverride'>, model: string | undefined): ShownClass {
  const measured = lora.frequency.find((f) => f.model === model) ?? null;
  if (lora.classOverride) return { class: lora.classOverride, source: 'override', measured };
  if (measured) return { class: measured.class, source: 'measured', measured };
  return { class: null, source: 'none', measured: null };
}

/**
 * The names of the stack's high-frequency LoRAs for a generate request (`highFrequency`), so the
 * engine orders and splits them as the window shows; undefined when some LoRA has no class yet
 * (the engine then measures it itself) or two share a name (names would be ambiguous).
 */
export function highFrequencyNames(stack: readonly Pick<LoraEntry, 'name' | 'frequency' | 'classOverride'>[], model: string | undefined): string[] | undefined {
  if (stack.length === 0) return undefined;
  const names = stack.map((l) => l.name);
  if (new Set(names).size !== names.length) return undefined;
  const classes = stack.map((l) => shownClass(l, model).class);
  if (classes.some((c) => c === null)) return undefined;
  return names.filter((_, k) => classes[k] === 'H');
}

/** The LoRAs without a class on `model` (neither measured there nor set by the user). */
export function unmeasured<T extends Pick<LoraEntry, 'frequency' | 'classOverride'>>(loras: readonly T[], model: string | undefined): T[] {
  return loras.filter((l) => shownClass(l, model).class === null);
}

/** `ids` reordered as `order` lists them; ids `order` does not name keep their place after those it does. */
export function reorderByIds<T>(items: readonly T[], idOf: (item: T) => string, order: readonly string[]): T[] {
  const rank = (item: T) => {
    const i = order.indexOf(idOf(item));
    return i < 0 ? order.length : i;
  };
  return items.map((item, k) => ({ item, k })).sort((a, b) => rank(a.item) - rank(b.item) || a.k - b.k).map((x) => x.item);
}

/** dH for people: signed, 3 decimals. */
export function formatDh(dH: number): string {
  return `${dH >= 0 ? '+' : '−'}${Math.abs(dH).toFixed(3)}`;
}

// ---------------------------------------------------------------------------------------------
// The plot

/** What the plot shows: the profiles themselves, or each LoRA's profile minus its base's. */
export type PlotMode = 'profile' | 'difference';

export interface Curve {
  /** a LoRA id, or 'base' */
  id: string;
  label: string;
  values: number[];
}

/**
 * The curves of a plot: one per LoRA and one for the base model. Each LoRA was measured against
 * base images made from its own prompt, so the base curve is the mean of those; in the difference
 * view each LoRA is minus its own base, and the base is the zero line.
 */
export function plotCurves(spectra: readonly LoraSpectrum[], mode: PlotMode): Curve[] {
  if (spectra.length === 0) return [];
  const rings = Math.min(...spectra.map((s) => Math.min(s.radial.length, s.baseRadial.length)));
  const base = Array.from({ length: rings }, (_, r) => spectra.reduce((sum, s) => sum + s.baseRadial[r], 0) / spectra.length);
  const baseLabel = spectra.length === 1 ? 'base model' : `base model (mean of ${spectra.length} prompts)`;
  if (mode === 'profile') {
    return [...spectra.map((s) => ({ id: s.loraId, label: s.name, values: s.radial.slice(0, rings) })), { id: 'base', label: baseLabel, values: base }];
  }
  return [
    ...spectra.map((s) => ({ id: s.loraId, label: s.name, values: s.radial.slice(0, rings).map((v, r) => v - s.baseRadial[r]) })),
    { id: 'base', label: "base model: each LoRA's own, the zero line", values: base.map(() => 0) },
  ];
}

/** The first ring of the high band, as the engine computes dH over it. */
export function highBandStart(rings: number): number {
  return Math.ceil(HIGH_BAND_START * (rings - 1) - 1e-9);
}

/** A linear map from `domain` to `range` (a domain of one value maps to the middle of the range). */
export function linearScale([d0, d1]: readonly [number, number], [r0, r1]: readonly [number, number]): (v: number) => number {
  if (d1 === d0) return () => (r0 + r1) / 2;
  return (v) => r0 + ((v - d0) / (d1 - d0)) * (r1 - r0);
}

/** Round tick values (steps of 1, 2 or 5 times a power of ten) covering [min, max], about `count` of them. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (max < min) [min, max] = [max, min];
  if (max === min) return [min];
  const raw = (max - min) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step - 1e-9) * step; v <= max + step * 1e-9; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  return ticks;
}

/** The value range of the curves, widened a little so no curve touches the frame. */
export function valueDomain(curves: readonly Curve[], pad = 0.04): [number, number] {
  const all = curves.flatMap((c) => c.values).filter(Number.isFinite);
  if (all.length === 0) return [0, 1];
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (hi === lo) {
    lo -= 0.5;
    hi += 0.5;
  }
  const m = (hi - lo) * pad;
  return [lo - m, hi + m];
}

/** An SVG path through the points (ring r, value), in plot coordinates. */
export function curvePath(values: readonly number[], x: (r: number) => number, y: (v: number) => number): string {
  return values.map((v, r) => `${r === 0 ? 'M' : 'L'}${x(r).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
}

/**
 * Curve colours that read on both themes' panels (Okabe-Ito, without its yellow, which vanishes on
 * white); the base curve is drawn in the text colour, dashed.
 */
export const CURVE_COLOURS = ['#e69f00', '#56b4e9', '#009e73', '#d55e00', '#cc79a7', '#0072b2', '#999933', '#882255'] as const;
export function curveColour(index: number): string {
  return CURVE_COLOURS[index % CURVE_COLOURS.length];
}
