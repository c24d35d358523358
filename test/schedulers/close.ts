import { expect } from 'vitest';

/** Element-wise |a - e| <= abs + rel * |e|, with the index in the failure message. */
export function expectClose(actual: ArrayLike<number>, expected: readonly number[], rel = 1e-6, abs = 1e-6): void {
  expect(actual.length, 'length').toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const tol = abs + rel * Math.abs(expected[i]);
    if (!(Math.abs(actual[i] - expected[i]) <= tol)) {
      expect.fail(`element ${i}: got ${actual[i]}, expected ${expected[i]} (tolerance ${tol})`);
    }
  }
}
