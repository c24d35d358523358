/** LoRA orders: freq, reverse, user, category and explicit lists, with the H/L split. */
import { describe, expect, it } from 'vitest';
import { ChordError } from '../../src/engine/errors';
import { categoryFromMetadata, orderLoras, parseOrder, type OrderInput } from '../../src/engine/spectral/order';

const h = (dH: number) => ({ dH, class: 'H' as const });
const l = (dH: number) => ({ dH, class: 'L' as const });

// as a user might list them: background first
const loras: OrderInput[] = [
  { name: 'sunset', profile: l(-0.06), category: 'background' },
  { name: 'hat', profile: h(0.03), category: 'clothing' },
  { name: 'zorb', profile: h(0.06), category: 'character' },
  { name: 'meadow', profile: l(-0.02), category: 'background' },
  { name: 'hatching', profile: h(0.13), category: 'style' },
];

function errorOf(f: () => unknown): ChordError {
  try {
    f();
  } catch (e) {
    if (e instanceof ChordError) return e;
    throw e;
  }
  throw new Error('no error');
}

describe('parseOrder', () => {
  it('reads rule names in any case and name lists with spaces', () => {
    expect(parseOrder('freq')).toEqual({ rule: 'freq' });
    expect(parseOrder(' Reverse ')).toEqual({ rule: 'reverse' });
    expect(parseOrder('user')).toEqual({ rule: 'user' });
    expect(parseOrder('category')).toEqual({ rule: 'category' });
    expect(parseOrder('zorb, hat ,sunset')).toEqual({ rule: 'explicit', names: ['zorb', 'hat', 'sunset'] });
    expect(parseOrder('zorb')).toEqual({ rule: 'explicit', names: ['zorb'] });
  });

  it('rejects an empty order or an empty name', () => {
    expect(errorOf(() => parseOrder('')).code).toBe('BAD_ARGUMENT');
    expect(errorOf(() => parseOrder('zorb,,hat')).userText()).toBe('"zorb,,hat" is not an order. Use one of freq, reverse, user, category, or LoRA names separated by commas (NAME,NAME,...).');
  });
});

describe('orderLoras', () => {
  it('freq: H by dH largest first, then L by dH largest first', () => {
    const o = orderLoras(loras, 'freq');
    expect(o.names).toEqual(['hatching', 'zorb', 'hat', 'meadow', 'sunset']);
    expect(o.order).toEqual([4, 2, 1, 3, 0]);
    expect(o.high).toEqual([4, 2, 1]);
    expect(o.low).toEqual([3, 0]);
    expect(o.classes).toEqual(['L', 'H', 'H', 'L', 'H']);
    expect(o.rule).toBe('freq');
  });

  it('reverse is freq reversed; high and low keep their sequence in the order', () => {
    const o = orderLoras(loras, 'reverse');
    expect(o.names).toEqual(['sunset', 'meadow', 'hat', 'zorb', 'hatching']);
    expect(o.high).toEqual([1, 2, 4]);
    expect(o.low).toEqual([0, 3]);
  });

  it('user keeps the order given, and still splits H and L', () => {
    const o = orderLoras(loras, 'user');
    expect(o.order).toEqual([0, 1, 2, 3, 4]);
    expect(o.high).toEqual([1, 2, 4]);
    expect(o.low).toEqual([0, 3]);
  });

  it('a class override moves a LoRA to the other set, sorted there by its dH', () => {
    const o = orderLoras(loras, 'freq', { classOverride: { meadow: 'H', hat: 'L' } });
    expect(o.names).toEqual(['hatching', 'zorb', 'meadow', 'hat', 'sunset']);
    expect(o.classes).toEqual(['L', 'L', 'H', 'H', 'H']);
  });

  it('an override stands in for a missing profile; such a LoRA goes last in its set', () => {
    const withNew: OrderInput[] = [...loras, { name: 'ball' }];
    const o = orderLoras(withNew, 'freq', { classOverride: { ball: 'H' } });
    expect(o.names).toEqual(['hatching', 'zorb', 'hat', 'ball', 'meadow', 'sunset']);
  });

  it('freq without a profile names the LoRAs that need one', () => {
    const e = errorOf(() => orderLoras([...loras, { name: 'ball' }, { name: 'cube' }], 'freq'));
    expect(e.userText()).toBe('The freq order needs the frequency profile of ball, cube. Run `chord lora profile` on those files, or set their class (H or L).');
  });

  it('without every profile, user order works but has no H/L split', () => {
    const o = orderLoras([{ name: 'a' }, { name: 'b', profile: h(1) }], 'user');
    expect(o.names).toEqual(['a', 'b']);
    expect(o.classes).toBeNull();
    expect(o.high).toBeNull();
    expect(o.low).toBeNull();
  });

  it('an override for a LoRA that is not there, or a class other than H/L, is an error', () => {
    expect(errorOf(() => orderLoras(loras, 'user', { classOverride: { cube: 'H' } })).message).toBe(
      'A class is set for cube, which is not among the LoRAs (sunset, hat, zorb, meadow, hatching).',
    );
    const bad = { hat: 'X' } as unknown as Record<string, 'H'>;
    expect(errorOf(() => orderLoras(loras, 'user', { classOverride: bad })).message).toBe('The class of hat must be H or L (got X).');
  });

  it('category: character, clothing, style, background, object; ties keep the given order', () => {
    const o = orderLoras([...loras, { name: 'ball', category: 'object' }], 'category');
    expect(o.names).toEqual(['zorb', 'hat', 'hatching', 'sunset', 'meadow', 'ball']);
    expect(o.notice).toBeUndefined();
    expect(o.classes).toBeNull(); // ball has no profile
  });

  it('category with a LoRA of unknown category keeps the given order and says why', () => {
    const o = orderLoras([...loras, { name: 'mystery' }], 'category');
    expect(o.order).toEqual([0, 1, 2, 3, 4, 5]);
    expect(o.notice).toBe('No category for mystery: the LoRAs keep the order they were given in.');
  });

  it('an explicit list names every LoRA once', () => {
    const o = orderLoras(loras, 'zorb,hat,hatching,meadow,sunset');
    expect(o.rule).toBe('explicit');
    expect(o.order).toEqual([2, 1, 4, 3, 0]);
    expect(o.high).toEqual([2, 1, 4]);
    expect(o.low).toEqual([3, 0]);
  });

  it('an explicit list with an unknown, repeated or missing name is one clear error', () => {
    expect(errorOf(() => orderLoras(loras, 'zorb,hat,hatching,meadow,sunsett')).userText()).toBe(
      'The order names sunsett, which is not one of the LoRAs (sunset, hat, zorb, meadow, hatching). Name every LoRA once, separated by commas.',
    );
    expect(errorOf(() => orderLoras(loras, 'zorb,zorb,hat,hatching,meadow,sunset')).message).toBe('The order names zorb twice.');
    expect(errorOf(() => orderLoras(loras, 'zorb,hat')).message).toBe('The order leaves out sunset, meadow, hatching.');
    expect(errorOf(() => orderLoras([{ name: 'a' }, { name: 'a' }], 'a,a')).message).toBe('Two LoRAs are named a, so an order by name is ambiguous.');
  });

  it('no LoRAs: every rule gives the empty order', () => {
    for (const rule of ['freq', 'reverse', 'user', 'category']) expect(orderLoras([], rule).order).toEqual([]);
  });
});

describe('categoryFromMetadata', () => {
  it('reads chord.category, one of the five, any case', () => {
    expect(categoryFromMetadata({ 'chord.category': 'background' })).toBe('background');
    expect(categoryFromMetadata({ 'chord.category': ' Style ' })).toBe('style');
    expect(categoryFromMetadata({ 'chord.category': 'vehicle' })).toBeUndefined();
    expect(categoryFromMetadata({ ss_output_name: 'x' })).toBeUndefined();
  });
});
