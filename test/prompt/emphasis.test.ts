import { describe, expect, it } from 'vitest';
import { parseEmphasis, type PromptPiece } from '../../src/engine/prompt/emphasis';

/** [text, weight] pairs, 'BREAK' for a window break (A1111 writes it as ['BREAK', -1]) */
type Expected = Array<[string, number] | 'BREAK'>;

const simplify = (pieces: PromptPiece[]): Expected => pieces.map((p) => (p.kind === 'break' ? 'BREAK' : [p.text, p.weight]));

// A1111's documented examples (parse_prompt_attention) and further cases worked out from its rules
const TABLE: Array<[string, Expected]> = [
  ['normal text', [['normal text', 1]]],
  ['an (important) word', [['an ', 1], ['important', 1.1], [' word', 1]]],
  ['(unbalanced', [['unbalanced', 1.1]]],
  ['\\(literal\\]', [['(literal]', 1]]],
  ['(unnecessary)(parens)', [['unnecessaryparens', 1.1]]],
  [
    'a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).',
    [['a ', 1], ['house', 1.1 * 1.1 * 1.3], [' ', 1.1], ['on', 1], [' a ', 1.1], ['hill', 0.55], [', sun, ', 1.1], ['sky', 1.1 * 1.1 * 1.1 * 1.1], ['.', 1.1]],
  ],
  ['((x))', [['x', 1.1 * 1.1]]],
  ['[x]', [['x', 1 / 1.1]]],
  ['[[x]]', [['x', 1 / 1.1 / 1.1]]],
  ['(x:1.3)', [['x', 1.3]]],
  ['(x: 0.5 )', [['x', 0.5]]],
  ['(x:-1)', [['x', -1]]],
  ['(x:1.0)', [['x', 1]]],
  ['a (b:1.0) c', [['a b c', 1]]],
  ['[x:1.3]', [['x:1.3', 1 / 1.1]]],
  ['x:1.3)', [['x:1.3)', 1]]],
  ['a) b', [['a) b', 1]]],
  ['a] b', [['a] b', 1]]],
  ['[unbalanced', [['unbalanced', 1 / 1.1]]],
  ['(a [b) c]', [['a ', 1.1], ['b', 1.1 / 1.1], [' c', 1 / 1.1]]],
  ['\\\\x', [['\\x', 1]]],
  ['a\\b', [['ab', 1]]],
  ['(\\(x\\))', [['(x)', 1.1]]],
  ['time: noon', [['time: noon', 1]]],
  ['(x:1.2.3)', [['x:1.2.3)', 1.1]]],
  ['', [['', 1]]],
  ['()', [['', 1]]],
  ['a BREAK b', [['a', 1], 'BREAK', ['b', 1]]],
  ['BREAK', [['', 1], 'BREAK', ['', 1]]],
  ['a BREAKING b', [['a BREAKING b', 1]]],
  ['a break b', [['a break b', 1]]],
  ['(a BREAK b)', [['a', 1.1], 'BREAK', ['b', 1.1]]],
  ['a BREAK BREAK b', [['a', 1], 'BREAK', ['', 1], 'BREAK', ['b', 1]]],
];

describe('parseEmphasis (A1111 prompt attention)', () => {
  it.each(TABLE)('%j', (prompt, expected) => {
    const got = simplify(parseEmphasis(prompt));
    expect(got.length).toBe(expected.length);
    got.forEach((piece, i) => {
      const want = expected[i];
      if (piece === 'BREAK' || want === 'BREAK') expect(piece).toEqual(want);
      else {
        expect(piece[0]).toBe(want[0]);
        expect(piece[1]).toBeCloseTo(want[1], 12);
      }
    });
  });

  it('multiplies the way A1111 does, in the same order (bit for bit)', () => {
    const house = parseEmphasis('(((house:1.3)))')[0];
    expect(house.kind === 'text' && house.weight).toBe(1.3 * 1.1 * 1.1);
  });
});
