/**
 * What the compare view shows of a comparison, as pure functions of the host's data (so they are
 * tested without a page): how many images a choice makes, which cell sits where, and what a
 * pending cell is doing now (its job's place in the queue, or its step).
 */
import type { CompareOrder, Comparison, ComparisonCell, QueuedJob } from '../../shared/api';

/** The orderings a user can tick, in the order they are offered. */
export const ORDER_CHOICES: readonly { order: CompareOrder; label: string; title: string }[] = [
  { order: 'freq', label: 'frequency', title: 'High-frequency LoRAs first (their spectra are measured once, then cached)' },
  { order: 'reverse', label: 'reversed', title: 'The frequency order reversed' },
  { order: 'user', label: 'user order', title: 'The order of the stack' },
  { order: 'category', label: 'category', title: 'Character, clothing, style, background, object' },
  { order: 'all', label: 'all permutations', title: 'Every order of the stack (up to 4 LoRAs)' },
];

function factorial(n: number): number {
  return n <= 1 ? 1 : n * factorial(n - 1);
}

/** Rows a choice of orderings makes: one per rule, n! for every permutation, one (the stack's order) for none. */
export function rowCount(orders: readonly CompareOrder[], loraCount: number): number {
  if (orders.length === 0) return 1;
  return [...new Set(orders)].reduce((sum, o) => sum + (o === 'all' ? factorial(loraCount) : 1), 0);
}

export function cellAt(c: Comparison, row: number, column: number): ComparisonCell | undefined {
  return c.cells[row * c.columns.length + column];
}

export interface Tally {
  done: number;
  failed: number;
  cancelled: number;
  pending: number;
}

export function tally(c: Comparison): Tally {
  const t: Tally = { done: 0, failed: 0, cancelled: 0, pending: 0 };
  for (const cell of c.cells) {
    if (cell.state === 'done') t.done++;
    else if (cell.state === 'failed') t.failed++;
    else if (cell.state === 'cancelled') t.cancelled++;
    else t.pending++;
  }
  return t;
}

/** One line for the comparison's header: "4 of 6 made · 1 failed". */
export function tallyLine(c: Comparison): string {
  const t = tally(c);
  const parts = [`${t.done} of ${c.cells.length} made`];
  if (t.failed > 0) parts.push(`${t.failed} failed`);
  if (t.cancelled > 0) parts.push(`${t.cancelled} cancelled`);
  if (t.pending > 0) parts.push(`${t.pending} to go`);
  return parts.join(' · ');
}

export type PendingStatus = { kind: 'running'; step: number; steps: number } | { kind: 'queued'; place: number } | { kind: 'waiting' };

/** What a pending cell's job is doing: running (at a step), queued (its place), or not seen in the queue yet. */
export function pendingStatus(cell: ComparisonCell, queue: readonly QueuedJob[], progress: { jobId: string; step: number; steps: number } | undefined): PendingStatus {
  const index = queue.findIndex((j) => j.jobId === cell.jobId);
  if (index < 0) return { kind: 'waiting' };
  if (queue[index].state === 'running') {
    const p = progress?.jobId === cell.jobId ? progress : undefined;
    return { kind: 'running', step: p?.step ?? 0, steps: p?.steps ?? queue[index].request.steps };
  }
  return { kind: 'queued', place: index + 1 };
}

/** A comparison in the list of past ones: when, what prompt, how big. */
export function comparisonTitle(c: Comparison): string {
  const time = new Date(c.createdAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const prompt = c.settings.prompt.length > 28 ? `${c.settings.prompt.slice(0, 27)}…` : c.settings.prompt || '(empty prompt)';
  return `${time} · ${prompt} · ${c.rows.length}×${c.columns.length}`;
}
