import { describe, expect, it } from 'vitest';
import { backgroundSpeckle } from '../../bench/detectors/speckle';

function grey(w: number, h: number, at: (x: number, y: number) => number): { data: Uint8Array; width: number; height: number } {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.fill(at(x, y), (y * w + x) * 3, (y * w + x) * 3 + 3);
  return { data, width: w, height: h };
}

describe('backgroundSpeckle', () => {
  it('scores a flat or linearly shaded grey 0 and a dot grid on grey above it', () => {
    expect(backgroundSpeckle(grey(16, 16, () => 128))).toEqual({ total: 0, count: 12 * 12 * 3 });
    expect(backgroundSpeckle(grey(16, 16, (_, y) => 100 + 4 * y)).total).toBeCloseTo(0, 9);
    const dots = backgroundSpeckle(grey(16, 16, (x, y) => (x % 6 === 3 && y % 6 === 3 ? 98 : 128)));
    expect(dots.count).toBe(12 * 12 * 3);
    expect(dots.total / dots.count).toBeGreaterThan(1);
  });

  it('leaves out coloured pixels and their 5x5 surroundings', () => {
    const img = grey(16, 16, () => 128);
    const i = (8 * 16 + 8) * 3;
    img.data.set([220, 35, 35], i); // one red pixel
    expect(backgroundSpeckle(img)).toEqual({ total: 0, count: (12 * 12 - 25) * 3 });
  });
});
