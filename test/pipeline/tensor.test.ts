import { describe, expect, it } from 'vitest';
import { batchItem, concat, fromHalf, mean, planarToRgbBytes, repeat, scale, sizeOf, toHalf } from '../../src/engine/tensor';

describe('tensor helpers', () => {
  it('sizes, concatenates, repeats and views batches', () => {
    expect(sizeOf([2, 4, 16, 16])).toBe(2048);
    expect(sizeOf([])).toBe(1);
    expect([...concat([Float32Array.of(1, 2), Float32Array.of(3)])]).toEqual([1, 2, 3]);
    const r = repeat(Float32Array.of(1, 2, 3), 2);
    expect([...r]).toEqual([1, 2, 3, 1, 2, 3]);
    const second = batchItem(Float32Array.of(1, 2, 3, 4, 5, 6), 3, 1);
    expect([...second]).toEqual([4, 5, 6]);
    expect([...scale(Float32Array.of(1, -2), 0.5)]).toEqual([0.5, -1]);
    expect([...mean([Float32Array.of(1, 2), Float32Array.of(3, 6)])]).toEqual([2, 4]);
  });

  it('turns a [3, h, w] image in [-1, 1] into interleaved RGB bytes, clamped and rounded', () => {
    // 2 x 1 image: pixel 0 = (-1, 0, 1), pixel 1 = (2, -3, 0.5)
    const chw = Float32Array.of(-1, 2, 0, -3, 1, 0.5);
    expect([...planarToRgbBytes(chw, 2, 1)]).toEqual([0, 128, 255, 255, 0, 191]);
  });

  it('converts to and from IEEE half bits (fp16 graphs)', () => {
    const bits = toHalf(Float32Array.of(1, -2, 0.5, 65504, 1e-8));
    expect([...bits]).toEqual([0x3c00, 0xc000, 0x3800, 0x7bff, 0]);
    expect([...fromHalf(bits)]).toEqual([1, -2, 0.5, 65504, 0]);
  });
});
