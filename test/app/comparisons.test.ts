/**
 * The compare view's host side: planning a comparison (rows x methods, the app's one-line refusals),
 * settling cells from the queue's events, and a studio with a stand-in engine that queues every
 * cell as a job, fills the grid in, keeps a failed cell's reason, survives a restart in
 * comparisons.json and exports a grid PNG whose size is the grid layout's.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { app, ChordError, type GenerateRequest, type GenerateResult, type ProfileResult } from '../../src/engine';
import { gridLayout } from '../../src/engine/compare/grid';
import { comparisonRowLabel, engineLoraName, planComparison, settleCell, settleLostCells, type StoredComparison } from '../../src/engine/jobs/comparisons';
import { createDispatcher, type ApiHost } from '../../src/shared/dispatch';

const MODEL = resolve(import.meta.dirname, '../../models/glyph-sd');
const LORAS = resolve(MODEL, 'loras');
const lora = (name: string) => ({ path: join(LORAS, `${name}.safetensors`), weight: 1 });

const settings = (names: string[]): app.AppComparisonRequest['settings'] => ({
  prompt: 'zorb hatz',
  negativePrompt: '',
  model: MODEL,
  loras: names.map(lora),
  steps: 4,
  cfg: 7,
  sampler: 'euler_a',
  provider: 'cpu',
});

function refusal(work: () => unknown): string {
  try {
    work();
  } catch (e) {
    if (e instanceof ChordError) return e.message;
    throw e;
  }
  throw new Error('not refused');
}

describe('planComparison', () => {
  it('makes every permutation of 3 LoRAs a row, labelled by the LoRAs in order and queued with that order', () => {
    const plan = planComparison({ settings: settings(['zorb', 'hat', 'sunset']), orders: ['all'], methods: [{ name: 'merge' }] }, ['Zorb', 'Hat', 'Sunset']);
    expect(plan.rows.map((r) => r.label)).toEqual(['Zorb, Hat, Sunset', 'Zorb, Sunset, Hat', 'Hat, Zorb, Sunset', 'Hat, Sunset, Zorb', 'Sunset, Zorb, Hat', 'Sunset, Hat, Zorb']);
    // the engine knows the LoRAs by file name
    expect(plan.requests.map((r) => r.order)).toEqual(['zorb,hat,sunset', 'zorb,sunset,hat', 'hat,zorb,sunset', 'hat,sunset,zorb', 'sunset,zorb,hat', 'sunset,hat,zorb']);
    expect(plan.columns).toEqual([{ method: 'merge', label: 'Merge', options: {} }]);
    expect(plan.requests.every((r) => r.batchCount === 1 && r.method.name === 'merge' && r.steps === 4)).toBe(true);
  });

  it('puts rule rows x methods in row-major order; the user order is labelled at once, freq once made', () => {
    const plan = planComparison({ settings: settings(['zorb', 'hat']), orders: ['freq', 'user'], methods: [{ name: 'switch', options: { tau: 2 } }, { name: 'cmlora' }, { name: 'switch' }] }, ['zorb', 'hat']);
    expect(plan.rows.map((r) => [r.kind, r.order, r.label])).toEqual([
      ['freq', 'freq', 'frequency order'],
      ['user', 'user', 'user order: zorb, hat'],
    ]);
    // a method listed twice is one column; options are completed with the defaults
    expect(plan.columns.map((c) => c.label)).toEqual(['Switch', 'CMLoRA']);
    expect(plan.columns[0].options).toEqual({ tau: 2 });
    expect(plan.columns[1].options).toEqual({ c1: 2, c2: 3, cache: true });
    expect(plan.requests.map((r) => `${r.order}/${r.method.name}`)).toEqual(['freq/switch', 'freq/cmlora', 'user/switch', 'user/cmlora']);
  });

  it('compares methods only in the stack order, with one LoRA too', () => {
    const plan = planComparison({ settings: settings(['zorb']), orders: [], methods: [{ name: 'merge' }, { name: 'composite' }] }, ['zorb']);
    expect(plan.rows.map((r) => r.label)).toEqual(['user order: zorb']);
    expect(plan.requests).toHaveLength(2);
  });

  it('refuses in one line: no method, too few LoRAs to order, too many cells, too many to permute, regions', () => {
    expect(refusal(() => planComparison({ settings: settings(['zorb', 'hat']), orders: ['all'], methods: [] }, ['zorb', 'hat']))).toBe('No method is chosen to compare.');
    expect(refusal(() => planComparison({ settings: settings(['zorb']), orders: ['freq', 'reverse'], methods: [{ name: 'merge' }] }, ['zorb']))).toBe(
      'An ordering comparison needs at least 2 LoRAs in the stack (it has 1).',
    );
    expect(refusal(() => planComparison({ settings: settings([]), orders: [], methods: [{ name: 'merge' }] }, []))).toMatch(/^The stack is empty/);
    expect(refusal(() => planComparison({ settings: settings(['zorb', 'hat', 'sunset', 'ball']), orders: ['all', 'freq'], methods: [{ name: 'merge' }] }, ['zorb', 'hat', 'sunset', 'ball']))).toBe(
      'This comparison would make 25 images (25 orderings x 1 methods); at most 24.',
    );
    expect(refusal(() => planComparison({ settings: settings(['zorb', 'hat', 'sunset', 'ball', 'cube']), orders: ['all'], methods: [{ name: 'merge' }] }, ['a', 'b', 'c', 'd', 'e']))).toMatch(
      /^Every permutation of 5 LoRAs would be 120 rows; it works up to 4 LoRAs/,
    );
    expect(refusal(() => planComparison({ settings: settings(['zorb', 'hat']), orders: ['user'], methods: [{ name: 'regional' }] }, ['zorb', 'hat']))).toMatch(/needs regions/);
    expect(refusal(() => planComparison({ settings: settings(['zorb', 'hat']), orders: ['user'], methods: [{ name: 'nope' }] }, ['zorb', 'hat']))).toMatch(/^Unknown composition method "nope"/);
  });

  it('names LoRAs the way the engine does', () => {
    expect(engineLoraName('/a/b/zorb.safetensors')).toBe('zorb');
    expect(engineLoraName('C:\\x\\peft-adapter\\')).toBe('peft-adapter');
    expect(comparisonRowLabel('reverse', ['b', 'a'])).toBe('reversed frequency: b, a');
  });
});

describe('settleCell', () => {
  const base = (): StoredComparison => ({
    id: 'c1',
    createdAt: 0,
    settings: { ...settings(['zorb', 'hat']), seed: 3 },
    loras: ['zorb', 'hat'],
    rows: [{ kind: 'freq', order: 'freq', names: null, label: 'frequency order' }],
    columns: [
      { method: 'merge', label: 'Merge', options: {} },
      { method: 'switch', label: 'Switch', options: { tau: 5 } },
    ],
    cells: [
      { row: 0, column: 0, jobId: 'j1', state: 'pending', image: null, order: null, error: null },
      { row: 0, column: 1, jobId: 'j2', state: 'pending', image: null, order: null, error: null },
    ],
    grid: null,
  });

  it('fills a cell in with its image, and a rule row learns its order from it', () => {
    const c = settleCell(base(), 'j2', { state: 'done', image: '00001-3.png', order: ['hat', 'zorb'] });
    expect(c?.cells[1]).toMatchObject({ state: 'done', image: '00001-3.png', order: ['hat', 'zorb'] });
    expect(c?.cells[0].state).toBe('pending');
    expect(c?.rows[0].label).toBe('frequency order: hat, zorb');
  });

  it('keeps a failed cell\'s reason and leaves the others; unknown or settled jobs change nothing', () => {
    const c = settleCell(base(), 'j1', { state: 'failed', error: 'The engine stopped.' }) as StoredComparison;
    expect(c.cells[0]).toMatchObject({ state: 'failed', error: 'The engine stopped.' });
    expect(c.cells[1].state).toBe('pending');
    expect(settleCell(c, 'j1', { state: 'cancelled' })).toBeUndefined();
    expect(settleCell(c, 'nope', { state: 'cancelled' })).toBeUndefined();
    expect(settleCell(c, 'j2', { state: 'cancelled' })?.cells[1]).toMatchObject({ state: 'cancelled', error: 'Cancelled.' });
  });

  it('fails cells whose job is no longer queued', () => {
    const c = settleLostCells(base(), new Set(['j2']));
    expect(c.cells.map((x) => x.state)).toEqual(['failed', 'pending']);
  });
});

/** An engine that writes a small flat PNG per request (or fails the ones asked to). */
class PaintingEngine implements app.EngineRunner {
  requests: GenerateRequest[] = [];
  async profile(): Promise<ProfileResult> {
    throw new Error('comparisons measure nothing (test/server/spectra.test.ts covers profiles)');
  }
  failOrders = new Set<string>();

  async generate(request: GenerateRequest): Promise<GenerateResult> {
    this.requests.push(request);
    if (request.order && this.failOrders.has(request.order)) throw new ChordError('RUNTIME', `Cannot make ${request.order}.`, 'Try again.');
    const dir = request.output && 'dir' in request.output ? request.output.dir : '.';
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${String(this.requests.length).padStart(5, '0')}-${request.seed}.png`);
    await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: this.requests.length * 30, g: 90, b: 140 } } }).png().toFile(file);
    return { images: [{ file, width: 64, height: 64 }] } as unknown as GenerateResult;
  }
  async close(): Promise<void> {}
}

describe('comparisons in the studio', () => {
  const roots: string[] = [];
  afterAll(() => {
    for (const r of roots) rmSync(r, { recursive: true, force: true });
  });
  const make = (dir: string, engine: app.EngineRunner) =>
    new app.Studio({ version: '0', dataDir: dir, bundledModelsDirs: [], engine, urls: { image: (n) => `/images/${n}`, loraPreview: (id) => `/p/${id}`, comparison: (n) => `/comparisons/${n}` }, providers: async () => ['cpu'] });

  it('queues every cell as a job with its order, fills the grid in, keeps going past a failed cell, and exports the grid', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chord-compare-'));
    roots.push(dir);
    const engine = new PaintingEngine();
    engine.failOrders.add('hat,sunset,zorb');
    const studio = make(dir, engine);
    await studio.start();
    const events: app.Comparison[] = [];
    const queued: number[] = [];
    studio.onJobEvent((e) => {
      if (e.type === 'comparison') events.push(e.comparison);
      if (e.type === 'queue') queued.push(e.jobs.length);
    });
    const c = await studio.startComparison({ settings: { ...settings(['zorb', 'hat', 'sunset']), seed: 11 }, orders: ['all'], methods: [{ name: 'merge' }] });
    expect(c.cells.map((x) => x.state)).toEqual(Array(6).fill('pending'));
    expect(c.settings.seed).toBe(11);
    // all six were queued at once, each a job of its own
    expect(queued[0]).toBe(6);
    await expect.poll(() => events.at(-1)?.cells.filter((x) => x.state !== 'pending').length).toBe(6);
    const last = events.at(-1) as app.Comparison;
    expect(last.cells.map((x) => x.error ?? x.state)).toEqual(['done', 'done', 'done', 'Cannot make hat,sunset,zorb. Try again.', 'done', 'done']);
    expect(last.cells[3].error).toBe('Cannot make hat,sunset,zorb. Try again.');
    expect(last.cells[0].image?.url).toMatch(/^\/images\/\d+-11\.png$/);
    expect(engine.requests.map((r) => r.order)).toEqual(['zorb,hat,sunset', 'zorb,sunset,hat', 'hat,zorb,sunset', 'hat,sunset,zorb', 'sunset,zorb,hat', 'sunset,hat,zorb']);
    expect(new Set(engine.requests.map((r) => r.seed))).toEqual(new Set([11]));

    const grid = await studio.exportComparison(c.id);
    const layout = gridLayout({ rowLabels: last.rows.map((r) => r.label), columnLabels: ['Merge'], cellWidth: 128, cellHeight: 128 });
    expect([grid.width, grid.height, grid.cellWidth]).toEqual([layout.width, layout.height, 128]);
    const meta = await sharp(grid.file).metadata();
    expect([meta.width, meta.height]).toEqual([layout.width, layout.height]);
    expect(grid.url).toBe(`/comparisons/compare-${c.id}.png`);
    expect(studio.comparisons.fileOf(grid.name)).toBe(grid.file);
    expect(studio.comparisons.fileOf('../queue.json')).toBeUndefined();
    await studio.close();

    // a restart reads comparisons.json back
    const again = make(dir, new PaintingEngine());
    await again.start();
    const [back] = await again.listComparisons();
    expect(back.id).toBe(c.id);
    expect(back.cells.map((x) => x.state)).toEqual(['done', 'done', 'done', 'failed', 'done', 'done']);
    expect(back.grid?.name).toBe(grid.name);
    expect(JSON.parse(readFileSync(join(dir, 'comparisons.json'), 'utf8')).comparisons[0].cells[0].image).toMatch(/\.png$/);
    await again.deleteComparison(c.id);
    expect(await again.listComparisons()).toEqual([]);
    expect(again.comparisons.fileOf(grid.name)).toBeDefined();
    await again.close();
  });

  it('refuses to export while cells are still being made, and a cancelled cell says so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chord-compare-'));
    roots.push(dir);
    // an engine that never finishes: the first cell runs, the second waits in the queue
    const engine: app.EngineRunner = {
      generate: () => new Promise(() => undefined),
      profile: () => Promise.reject(new Error('comparisons measure nothing')),
      close: async () => undefined,
    };
    const studio = make(dir, engine);
    await studio.start();
    const c = await studio.startComparison({ settings: settings(['zorb', 'hat']), orders: ['user'], methods: [{ name: 'merge' }, { name: 'composite' }] });
    await expect(studio.exportComparison(c.id)).rejects.toThrow('2 of 2 cells are still being made.');
    await studio.cancel(c.cells[1].jobId);
    await expect.poll(async () => (await studio.listComparisons())[0].cells[1].state).toBe('cancelled');
    expect((await studio.listQueue()).map((j) => j.jobId)).toEqual([c.cells[0].jobId]);
    await expect(studio.exportComparison('nope')).rejects.toThrow('This comparison is not there any more.');
  });
});

describe('the dispatcher on comparisons', () => {
  it('validates a comparison request before the host sees it, in one line', async () => {
    const seen: unknown[] = [];
    const host = {
      startComparison: async (r: unknown) => {
        seen.push(r);
        return { id: 'c' };
      },
      exportComparison: async (id: string) => ({ name: id }),
    } as unknown as ApiHost;
    const d = createDispatcher(host);
    const bad = await d.startComparison({ settings: { prompt: 'p', model: '/m' }, orders: ['sideways'], methods: [{ name: 'merge' }] });
    expect(bad).toEqual({ ok: false, error: { code: 'BAD_ARGUMENT', message: 'Invalid comparison: an ordering must be one of freq, reverse, user, category, all.', hint: 'Fix that setting and try again.' } });
    const ok = await d.startComparison({ settings: { prompt: 'p', model: '/m', seed: 5 }, orders: ['all'], methods: [{ name: 'switch', options: { tau: 1 } }] });
    expect(ok.ok).toBe(true);
    expect(seen[0]).toMatchObject({ settings: { prompt: 'p', seed: 5, steps: 20, loras: [] }, orders: ['all'] });
    expect(await d.exportComparison('')).toMatchObject({ ok: false, error: { message: 'Invalid comparison: comparison id is empty.' } });
  });
});
