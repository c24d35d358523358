/** The step timeline's numbers (src/renderer/lib/timeline.ts): cells per LoRA and step, and the cost in UNet passes. */
import { describe, expect, it } from 'vitest';
import { cellText, passes, timeline } from '../../src/renderer/lib/timeline';

const log = {
  steps: [
    { active: [0, 1], dominant: 0, refreshed: [0, 1], full: 2, shallow: 0 },
    { active: [0, 1], dominant: 0, refreshed: [], full: 0, shallow: 2 },
    { active: [0, 1], dominant: 1, refreshed: [1], full: 1, shallow: 1 },
    { active: [1], dominant: null, refreshed: [], full: 0, shallow: 1 },
  ],
  shallowCost: 0.48,
  shallowCostBasis: 'glyph-sd UNet, measured in multiply-accumulates',
};

describe('the step timeline', () => {
  it('has a row per LoRA with what the method did at each step', () => {
    const t = timeline(log, 3);
    expect(t.rows.map((r) => r.map(cellText))).toEqual([
      ['active, dominant, cache refreshed', 'active, dominant', 'active', 'off'],
      ['active, cache refreshed', 'active', 'active, dominant, cache refreshed', 'active'],
      ['off', 'off', 'off', 'off'],
    ]);
    expect(t.refreshes).toBe(3);
  });

  it("costs full passes plus shallow ones at the model's share, next to Merge's one pass per step", () => {
    const t = timeline(log, 2);
    expect([t.full, t.shallow, t.steps, t.mergeCost]).toEqual([3, 4, 4, 4]);
    expect(t.cost).toBeCloseTo(3 + 4 * 0.48, 10);
    expect(passes(t.cost)).toBe('4.9');
    expect(passes(4)).toBe('4');
  });
});
