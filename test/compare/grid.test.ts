/** The compare grid's layout maths, its plan (rows and columns) and the written PNG's size. */
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { cellScale, fitText, gridLayout, writeGrid } from '../../src/engine/compare/grid';
import { permutations, planCompare, rowLabel, rowOrder } from '../../src/engine/compare/plan';
import { makeTmpDir } from '../pipeline/helpers';

const tmp = makeTmpDir('chord-compare-grid-');
afterAll(() => tmp.cleanup());

describe('gridLayout', () => {
  it('sizes the grid from the label margins, the cells and the gaps', () => {
    const l = gridLayout({ rowLabels: ['a', 'bb'], columnLabels: ['merge', 'cmlora', 'switch'], cellWidth: 10, cellHeight: 20, fontSize: 10 });
    expect(l.gap).toBe(3);
    expect(l.rowLabelWidth).toBe(60); // the minimum: two short labels
    expect(l.columnLabelHeight).toBe(14 + 10);
    expect(l.width).toBe(60 + 3 * 10 + 4 * 3);
    expect(l.height).toBe(24 + 2 * 20 + 3 * 3);
    expect(l.cells[0][0]).toEqual({ left: 63, top: 27 });
    expect(l.cells[1][2]).toEqual({ left: 63 + 2 * 13, top: 27 + 23 });
    expect(l.rowLabels[1]).toEqual({ text: 'bb', left: 0, top: 50, width: 60, height: 20 });
    // a 10 px cell holds no column label text: cut to nothing rather than overflowing
    expect(l.columnLabels[0].text.length).toBeLessThanOrEqual(1);
  });

  it('widens the row-label column for long labels, up to a cap, and cuts what does not fit', () => {
    const l = gridLayout({ rowLabels: ['x'.repeat(20)], columnLabels: ['m'], cellWidth: 64, cellHeight: 64, fontSize: 10 });
    expect(l.rowLabelWidth).toBe(20 * 6 + 10);
    expect(l.rowLabels[0].text).toBe('x'.repeat(20));
    const long = gridLayout({ rowLabels: ['y'.repeat(200)], columnLabels: ['m'], cellWidth: 64, cellHeight: 64, fontSize: 10 });
    expect(long.rowLabelWidth).toBe(360);
    expect(long.rowLabels[0].text).toBe(`${'y'.repeat(57)}…`);
    expect(fitText('abcdef', 4)).toBe('abc…');
    expect(fitText('abc', 4)).toBe('abc');
  });

  it('scales small images up by a whole factor to at least 128 px', () => {
    expect([cellScale(64), cellScale(100), cellScale(128), cellScale(512)]).toEqual([2, 2, 1, 1]);
  });

  it('refuses an empty grid', () => {
    expect(() => gridLayout({ rowLabels: [], columnLabels: ['m'], cellWidth: 8, cellHeight: 8 })).toThrow(/at least one row and one column/);
  });
});

describe('planCompare', () => {
  it('every permutation, the identity first, in lexicographic order', () => {
    expect(permutations(3)).toEqual([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]]);
    expect(permutations(4)).toHaveLength(24);
  });

  it('rows from --orders, columns from --methods, with the defaults', () => {
    expect(planCompare(2)).toEqual({ rows: [{ kind: 'rule', rule: 'freq' }, { kind: 'rule', rule: 'reverse' }, { kind: 'rule', rule: 'user' }], methods: ['cmlora'] });
    const p = planCompare(3, 'user, all', 'merge,switch');
    expect(p.rows).toHaveLength(7);
    expect(p.methods).toEqual(['merge', 'switch']);
    expect(rowOrder(p.rows[0], undefined)).toBe('user');
    expect(rowOrder(p.rows[1], undefined)).toBe('user'); // the identity permutation
    expect(rowOrder(p.rows[2], ['a', 'b', 'c'])).toBe('a,c,b');
    expect(rowLabel(p.rows[0], ['a', 'b', 'c'])).toBe('user');
    expect(rowLabel(p.rows[2], ['a', 'b', 'c'])).toBe('a, c, b');
  });

  it('bad lists are one clear message', () => {
    expect(() => planCompare(1)).toThrow('chord compare needs at least 2 LoRAs to order (got 1).');
    expect(() => planCompare(5, 'all')).toThrow('--orders all with 5 LoRAs would make 120 rows (every permutation); all works up to 4 LoRAs (24 rows).');
    expect(() => planCompare(2, 'freq,sideways')).toThrow('Unknown order "sideways" in --orders.');
    expect(() => planCompare(2, 'user', 'blend')).toThrow('Unknown method "blend" in --methods.');
    expect(() => planCompare(2, 'user', 'regional')).toThrow(/regional method needs regions/);
  });
});

describe('writeGrid', () => {
  it('writes a PNG of the layout size with the cells where the layout puts them and visible labels', async () => {
    const red = join(tmp.dir, 'red.png');
    const blue = join(tmp.dir, 'blue.png');
    await sharp({ create: { width: 16, height: 12, channels: 3, background: '#ff0000' } }).png().toFile(red);
    await sharp({ create: { width: 16, height: 12, channels: 3, background: '#0000ff' } }).png().toFile(blue);
    const layout = gridLayout({ rowLabels: ['first row', 'second'], columnLabels: ['m'], cellWidth: 16, cellHeight: 12 });
    const out = join(tmp.dir, 'sub', 'grid.png');
    await writeGrid(out, layout, [[red], [blue]]);
    const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([layout.width, layout.height]);
    const px = (x: number, y: number) => [...data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3)];
    expect(px(layout.cells[0][0].left + 8, layout.cells[0][0].top + 6)).toEqual([255, 0, 0]);
    expect(px(layout.cells[1][0].left + 8, layout.cells[1][0].top + 6)).toEqual([0, 0, 255]);
    // the label text rendered: dark pixels in the row-label column (a font was found)
    let dark = 0;
    for (let y = 0; y < info.height; y++) for (let x = 0; x < layout.rowLabelWidth; x++) if (px(x, y)[0] < 128) dark++;
    expect(dark).toBeGreaterThan(20);
  });
});
