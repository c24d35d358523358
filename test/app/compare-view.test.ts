/** The compare view's pure helpers: image counts for a choice, cell lookup, tallies, what a pending cell is doing. */
import { describe, expect, it } from 'vitest';
import { cellAt, comparisonTitle, pendingStatus, rowCount, tally, tallyLine } from '../../src/renderer/lib/compare-plan';
import type { Comparison, ComparisonCell, QueuedJob } from '../../src/shared/api';

const cell = (row: number, column: number, state: ComparisonCell['state'], jobId = `j${row}${column}`): ComparisonCell => ({ row, column, jobId, state, image: null, order: null, error: null });

const comparison: Comparison = {
  id: 'c',
  createdAt: Date.UTC(2026, 0, 1, 9, 5),
  settings: { prompt: 'zorb hatz sunsa on a long hill at dusk', negativePrompt: '', model: '/m', loras: [], steps: 4, cfg: 7, sampler: 'euler_a', provider: 'auto', seed: 7 },
  loras: ['zorb', 'hat'],
  rows: [
    { kind: 'freq', order: 'freq', names: null, label: 'frequency order' },
    { kind: 'user', order: 'user', names: ['zorb', 'hat'], label: 'user order: zorb, hat' },
  ],
  columns: [
    { method: 'merge', label: 'Merge', options: {} },
    { method: 'switch', label: 'Switch', options: { tau: 5 } },
  ],
  cells: [cell(0, 0, 'done'), cell(0, 1, 'failed'), cell(1, 0, 'pending'), cell(1, 1, 'pending')],
  grid: null,
};

const job = (jobId: string, state: QueuedJob['state']): QueuedJob => ({ jobId, state, imagesDone: 0, createdAt: 0, request: { ...comparison.settings, batchCount: 1, method: { name: 'merge' } } });

describe('compare view helpers', () => {
  it('counts the rows a choice makes: one per rule, n! for all permutations, one for none', () => {
    expect(rowCount(['all'], 3)).toBe(6);
    expect(rowCount(['freq', 'reverse', 'user'], 3)).toBe(3);
    expect(rowCount(['all', 'freq', 'all'], 4)).toBe(25);
    expect(rowCount([], 1)).toBe(1);
  });

  it('finds cells row-major and tallies them', () => {
    expect(cellAt(comparison, 1, 0)?.jobId).toBe('j10');
    expect(cellAt(comparison, 0, 1)?.state).toBe('failed');
    expect(tally(comparison)).toEqual({ done: 1, failed: 1, cancelled: 0, pending: 2 });
    expect(tallyLine(comparison)).toBe('1 of 4 made · 1 failed · 2 to go');
  });

  it('says what a pending cell is doing: running at a step, its place in the queue, or not there yet', () => {
    const queue = [job('j10', 'running'), job('x', 'queued'), job('j11', 'queued')];
    expect(pendingStatus(comparison.cells[2], queue, { jobId: 'j10', step: 3, steps: 4 })).toEqual({ kind: 'running', step: 3, steps: 4 });
    expect(pendingStatus(comparison.cells[2], queue, undefined)).toEqual({ kind: 'running', step: 0, steps: 4 });
    expect(pendingStatus(comparison.cells[3], queue, { jobId: 'j10', step: 3, steps: 4 })).toEqual({ kind: 'queued', place: 3 });
    expect(pendingStatus(comparison.cells[3], [], undefined)).toEqual({ kind: 'waiting' });
  });

  it('titles a comparison by time, prompt and size', () => {
    expect(comparisonTitle(comparison)).toMatch(/ · zorb hatz sunsa on a long h… · 2×2$/);
  });
});
