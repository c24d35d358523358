import { describe, expect, it } from 'vitest';
import { ChordError } from '../src/engine/errors';
import { wholeNumber } from '../src/engine/numbers';

describe('wholeNumber', () => {
  it('passes whole numbers in range through', () => {
    expect(wholeNumber(1, 'Steps', 1, 1000)).toBe(1);
    expect(wholeNumber(1000, 'Steps', 1, 1000)).toBe(1000);
    expect(wholeNumber(0, '--seed', 0)).toBe(0);
  });

  it('names the setting, the range and the value', () => {
    expect(() => wholeNumber(0, 'Steps', 1, 1000)).toThrow(new ChordError('BAD_ARGUMENT', 'Steps must be a whole number from 1 to 1000 (got 0).'));
    expect(() => wholeNumber(2.5, 'Steps', 1, 1000)).toThrow('Steps must be a whole number from 1 to 1000 (got 2.5).');
    expect(() => wholeNumber(1001, 'Steps', 1, 1000)).toThrow('(got 1001)');
    expect(() => wholeNumber(0, '--steps', 1)).toThrow('--steps must be a whole number of at least 1 (got 0).');
    expect(() => wholeNumber(2 ** 60, '--seed', 0)).toThrow(/^--seed must be a whole number \(got /);
    // NaN stands for text that was no number; the caller shows the text
    expect(() => wholeNumber(Number.NaN, '--steps', 1)).toThrow(/^--steps must be a whole number of at least 1\.$/);
  });
});
