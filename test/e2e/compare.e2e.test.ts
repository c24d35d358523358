/**
 * The compare view in Chromium against `chord serve`: one-line refusals for bad choices, an
 * ordering grid of 3 LoRAs (every permutation: 6 cells, one method) made through the queue and
 * filling in, a cell opened and its settings reused, the grid exported as one PNG whose size is
 * the grid layout's, and the comparison still there after a reload. Screens go to
 * test-results/app/ (compare.png is the one in docs/images/app/).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gridLayout } from '../../src/engine/compare/grid';
import type { Comparison, Reply } from '../../src/shared/api';
import { appContext, dropFiles, HAVE_CHROMIUM, launchChromium, loraFile, openApp, serve, type Served, shot, SHOTS, tempFolders } from './harness';

/** Few steps keep the test short; CHORD_E2E_COMPARE_STEPS=20 makes the grid for the docs' screenshot. */
const STEPS = Number(process.env.CHORD_E2E_COMPARE_STEPS ?? 4);

describe.skipIf(!HAVE_CHROMIUM)('the compare view in Chromium against chord serve', () => {
  const folders = tempFolders();
  let server: Served;
  let browser: Browser;
  let page: Page;

  const api = async <T>(method: string, args: unknown[] = []): Promise<T> => {
    const reply = (await (await fetch(new URL(`/api/${method}`, server.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(args) })).json()) as Reply<T>;
    if (!reply.ok) throw new Error(reply.error.message);
    return reply.value;
  };
  const region = (name: string) => page.getByRole('region', { name, exact: true });
  const problem = () => region('Compare').getByRole('alert');
  const tick = async (label: string, on: boolean) => region('Compare').getByLabel(label, { exact: true }).setChecked(on);
  const startButton = () => region('Compare').getByRole('button', { name: /^Compare · / });
  const doneCells = () => page.getByRole('table', { name: 'Comparison grid' }).locator('button[data-state="done"] img');

  beforeAll(async () => {
    server = await serve(folders.dataDir, folders.cacheDir);
    browser = await launchChromium();
    page = await openApp(await appContext(browser), server.url);
    await dropFiles(page, '.window', [loraFile('zorb'), loraFile('hat'), loraFile('sunset')]);
    await region('LoRA library').getByRole('listitem', { name: 'LoRA sunset' }).waitFor();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    folders.cleanup();
  });

  it('refuses bad choices in one line, before anything is queued', async () => {
    await page.getByRole('tab', { name: 'Compare' }).click();
    await startButton().click();
    await expect.poll(() => problem().textContent()).toMatch(/^The stack is empty: a comparison composes the LoRAs in the stack\. Add LoRAs to the stack first\.$/);

    await region('LoRA library').getByRole('button', { name: 'Add zorb to the stack' }).click();
    await startButton().click();
    await expect.poll(() => problem().textContent()).toBe('An ordering comparison needs at least 2 LoRAs in the stack (it has 1). Add another LoRA, or untick the orderings to compare methods only.');

    for (const name of ['hat', 'sunset']) await region('LoRA library').getByRole('button', { name: `Add ${name} to the stack` }).click();
    for (const o of ['frequency', 'reversed', 'user order', 'category', 'all permutations']) await tick(`Compare ordering: ${o}`, true);
    for (const m of ['Merge', 'Switch', 'Composite']) await tick(`Compare method: ${m}`, true);
    expect(await startButton().textContent()).toMatch(/Compare · 30 images/);
    await startButton().click();
    await expect.poll(() => problem().textContent()).toBe('This comparison would make 30 images (10 orderings x 3 methods); at most 24. Choose fewer orderings or methods.');

    for (const m of ['Merge', 'Switch', 'Composite']) await tick(`Compare method: ${m}`, false);
    await startButton().click();
    await expect.poll(() => problem().textContent()).toBe('No method is chosen to compare. Tick at least one method.');
    expect(await api<unknown[]>('listQueue')).toEqual([]);
    expect(await api<unknown[]>('listComparisons')).toEqual([]);
  });

  it('makes every permutation of 3 LoRAs through the queue; the grid fills in, and exports as one PNG of the layout size', async () => {
    // the stack's method and its option are the column (Switch at every step: the order shows)
    await page.getByRole('tab', { name: 'Generate' }).click();
    await page.getByRole('textbox', { name: 'Prompt', exact: true }).fill('');
    await region('LoRA stack').getByRole('button', { name: 'Insert trigger words' }).click();
    await region('Generation settings').getByLabel('Steps', { exact: true }).fill(String(STEPS));
    await region('LoRA stack').getByLabel('Composition method').selectOption('switch');
    await region('LoRA stack').getByLabel(/^Switch option tau/).fill('1');
    await page.getByRole('tab', { name: 'Compare' }).click();
    for (const o of ['frequency', 'reversed', 'user order', 'category']) await tick(`Compare ordering: ${o}`, false);
    await tick('Compare method: Switch', true);
    await region('Compare').getByLabel('Seed of every cell').fill('7');
    expect(await startButton().textContent()).toMatch(/Compare · 6 images/);
    const started = Date.now();
    await startButton().click();

    // each cell is a job in the queue, cancellable there
    await expect.poll(async () => region('Queue').locator('li').count()).toBeGreaterThan(0);
    expect(await region('Queue').getByRole('button', { name: /^Cancel job 1$/ }).count()).toBe(1);
    const table = page.getByRole('table', { name: 'Comparison grid' });
    expect(await table.locator('th[scope="col"]').allTextContents()).toEqual(['ordering ↓ · method →', 'Switch']);
    expect(await table.locator('th[scope="row"] .names').allTextContents()).toEqual([
      'zorb → hat → sunset',
      'zorb → sunset → hat',
      'hat → zorb → sunset',
      'hat → sunset → zorb',
      'sunset → zorb → hat',
      'sunset → hat → zorb',
    ]);
    await expect.poll(() => doneCells().count(), { timeout: 90_000 }).toBe(6);
    const seconds = (Date.now() - started) / 1000;
    expect(await page.getByTestId('compare-tally').textContent()).toBe('6 of 6 made');
    await expect.poll(async () => region('Queue').locator('li').count()).toBe(0);
    // every image loaded
    await expect.poll(() => doneCells().evaluateAll((imgs) => imgs.filter((i) => (i as HTMLImageElement).naturalWidth === 64).length)).toBe(6);

    const [comparison] = await api<Comparison[]>('listComparisons');
    expect(comparison.settings.seed).toBe(7);
    expect(comparison.cells.map((c) => c.order?.join(','))).toEqual(comparison.rows.map((r) => r.order));

    // open a cell: the image large with its settings
    await table.getByRole('button', { name: 'Open hat, sunset, zorb with Switch' }).click();
    const detail = region('Comparison cell');
    await expect.poll(() => detail.getByTestId('cell-settings').textContent()).toMatch(new RegExp(`Switch \\(tau 1\\) · order hat → sunset → zorb.*seed 7 · ${STEPS} steps · cfg 7`, 's'));
    expect(await detail.getByTestId('cell-settings').textContent()).toMatch(/cfg 7 · euler_a · 64×64.*LoRAs: zorb 1, hat 1, sunset 1/s);

    // export: one PNG made by the engine, its size the grid layout's
    await region('Compare').getByRole('button', { name: 'Export grid' }).click();
    const exported = page.getByTestId('grid-export');
    await exported.waitFor();
    const href = (await exported.getByRole('link', { name: 'Download PNG' }).getAttribute('href')) as string;
    expect(href).toBe(`/comparisons/compare-${comparison.id}.png`);
    const png = Buffer.from(await (await fetch(new URL(href, server.url))).arrayBuffer());
    const meta = await sharp(png).metadata();
    const layout = gridLayout({ rowLabels: comparison.rows.map((r) => r.label), columnLabels: ['Switch'], cellWidth: 128, cellHeight: 128 });
    expect([meta.format, meta.width, meta.height]).toEqual(['png', layout.width, layout.height]);
    expect(await exported.textContent()).toContain(`grid ${layout.width}×${layout.height}`);
    expect(existsSync(join(folders.dataDir, 'comparisons', `compare-${comparison.id}.png`))).toBe(true);
    // the route serves grids only
    expect((await fetch(new URL('/comparisons/..%2Fqueue.json', server.url))).status).toBe(404);
    expect((await fetch(new URL('/comparisons/compare-x.png', server.url))).status).toBe(404);
    mkdirSync(SHOTS, { recursive: true });
    writeFileSync(join(SHOTS, 'compare-grid.png'), png);
    await shot(page, 'compare');
    await page.getByRole('button', { name: 'Switch to light theme' }).click();
    await shot(page, 'compare-light');
    await page.getByRole('button', { name: 'Switch to dark theme' }).click();
    console.log(`compare e2e: 6 cells of ${STEPS} steps made and shown in ${seconds.toFixed(1)} s`);
  });

  it('keeps the comparison across a reload, and reuses a cell\'s settings', async () => {
    await page.reload();
    await page.getByRole('status').getByText('Ready.').waitFor();
    // the view and the comparison come back
    await expect.poll(() => doneCells().count()).toBe(6);
    await page.getByRole('table', { name: 'Comparison grid' }).getByRole('button', { name: 'Open sunset, zorb, hat with Switch' }).click();
    await region('Comparison cell').getByRole('button', { name: 'Reuse settings' }).click();
    expect(await page.getByRole('tab', { name: 'Generate' }).getAttribute('aria-selected')).toBe('true');
    expect(await region('Generation settings').getByLabel('Seed', { exact: true }).inputValue()).toBe('7');
    expect(await region('LoRA stack').getByLabel('Composition method').inputValue()).toBe('switch');
    // the stack takes the cell's permutation (the app sends the stack order, so Generate remakes the cell)
    expect(await region('LoRA stack').locator('[data-stack-item]').evaluateAll((els) => els.map((e) => e.getAttribute('data-stack-item')))).toEqual(['sunset', 'zorb', 'hat']);
    await expect.poll(() => page.getByRole('status').textContent()).toMatch(/Settings of .*\.png restored\./);
  });
});
