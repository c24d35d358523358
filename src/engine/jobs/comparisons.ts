/**
 * The compare view's comparisons: one stack, prompt and seed as a grid of orderings (rows) x
 * methods (columns), each cell a job in the batch queue. Kept in `comparisons.json` in the data
 * folder (written atomically on every change), because neither the queue (a finished job leaves
 * it) nor the gallery (an image does not know it belongs to a grid, a failed cell has no image)
 * can tell a comparison back after a reload or a restart. A cell is found by its job id: the
 * queue's events mark it done (with its image), failed (with the reason) or cancelled.
 *
 * `planComparison` and `settleCell` are pure; `Comparisons` holds the list, the file and the
 * exported grids (composed with compare/grid.ts, the same layout as `chord compare`).
 */
import { randomInt, randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import sharp from 'sharp';
import { cellScale, gridLayout, writeGrid } from '../compare/grid';
import { planCompare, rowOrder } from '../compare/plan';
import { ChordError } from '../errors';
import { findMethod, resolveMethodOptions } from '../pipeline/methods';
import { readImageInfo } from '../png/image';
import type { Gallery, LoraLookup } from './gallery';
import { JsonFile, readJsonFile } from './json-store';
import type { AppComparisonRequest, AppGenerateRequest, Comparison, ComparisonCell, ComparisonColumn, ComparisonGrid, ComparisonRow, JobEvent } from './types';

/** The most images one comparison makes (4! permutations x 1 method, or e.g. 4 rows x 6 methods). */
export const MAX_COMPARE_CELLS = 24;
/** `all` (every permutation) works up to this many LoRAs. */
export const MAX_PERMUTED_LORAS = 4;

/** A cell as stored: its image by gallery file name. */
export type StoredCell = Omit<ComparisonCell, 'image'> & { image: string | null };
export type StoredGrid = Omit<ComparisonGrid, 'url' | 'file'>;
export type StoredComparison = Omit<Comparison, 'cells' | 'grid'> & { cells: StoredCell[]; grid: StoredGrid | null };

export interface ComparisonPlan {
  rows: ComparisonRow[];
  columns: ComparisonColumn[];
  /** row-major, one per cell, without the seed (the comparison fixes it) */
  requests: Omit<AppGenerateRequest, 'seed'>[];
}

/** The name the engine gives a LoRA: its file (or PEFT folder) name without `.safetensors`. */
export function engineLoraName(path: string): string {
  const base = path.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? path;
  return base.replace(/\.safetensors$/i, '');
}

const RULE_CAPTIONS: Record<Exclude<ComparisonRow['kind'], 'permutation'>, string> = {
  freq: 'frequency order',
  reverse: 'reversed frequency',
  user: 'user order',
  category: 'by category',
};

/** A row's label: a permutation's LoRA names; a rule's caption, then its LoRAs once known. */
export function comparisonRowLabel(kind: ComparisonRow['kind'], names: readonly string[] | null): string {
  if (kind === 'permutation') return (names ?? []).join(', ');
  const caption = RULE_CAPTIONS[kind];
  return names && names.length > 0 ? `${caption}: ${names.join(', ')}` : caption;
}

function factorial(n: number): number {
  return n <= 1 ? 1 : n * factorial(n - 1);
}

/**
 * Rows, columns and one request per cell, or a one-line error naming what to change: no method,
 * an ordering comparison with fewer than 2 LoRAs, `all` with more than 4, more than 24 cells, a
 * method that needs regions. `labels` are the stack's LoRA names as the user knows them.
 */
export function planComparison(request: AppComparisonRequest, labels: readonly string[]): ComparisonPlan {
  const { settings } = request;
  const n = settings.loras.length;
  const orders = [...new Set(request.orders)];
  const methodNames = new Set<string>();
  const columns: ComparisonColumn[] = [];
  for (const m of request.methods) {
    const method = findMethod(m.name);
    if (method.regional) {
      throw new ChordError('BAD_ARGUMENT', `${method.label} needs regions, which a comparison does not draw.`, 'Choose the other methods.');
    }
    if (methodNames.has(method.name)) continue;
    methodNames.add(method.name);
    columns.push({ method: method.name, label: method.label, options: resolveMethodOptions(method, m.options) });
  }
  if (columns.length === 0) throw new ChordError('BAD_ARGUMENT', 'No method is chosen to compare.', 'Tick at least one method.');
  if (n === 0) throw new ChordError('BAD_ARGUMENT', 'The stack is empty: a comparison composes the LoRAs in the stack.', 'Add LoRAs to the stack first.');
  if (orders.length > 0 && n < 2) {
    throw new ChordError('BAD_ARGUMENT', `An ordering comparison needs at least 2 LoRAs in the stack (it has ${n}).`, 'Add another LoRA, or untick the orderings to compare methods only.');
  }
  if (orders.includes('all') && n > MAX_PERMUTED_LORAS) {
    throw new ChordError(
      'BAD_ARGUMENT',
      `Every permutation of ${n} LoRAs would be ${factorial(n)} rows; it works up to ${MAX_PERMUTED_LORAS} LoRAs (${factorial(MAX_PERMUTED_LORAS)} rows).`,
      'Untick "every permutation" and choose the orderings instead.',
    );
  }
  const names = settings.loras.map((l) => engineLoraName(l.path));
  if (orders.includes('all') && new Set(names).size < n) {
    throw new ChordError('BAD_ARGUMENT', `Two LoRAs in the stack have the same file name (${names.join(', ')}); a permutation names them by file.`, 'Rename one of the files, or untick "every permutation".');
  }
  // orders are checked above in the app's words; planCompare only expands them (all: permutations)
  const planned = orders.length > 0 ? planCompare(n, orders.join(','), columns.map((c) => c.method).join(',')).rows : [{ kind: 'rule' as const, rule: 'user' }];
  const cells = planned.length * columns.length;
  if (cells > MAX_COMPARE_CELLS) {
    throw new ChordError(
      'BAD_ARGUMENT',
      `This comparison would make ${cells} images (${planned.length} orderings x ${columns.length} methods); at most ${MAX_COMPARE_CELLS}.`,
      'Choose fewer orderings or methods.',
    );
  }
  const rows: ComparisonRow[] = planned.map((row) => {
    if (row.kind === 'permutation') {
      const rowNames = row.order.map((k) => labels[k]);
      return { kind: 'permutation', order: rowOrder(row, names), names: rowNames, label: comparisonRowLabel('permutation', rowNames) };
    }
    const kind = row.rule as Exclude<ComparisonRow['kind'], 'permutation'>;
    // the user order is the stack's: known now; the others once the engine has resolved them
    const rowNames = kind === 'user' ? [...labels] : null;
    return { kind, order: row.rule, names: rowNames, label: comparisonRowLabel(kind, rowNames) };
  });
  const requests = rows.flatMap((row) =>
    columns.map((column) => ({
      ...settings,
      loras: settings.loras.map((l) => ({ ...l })),
      batchCount: 1,
      method: { name: column.method, options: { ...column.options } },
      order: row.order,
    })),
  );
  return { rows, columns, requests };
}

export type CellOutcome = { state: 'done'; image: string; order: string[] | null } | { state: 'failed'; error: string } | { state: 'cancelled' };

/**
 * Marks the pending cell of `jobId` done, failed or cancelled; a rule row learns its LoRAs from
 * its first image. Returns the comparison changed, or undefined when no pending cell has that job.
 */
export function settleCell(comparison: StoredComparison, jobId: string, outcome: CellOutcome): StoredComparison | undefined {
  const index = comparison.cells.findIndex((c) => c.jobId === jobId && c.state === 'pending');
  if (index < 0) return undefined;
  const cells = comparison.cells.map((c, i) => {
    if (i !== index) return c;
    if (outcome.state === 'done') return { ...c, state: 'done' as const, image: outcome.image, order: outcome.order, error: null };
    return { ...c, state: outcome.state, error: outcome.state === 'failed' ? outcome.error : 'Cancelled.' };
  });
  const cell = cells[index];
  const rows = comparison.rows.map((row, r) => {
    if (r !== cell.row || row.names || !cell.order) return row;
    return { ...row, names: cell.order, label: comparisonRowLabel(row.kind, cell.order) };
  });
  return { ...comparison, cells, rows };
}

/** Cells whose job is gone from the queue (e.g. the queue file was lost) fail instead of waiting forever. */
export function settleLostCells(comparison: StoredComparison, queued: ReadonlySet<string>): StoredComparison {
  let out = comparison;
  for (const c of comparison.cells) {
    if (c.state === 'pending' && !queued.has(c.jobId)) {
      out = settleCell(out, c.jobId, { state: 'failed', error: 'Its job was no longer in the queue when Chord started.' }) ?? out;
    }
  }
  return out;
}

function isStoredComparison(x: unknown): x is StoredComparison {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  return typeof o.id === 'string' && Array.isArray(o.rows) && Array.isArray(o.columns) && Array.isArray(o.cells) && typeof o.settings === 'object' && o.settings !== null;
}

/** Exported grid files: `compare-<id>.png`, nothing else. */
const GRID_NAME = /^compare-[\w-]{1,100}\.png$/;

export interface ComparisonsOptions {
  dataDir: string;
  gallery: Gallery;
  findLora: LoraLookup;
  /** the URL of an exported grid, where the host serves them */
  gridUrl?: (name: string) => string;
  /** tells the windows (through the studio's job events) */
  emit: (event: JobEvent) => void;
  onWarning?: (message: string) => void;
}

/** Hands validated requests to the queue: all are queued or none; `beforeQueued` sees the job ids first. */
export type QueueJobs = (requests: AppGenerateRequest[], beforeQueued: (jobIds: string[]) => Promise<void>) => Promise<string[]>;

export class Comparisons {
  /** newest first */
  private items: StoredComparison[] = [];
  private readonly file: JsonFile<{ comparisons: StoredComparison[] }>;
  readonly dir: string;
  /** job events are handled one at a time, in order: an image's record is read before its job's `done` */
  private handling: Promise<void> = Promise.resolve();

  constructor(private readonly options: ComparisonsOptions) {
    this.file = new JsonFile(join(options.dataDir, 'comparisons.json'));
    this.dir = resolve(options.dataDir, 'comparisons');
  }

  /** Reads the saved comparisons; cells whose job is no longer queued fail. */
  async load(queuedJobIds: readonly string[]): Promise<void> {
    const saved = await readJsonFile(
      this.file.path,
      (x) => {
        const list = (x as { comparisons?: unknown } | null)?.comparisons;
        return Array.isArray(list) ? { comparisons: list.filter(isStoredComparison) } : undefined;
      },
      { comparisons: [] },
      this.options.onWarning,
    );
    const queued = new Set(queuedJobIds);
    this.items = saved.comparisons.map((c) => settleLostCells(c, queued));
    if (this.items.some((c, i) => c !== saved.comparisons[i])) await this.save();
  }

  private save(): Promise<void> {
    return this.file.write({ comparisons: this.items });
  }

  /** The file of an exported grid, or undefined when `name` is not one (the one gate for serving them). */
  fileOf(name: string): string | undefined {
    if (typeof name !== 'string' || !GRID_NAME.test(name)) return undefined;
    const file = resolve(this.dir, name);
    return file.startsWith(this.dir + sep) ? file : undefined;
  }

  async start(request: AppComparisonRequest, labels: readonly string[], queue: QueueJobs): Promise<Comparison> {
    const plan = planComparison(request, labels);
    // one seed for every cell, so only the ordering and the method differ
    const seed = request.settings.seed ?? randomInt(0, 2 ** 32);
    let made: StoredComparison | undefined;
    await queue(
      plan.requests.map((r) => ({ ...r, seed })),
      async (jobIds) => {
        made = {
          id: randomUUID(),
          createdAt: Date.now(),
          settings: { ...request.settings, loras: request.settings.loras.map((l) => ({ ...l })), seed },
          loras: [...labels],
          rows: plan.rows,
          columns: plan.columns,
          cells: jobIds.map((jobId, i) => ({ row: Math.floor(i / plan.columns.length), column: i % plan.columns.length, jobId, state: 'pending', image: null, order: null, error: null })),
          grid: null,
        };
        // saved before the jobs are queued: no cell's event can come before its comparison exists
        this.items.unshift(made);
        await this.save();
      },
    );
    if (!made) throw new ChordError('RUNTIME', 'The comparison was not queued.');
    return this.toWire(made);
  }

  async list(): Promise<Comparison[]> {
    return Promise.all(this.items.map((c) => this.toWire(c)));
  }

  async delete(id: string): Promise<void> {
    const found = this.items.find((c) => c.id === id);
    if (!found) return;
    this.items = this.items.filter((c) => c !== found);
    await this.save();
    const grid = found.grid && this.fileOf(found.grid.name);
    if (grid) await rm(grid, { force: true });
  }

  /** Feeds the queue's events in; the cells they finish are saved and sent to the windows. */
  onJobEvent(event: JobEvent): void {
    if (event.type !== 'image' && event.type !== 'failed' && event.type !== 'cancelled' && event.type !== 'done') return;
    if (!this.items.some((c) => c.cells.some((cell) => cell.jobId === event.jobId && cell.state === 'pending'))) return;
    this.handling = this.handling
      .then(() => this.handle(event))
      .catch((e: unknown) => this.options.onWarning?.(`A comparison could not be updated: ${(e as Error)?.message ?? String(e)}`));
  }

  private async handle(event: JobEvent): Promise<void> {
    let outcome: CellOutcome;
    let jobId: string;
    switch (event.type) {
      case 'image':
        jobId = event.jobId;
        outcome = { state: 'done', image: event.item.name, order: await recordedOrder(event.item.file) };
        break;
      case 'failed':
        jobId = event.jobId;
        outcome = { state: 'failed', error: event.error.hint ? `${event.error.message} ${event.error.hint}` : event.error.message };
        break;
      case 'cancelled':
        jobId = event.jobId;
        outcome = { state: 'cancelled' };
        break;
      case 'done':
        // done without an image event: the file was made but could not be read back
        jobId = event.jobId;
        outcome = { state: 'failed', error: 'The image was made but Chord could not read it back from the gallery.' };
        break;
      default:
        return;
    }
    const i = this.items.findIndex((c) => c.cells.some((cell) => cell.jobId === jobId));
    if (i < 0) return;
    const changed = settleCell(this.items[i], jobId, outcome);
    if (!changed) return;
    this.items[i] = changed;
    await this.save();
    this.options.emit({ type: 'comparison', comparison: await this.toWire(changed) });
  }

  /**
   * Composes the cells into one labelled PNG (compare/grid.ts: its layout gives the size), saved as
   * comparisons/compare-<id>.png. Every cell must be settled; a failed, cancelled or deleted cell
   * is drawn as a grey square saying so.
   */
  async export(id: string): Promise<ComparisonGrid> {
    const i = this.items.findIndex((c) => c.id === id);
    if (i < 0) throw new ChordError('FILE_NOT_FOUND', 'This comparison is not there any more.', 'Start it again.');
    const c = this.items[i];
    const pending = c.cells.filter((cell) => cell.state === 'pending').length;
    if (pending > 0) {
      throw new ChordError('BAD_ARGUMENT', `${pending} of ${c.cells.length} cells are still being made.`, 'Export the grid when the queue has made them (or cancel them).');
    }
    const files = c.cells.map((cell) => (cell.state === 'done' && cell.image ? this.options.gallery.fileOf(cell.image) : undefined));
    const sizes = await Promise.all(files.map((f) => (f ? sharp(f).metadata().then((m) => ({ width: m.width, height: m.height }), () => undefined) : undefined)));
    const first = sizes.find((s) => s !== undefined);
    if (!first) throw new ChordError('BAD_ARGUMENT', 'No cell of this comparison has an image to put in a grid.', 'Start the comparison again.');
    const scale = cellScale(first.width);
    const cellWidth = first.width * scale;
    const cellHeight = first.height * scale;
    const layout = gridLayout({ rowLabels: c.rows.map((r) => r.label), columnLabels: c.columns.map((col) => col.label), cellWidth, cellHeight });
    const inputs: (string | Buffer)[][] = c.rows.map(() => []);
    for (const [k, cell] of c.cells.entries()) {
      const file = files[k];
      const why = cell.state === 'done' ? 'deleted' : cell.state;
      inputs[cell.row][cell.column] = file && sizes[k] ? file : await missingCell(cellWidth, cellHeight, why);
    }
    const name = `compare-${c.id}.png`;
    await writeGrid(join(this.dir, name), layout, inputs);
    const grid: StoredGrid = { name, width: layout.width, height: layout.height, cellWidth, cellHeight };
    this.items[i] = { ...c, grid };
    await this.save();
    const wire = await this.toWire(this.items[i]);
    this.options.emit({ type: 'comparison', comparison: wire });
    if (!wire.grid) throw new ChordError('RUNTIME', 'The grid was written but could not be found.');
    return wire.grid;
  }

  private async toWire(c: StoredComparison): Promise<Comparison> {
    const cells = await Promise.all(
      c.cells.map(async (cell) => ({ ...cell, image: cell.image ? ((await this.options.gallery.item(cell.image, this.options.findLora)) ?? null) : null })),
    );
    const gridFile = c.grid ? this.fileOf(c.grid.name) : undefined;
    const grid = c.grid && gridFile ? { ...c.grid, file: gridFile, url: this.options.gridUrl?.(c.grid.name) ?? null } : null;
    return { ...c, cells, grid };
  }
}

/** The LoRA names in the order the method took them, from the image's Chord record. */
async function recordedOrder(file: string): Promise<string[] | null> {
  try {
    const record = (await readImageInfo(file)).chord;
    return record ? record.ordering.order.map((k) => record.loras[k]?.name ?? '?') : null;
  } catch {
    return null;
  }
}

/** A grey cell saying why it has no image, at the cell's size (so the grid keeps its layout). */
async function missingCell(width: number, height: number, why: string): Promise<Buffer> {
  const size = Math.max(8, Math.round(width / 9));
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="#d9d9de"/><text x="50%" y="50%" text-anchor="middle" dominant-baseline="central" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif" font-size="${size}" fill="#555">${why}</text></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}
