/**
 * `chord compare`: an ordering grid of 3 demo LoRAs (every permutation) whose PNG has the
 * layout's size, the cells saved with records that `generate --from` remakes, and the one-line
 * errors.
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { gridLayout } from '../../src/engine/compare/grid';
import { readImageInfo } from '../../src/engine/png/image';
import { makeTmpDir, testModelDir } from '../pipeline/helpers';
import { chordProcess, cli } from './helpers';
import type { CompareSummary } from '../../src/engine/compare/run';

const MODEL = testModelDir();
const tmp = makeTmpDir('chord-cli-compare-');
afterAll(() => tmp.cleanup());
const lora = (name: string) => join(MODEL, 'loras', `${name}.safetensors`);
const three = ['--lora', lora('zorb'), '--lora', lora('hat'), '--lora', lora('sunset')];


describe('chord compare', () => {
  it('--orders all --methods merge: 6 permutation rows x 1 column, a PNG of the layout size, cells remade by --from', async () => {
    const out = join(tmp.dir, 'grid.png');
    const r = await chordProcess(tmp.dir, ['compare', 'zorb hatz sunsa', '--model', MODEL, ...three, '--orders', 'all', '--methods', 'merge', '--steps', '2', '--seed', '5', '--out', out, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as CompareSummary;
    expect(s.grid).toBe(out);
    expect(s.columns).toEqual(['merge']);
    expect(s.rows.map((row) => row.label)).toEqual([
      'zorb, hat, sunset', 'zorb, sunset, hat', 'hat, zorb, sunset', 'hat, sunset, zorb', 'sunset, zorb, hat', 'sunset, hat, zorb',
    ]);
    expect(s.rows[3].order).toEqual(['hat', 'sunset', 'zorb']);
    expect(s.cells).toHaveLength(6);
    expect(s.cells.map((c) => c.file)).toEqual([1, 2, 3, 4, 5, 6].map((k) => join(tmp.dir, 'grid-cells', `r0${k}-c01-merge.png`)));

    const layout = gridLayout({ rowLabels: s.rows.map((row) => row.label), columnLabels: s.columns, cellWidth: s.cellWidth, cellHeight: s.cellHeight });
    const meta = await sharp(out).metadata();
    expect([meta.width, meta.height]).toEqual([layout.width, layout.height]);
    expect([s.width, s.height]).toEqual([layout.width, layout.height]);

    // every cell: the same seed, the Merge method, its row's order asked for (Merge sums, whatever the order)
    const records = await Promise.all(s.cells.map(async (c) => (await readImageInfo(c.file)).chord));
    expect(records.every((rec) => rec?.method === 'merge' && rec.seed === 5)).toBe(true);
    const again = join(tmp.dir, 'again.png');
    const remade = await cli('generate', '--from', s.cells[3].file, '--model', MODEL, '--out', again);
    expect(remade.err).toEqual([]);
    expect((await sharp(again).raw().toBuffer()).equals(await sharp(s.cells[3].file).raw().toBuffer())).toBe(true);
  }, 120_000);

  it('--orders freq,reverse --methods merge,cmlora: rule rows, and CMLoRA takes the reversed order in the reverse row', async () => {
    const out = join(tmp.dir, 'freq', 'rules.png');
    const r = await chordProcess(tmp.dir, ['compare', 'zorb hatz', '--model', MODEL, '--lora', lora('zorb'), '--lora', lora('hat'), '--orders', 'freq,reverse', '--methods', 'merge,cmlora', '--steps', '2', '--seed', '1', '--out', out, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as CompareSummary;
    expect(s.rows).toEqual([{ label: 'freq' }, { label: 'reverse' }]);
    expect(s.cells.map((c) => [c.row, c.column, c.method])).toEqual([[0, 0, 'merge'], [0, 1, 'cmlora'], [1, 0, 'merge'], [1, 1, 'cmlora']]);
    expect(s.cells[3].order).toEqual([...s.cells[1].order].reverse());
    const meta = await sharp(out).metadata();
    const layout = gridLayout({ rowLabels: ['freq', 'reverse'], columnLabels: ['merge', 'cmlora'], cellWidth: s.cellWidth, cellHeight: s.cellHeight });
    expect([meta.width, meta.height]).toEqual([layout.width, layout.height]);
  }, 120_000);

  it('bad input is one line and exit 1', async () => {
    const out = ['--out', join(tmp.dir, 'none.png')];
    const cases: [string[], RegExp][] = [
      [['compare', 'x', '--lora', lora('zorb'), ...out], /^chord: chord compare needs at least 2 LoRAs to order \(got 1\)\. Give --lora FILE at least twice\.$/],
      [['compare', 'x', ...three, '--lora', lora('ball'), '--lora', lora('cube'), '--orders', 'all', ...out], /^chord: --orders all with 5 LoRAs would make 120 rows \(every permutation\); all works up to 4 LoRAs \(24 rows\)\. List the orders/],
      [['compare', 'x', ...three, '--orders', 'freq,sideways', ...out], /^chord: Unknown order "sideways" in --orders\. Use all or a comma list of freq, reverse, user, category\.$/],
      [['compare', 'x', ...three, '--methods', 'merge,blend', ...out], /^chord: Unknown method "blend" in --methods\. Use a comma list of merge, switch, composite, cmlora/],
      [['compare', 'x', ...three], /^chord: chord compare needs --out FILE\.png for the grid\./],
    ];
    for (const [args, pattern] of cases) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.err, args.join(' ')).toHaveLength(1);
      expect(r.err[0], args.join(' ')).toMatch(pattern);
    }
  });
});
