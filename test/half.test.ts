import { describe, expect, it } from 'vitest';
import { floatToHalf, halfArrayToFloat, halfToFloat } from '../src/engine/half';

describe('fp16 conversion', () => {
  it('rounds float to half to nearest, ties to even, like numpy', () => {
    expect(floatToHalf(1)).toBe(0x3c00);
    expect(floatToHalf(-2)).toBe(0xc000);
    expect(floatToHalf(1 / 3)).toBe(0x3555);
    expect(floatToHalf(65504)).toBe(0x7bff); // largest half
    expect(floatToHalf(65520)).toBe(0x7c00); // halfway to 65536: ties to even = inf
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // halfway between 1 and the next half: even
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(floatToHalf(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(floatToHalf(2 ** -25)).toBe(0x0000); // half of it: ties to even = 0
    expect(floatToHalf(3 * 2 ** -25)).toBe(0x0002);
    expect(floatToHalf(2 ** -14 - 2 ** -25)).toBe(0x0400); // rounds up into the normals
    expect(floatToHalf(-0)).toBe(0x8000);
    expect(floatToHalf(Infinity)).toBe(0x7c00);
    expect(floatToHalf(NaN) & 0x7c00).toBe(0x7c00);
    expect(floatToHalf(NaN) & 0x3ff).not.toBe(0);
  });

  it('every half survives half -> float -> half, and the table matches the scalar path', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const floats = halfArrayToFloat(all);
    for (let h = 0; h < 65536; h++) {
      const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (isNaN) {
        expect(Number.isNaN(floats[h])).toBe(true);
        continue;
      }
      if (floats[h] !== halfToFloat(h) || floatToHalf(floats[h]) !== h) throw new Error(`half 0x${h.toString(16)} does not round-trip`);
    }
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
  });
});
