import { describe, expect, it } from 'vitest';
import { stackOrder } from '../../src/renderer/lib/reuse';

const loras = ['zorb', 'hat', 'sunset'].map((name) => ({ name, weight: 1, path: null }));

describe('stackOrder', () => {
  it('follows the order the method ran the LoRAs in', () => {
    expect(stackOrder({ loras, order: [2, 0, 1] })).toEqual([2, 0, 1]);
  });
  it('keeps the listed order without a recorded one (A1111 images)', () => {
    expect(stackOrder({ loras })).toEqual([0, 1, 2]);
  });
  it('ignores an order that is not a permutation of the LoRAs', () => {
    expect(stackOrder({ loras, order: [0, 0, 1] })).toEqual([0, 1, 2]);
    expect(stackOrder({ loras, order: [0, 1] })).toEqual([0, 1, 2]);
    expect(stackOrder({ loras, order: [0, 1, 3] })).toEqual([0, 1, 2]);
  });
});
