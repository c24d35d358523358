/** The region editor's box geometry (src/renderer/lib/regions.ts): drawing, moving, resizing, the engine's rules. */
import { describe, expect, it } from 'vitest';
import { MAX_REGIONS } from '../../src/engine/pipeline/regional';
import {
  boxAt,
  boxFromDrag,
  editEdge,
  freeBox,
  GRID,
  isDrawn,
  MIN_SIDE,
  moveBox,
  overlaps,
  regionProblems,
  resizeBox,
  snap,
  toRequestRegions,
  type Box,
} from '../../src/renderer/lib/regions';

const box = (x0: number, y0: number, x1: number, y1: number): Box => ({ x0, y0, x1, y1 });

describe('region boxes', () => {
  it('are drawn from a drag in any direction, on the grid, inside the image', () => {
    expect(boxFromDrag({ x: 0.505, y: 0.9 }, { x: 0.02, y: 0.1 })).toEqual(box(0.015625, 0.09375, 0.5, 0.90625));
    expect(boxFromDrag({ x: -0.2, y: 0.5 }, { x: 1.3, y: 1.01 })).toEqual(box(0, 0.5, 1, 1));
    expect(snap(0.333)).toBe(0.328125);
    // a click is not a box
    expect(isDrawn(boxFromDrag({ x: 0.3, y: 0.3 }, { x: 0.305, y: 0.6 }))).toBe(false);
    expect(isDrawn(boxFromDrag({ x: 0.3, y: 0.3 }, { x: 0.3 + MIN_SIDE, y: 0.6 }))).toBe(true);
  });

  it('move with their size kept and stop at the edges of the image', () => {
    expect(moveBox(box(0, 0, 0.5, 1), 0.25, 0)).toEqual(box(0.25, 0, 0.75, 1));
    expect(moveBox(box(0.25, 0.25, 0.75, 0.5), 0.5, -0.4)).toEqual(box(0.5, 0, 1, 0.25));
    expect(moveBox(box(0.25, 0.25, 0.75, 0.5), -1, 2)).toEqual(box(0, 0.75, 0.5, 1));
  });

  it('resize by corners and edges, never past the opposite edge or out of the image', () => {
    const b = box(0.25, 0.25, 0.75, 0.75);
    expect(resizeBox(b, 'se', { x: 0.9, y: 1.2 })).toEqual(box(0.25, 0.25, 0.90625, 1));
    expect(resizeBox(b, 'w', { x: -0.3, y: 0.9 })).toEqual(box(0, 0.25, 0.75, 0.75));
    expect(resizeBox(b, 'n', { x: 0, y: 0.1 })).toEqual(box(0.25, 0.09375, 0.75, 0.75));
    // dragged across the opposite edge: stops MIN_SIDE before it
    expect(resizeBox(b, 'e', { x: 0.1, y: 0.5 })).toEqual(box(0.25, 0.25, 0.25 + MIN_SIDE, 0.75));
    expect(resizeBox(b, 'nw', { x: 0.9, y: 0.9 })).toEqual(box(0.75 - MIN_SIDE, 0.75 - MIN_SIDE, 0.75, 0.75));
  });

  it('take typed edges inside the image and refuse one that leaves no area', () => {
    expect(editEdge(box(0, 0, 0.5, 1), 'x1', 0.6)).toEqual({ box: box(0, 0, 0.6, 1) });
    expect(editEdge(box(0, 0, 0.5, 1), 'x1', 1.7)).toEqual({ box: box(0, 0, 1, 1) });
    expect(editEdge(box(0.2, 0, 0.5, 1), 'x1', 0.1)).toEqual({ error: 'x0 must be less than x1 (0.2 ≥ 0.1): a box needs a positive width.' });
    expect(editEdge(box(0, 0.5, 1, 1), 'y0', 1)).toEqual({ error: 'y0 must be less than y1 (1 ≥ 1): a box needs a positive height.' });
    expect(editEdge(box(0, 0, 1, 1), 'y0', Number.NaN)).toEqual({ error: 'y0 must be a number from 0 to 1.' });
  });

  it('may touch but not overlap, and at most the engine limit of them', () => {
    expect(overlaps(box(0, 0, 0.5, 1), box(0.5, 0, 1, 1))).toBe(false);
    expect(overlaps(box(0, 0, 0.5, 1), box(0.5 - GRID, 0, 1, 1))).toBe(true);
    expect(regionProblems([box(0, 0, 0.5, 1), box(0.5, 0, 1, 1)])).toEqual([]);
    expect(regionProblems([box(0, 0, 0.6, 1), box(0.5, 0, 1, 1), box(0.55, 0.2, 0.58, 0.3)])).toEqual([
      'Regions 1 and 2 overlap: move or resize one (boxes may touch but not overlap).',
      'Regions 1 and 3 overlap: move or resize one (boxes may touch but not overlap).',
      'Regions 2 and 3 overlap: move or resize one (boxes may touch but not overlap).',
    ]);
    expect(regionProblems([box(0, 0, 0, 1), box(0.5, 0, 1.2, 1)])).toEqual(['Region 1 has no area: give x0 < x1 and y0 < y1.', 'Region 2 leaves the image: coordinates are fractions from 0 to 1.']);
    const many = Array.from({ length: MAX_REGIONS + 1 }, (_, i) => box(i / 16, 0, (i + 1) / 16, 1));
    expect(regionProblems(many)).toEqual([`9 regions: at most ${MAX_REGIONS} are supported; delete 1.`]);
  });

  it('are found under the pointer (the last drawn on top) and get a free place from the keyboard', () => {
    expect(boxAt([box(0, 0, 0.5, 1), box(0.5, 0, 1, 1)], { x: 0.7, y: 0.3 })).toBe(1);
    expect(boxAt([box(0, 0, 0.5, 0.5)], { x: 0.7, y: 0.3 })).toBe(-1);
    expect(freeBox([])).toEqual(box(0, 0, 0.5, 1));
    expect(freeBox([box(0, 0, 0.5, 1)])).toEqual(box(0.5, 0, 1, 1));
    expect(freeBox([box(0, 0, 0.5, 1), box(0.5, 0, 1, 0.5)])).toEqual(box(0.5, 0.5, 1, 1));
    expect(freeBox([box(0, 0, 1, 1)])).toBeUndefined();
  });

  it('become the request regions in order, with their bound LoRAs', () => {
    const regions = toRequestRegions([
      { box: box(0, 0, 0.5, 1), prompt: 'zorb', negative: '', loras: [{ lora: { path: '/l/zorb.safetensors' }, weight: 0.9 }] },
      { box: box(0.5, 0, 1, 1), prompt: 'quill', negative: 'blurry', loras: [] },
    ]);
    expect(regions).toEqual([
      { box: [0, 0, 0.5, 1], prompt: 'zorb', negative: '', loras: [{ path: '/l/zorb.safetensors', weight: 0.9 }] },
      { box: [0.5, 0, 1, 1], prompt: 'quill', negative: 'blurry', loras: [] },
    ]);
  });
});
