import { describe, expect, it } from 'vitest';
import { engineNote, stackOrder } from '../../src/renderer/lib/reuse';

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

describe('engineNote', () => {
  it('says when another engine version made the image', () => {
    expect(engineNote('0.2.0', '0.2.1')).toBe("It was made by Chord's engine 0.2.0 and this is 0.2.1: the same seed may make a different image.");
  });
  it('says nothing for the same version, or when either is unknown (A1111 images, no engine info yet)', () => {
    expect(engineNote('0.2.1', '0.2.1')).toBe('');
    expect(engineNote(undefined, '0.2.1')).toBe('');
    expect(engineNote('0.2.0', undefined)).toBe('');
  });
});
