/** Checks of numbers a user gives (settings, command-line options), with one wording everywhere. */
import { ChordError } from './errors';

/**
 * `value` when it is a whole number from `min` to `max`; otherwise a BAD_ARGUMENT naming the
 * setting, the allowed range and the value given ("Steps must be a whole number from 1 to 1000
 * (got 0)."). Without `max` only the lower bound is stated. A NaN (text that was not a number)
 * is not echoed back: the caller shows the text.
 */
export function wholeNumber(value: number, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (Number.isSafeInteger(value) && value >= min && value <= max) return value;
  const range = max < Number.MAX_SAFE_INTEGER ? ` from ${min} to ${max}` : min > 0 ? ` of at least ${min}` : '';
  const got = Number.isNaN(value) ? '' : ` (got ${value})`;
  throw new ChordError('BAD_ARGUMENT', `${name} must be a whole number${range}${got}.`);
}
