/** The spectra plot's and the frequency classes' pure parts (src/renderer/lib/spectra.ts). */
import { describe, expect, it } from 'vitest';
import { HIGH_BAND_START as ENGINE_HIGH_BAND_START, highFrequencyStatistic } from '../../src/engine/spectral';
import type { LoraEntry, LoraSpectrum } from '../../src/shared/api';
import {
  curvePath,
  formatDh,
  HIGH_BAND_START,
  highBandStart,
  highFrequencyNames,
  linearScale,
  niceTicks,
  plotCurves,
  reorderByIds,
  shownClass,
  unmeasured,
  valueDomain,
} from '../../src/renderer/lib/spectra';

type Classed = Pick<LoraEntry, 'name' | 'frequency' | 'classOverride'>;
const lora = (name: string, measured: 'H' | 'L' | null, override: 'H' | 'L' | null = null, model = '/m'): Classed => ({
  name,
  frequency: measured ? [{ model, dH: measured === 'H' ? 0.1 : -0.1, class: measured, pairs: 16 }] : [],
  classOverride: override,
});

describe('the class a card shows', () => {
  it("is the user's, else the one measured on the chosen model, else none", () => {
    expect(shownClass(lora('a', 'H'), '/m')).toMatchObject({ class: 'H', source: 'measured' });
    expect(shownClass(lora('a', 'H', 'L'), '/m')).toMatchObject({ class: 'L', source: 'override', measured: { class: 'H' } });
    // measured on another model only: not measured here
    expect(shownClass(lora('a', 'H'), '/other')).toEqual({ class: null, source: 'none', measured: null });
    expect(shownClass(lora('a', null, 'H'), '/other')).toMatchObject({ class: 'H', source: 'override', measured: null });
    expect(unmeasured([lora('a', 'H'), lora('b', null), lora('c', null, 'L')], '/m').map((l) => l.name)).toEqual(['b']);
  });

  it('travels as highFrequency only when every LoRA has one and names are unique', () => {
    expect(highFrequencyNames([lora('zorb', 'H'), lora('sunset', 'L'), lora('hatching', 'H', 'L')], '/m')).toEqual(['zorb']);
    expect(highFrequencyNames([lora('zorb', 'H'), lora('sunset', null)], '/m')).toBeUndefined();
    expect(highFrequencyNames([lora('zorb', 'H'), lora('zorb', 'L')], '/m')).toBeUndefined();
    expect(highFrequencyNames([lora('sunset', 'L')], '/m')).toEqual([]);
    expect(highFrequencyNames([], '/m')).toBeUndefined();
  });

  it('reorders the stack by the ids of the frequency order, keeping the rest in place after them', () => {
    const items = [{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'd' }];
    expect(reorderByIds(items, (i) => i.id, ['c', 'a', 'b', 'd']).map((i) => i.id)).toEqual(['c', 'a', 'b', 'd']);
    expect(reorderByIds(items, (i) => i.id, ['d', 'b']).map((i) => i.id)).toEqual(['d', 'b', 'a', 'c']);
  });

  it('writes dH signed with three decimals', () => {
    expect(formatDh(0.06301)).toBe('+0.063');
    expect(formatDh(-0.0898)).toBe('−0.090');
    expect(formatDh(0)).toBe('+0.000');
  });
});

describe('the plot', () => {
  const spectrum = (id: string, radial: number[], baseRadial: number[]): LoraSpectrum => ({ loraId: id, name: id, dH: 0, class: 'H', radial, baseRadial, cached: true });
  const a = spectrum('a', [1, 0.6, 0.5], [1, 0.5, 0.4]);
  const b = spectrum('b', [1, 0.3, 0.2], [1, 0.7, 0.6]);

  it('has one curve per LoRA plus the base: the mean of their bases, or the zero line of differences', () => {
    const profile = plotCurves([a, b], 'profile');
    expect(profile.map((c) => c.id)).toEqual(['a', 'b', 'base']);
    expect(profile[2].values).toEqual([1, 0.6, 0.5]);
    expect(profile[2].label).toBe('base model (mean of 2 prompts)');
    const difference = plotCurves([a, b], 'difference');
    expect(difference.map((c) => c.id)).toEqual(['a', 'b', 'base']);
    expect(difference[0].values.map((v) => +v.toFixed(12))).toEqual([0, 0.1, 0.1]);
    expect(difference[1].values.map((v) => +v.toFixed(12))).toEqual([0, -0.4, -0.4]);
    expect(difference[2].values).toEqual([0, 0, 0]);
    expect(plotCurves([], 'profile')).toEqual([]);
    // profiles of different lengths: the common rings
    expect(plotCurves([a, spectrum('c', [1, 0.5], [1, 0.5])], 'profile').every((c) => c.values.length === 2)).toBe(true);
  });

  it("shades the high band from the ring where the engine's dH starts", () => {
    expect(HIGH_BAND_START).toBe(ENGINE_HIGH_BAND_START);
    expect(highBandStart(46)).toBe(9);
    // the band is what the engine averages: a profile that is 1 from that ring on has statistic 1
    for (const rings of [5, 11, 46, 91]) {
      const start = highBandStart(rings);
      const profile = Array.from({ length: rings }, (_, r) => (r >= start ? 1 : 0));
      expect(highFrequencyStatistic(profile)).toBe(1);
    }
  });

  it('maps values linearly, with round ticks and a padded domain', () => {
    const y = linearScale([0, 1], [300, 10]);
    expect(y(0)).toBe(300);
    expect(y(1)).toBe(10);
    expect(y(0.5)).toBe(155);
    expect(linearScale([2, 2], [0, 100])(2)).toBe(50);
    expect(niceTicks(1, 45, 8)).toEqual([10, 20, 30, 40]);
    expect(niceTicks(1, 45, 10)).toEqual([5, 10, 15, 20, 25, 30, 35, 40, 45]);
    expect(niceTicks(-0.1, 0.28, 6)).toEqual([-0.1, 0, 0.1, 0.2]);
    expect(niceTicks(0.18, 0.7, 6)).toEqual([0.2, 0.3, 0.4, 0.5, 0.6, 0.7]);
    expect(niceTicks(3, 3)).toEqual([3]);
    expect(valueDomain([{ id: 'x', label: 'x', values: [0, 1] }], 0.1)).toEqual([-0.1, 1.1]);
    expect(valueDomain([{ id: 'x', label: 'x', values: [2, 2] }], 0)).toEqual([1.5, 2.5]);
  });

  it('draws a curve as one path through every ring', () => {
    expect(curvePath([0, 1, 0.5], (r) => r * 10, (v) => 100 - v * 100)).toBe('M0.0,100.0 L10.0,0.0 L20.0,50.0');
  });
});
