/**
 * The step timeline and the region editor in a real browser against `chord serve`: a CMLoRA image
 * shows its cache refreshes and passes per step with its cost; two boxes drawn with the mouse, each
 * with a LoRA dropped on it, make a regional image whose record holds both regions, and Reuse
 * settings brings the boxes back. Screens go to test-results/app/.
 */
import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImageInfo } from '../../src/engine';
import { appContext, dropFiles, HAVE_CHROMIUM, launchChromium, loraFile, openApp, previewFile, serve, type Served, shot, tempFolders } from './harness';


describe.skipIf(!HAVE_CHROMIUM)('step timeline and region editor in Chromium against chord serve', () => {
  const folders = tempFolders();
  let server: Served;
  let browser: Browser;
  let page: Page;

  const settings = () => page.getByRole('region', { name: 'Generation settings' });
  const setNumber = (label: string, value: number) => settings().getByLabel(label, { exact: true }).fill(String(value));
  const stack = () => page.getByRole('region', { name: 'LoRA stack' });
  const library = () => page.getByRole('region', { name: 'LoRA library' });
  const galleryCount = () => page.getByRole('region', { name: 'Gallery' }).locator('ul.grid li').count();
  /** The newest image's Chord record, read from the PNG in the gallery folder. */
  const newestRecord = async () => {
    const dir = join(folders.dataDir, 'gallery');
    const newest = readdirSync(dir).filter((n) => n.endsWith('.png')).sort((a, b) => parseInt(b, 10) - parseInt(a, 10))[0];
    return (await readImageInfo(join(dir, newest))).chord;
  };

  beforeAll(async () => {
    // CMLoRA orders by the LoRAs' frequency profiles, which the engine measures once per LoRA and
    // keeps in its cache (16 seeds x 20 steps, base and LoRA: about a minute for two LoRAs on 2
    // busy cores). The cache entries of zorb and hat, as the engine measured them on glyph-sd, are
    // put in the server's cache so that the test spends its time on the timeline; the file names
    // are the engine's cache keys, so after a change to the model or the profile they no longer
    // match and the engine measures again (slower, same result).
    cpSync(join(import.meta.dirname, 'fixtures/profiles'), join(folders.cacheDir, 'spectral'), { recursive: true });
    server = await serve(folders.dataDir, folders.cacheDir);
    browser = await launchChromium();
    page = await openApp(await appContext(browser), server.url);
    await dropFiles(page, '.window', ['zorb', 'hat', 'quill'].flatMap((n) => [loraFile(n), previewFile(n)]));
    await library().getByRole('listitem', { name: 'LoRA quill' }).waitFor();
    await settings().getByLabel('Seed mode').selectOption('fixed');
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    folders.cleanup();
  });

  it('shows the step timeline of a CMLoRA image: refreshes and passes per step, its cost beside Merge', async () => {
    for (const name of ['zorb', 'hat']) await library().getByRole('button', { name: `Add ${name} to the stack` }).click();
    await stack().getByLabel('Composition method').selectOption('cmlora');
    await stack().getByLabel(/^CMLoRA option c1/).fill('2');
    await stack().getByLabel(/^CMLoRA option c2/).fill('3');
    await page.getByRole('textbox', { name: 'Prompt', exact: true }).fill('zorb, hatz');
    await setNumber('Steps', 12);
    await setNumber('Seed', 1);
    // the sampler and guidance the composition bench uses (docs/composition.md)
    await settings().getByLabel('Sampler').selectOption('ddim');
    await setNumber('CFG', 5);
    await page.getByRole('button', { name: /^Generate/ }).click();
    // (a minute or two longer when the profiles above had to be measured again)
    await expect.poll(galleryCount, { timeout: 200_000 }).toBe(1);
    const timeline = page.getByTestId('step-timeline');
    await timeline.waitFor();

    const record = await newestRecord();
    const log = record?.stepLog ?? [];
    expect(record?.method).toBe('cmlora');
    expect(log).toHaveLength(12);
    const refreshes = log.reduce((n, s) => n + s.refreshed.length, 0);
    const full = log.reduce((n, s) => n + s.full, 0);
    const shallow = log.reduce((n, s) => n + s.shallow, 0);
    expect(refreshes).toBeGreaterThan(0);
    expect(shallow).toBeGreaterThan(0);
    // one mark per refresh, the passes of every step as the record has them
    expect(await timeline.locator('[data-refresh]').count()).toBe(refreshes);
    expect(await timeline.locator('[data-full]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-full'))))).toEqual(log.map((s) => s.full));
    expect(await timeline.locator('[data-shallow]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-shallow'))))).toEqual(log.map((s) => s.shallow));
    // rows are the LoRAs in the record's order; the first step refreshes every active one
    const rows = timeline.locator('tbody tr');
    expect(await rows.locator('th').allTextContents()).toEqual([...(record?.loras.map((l) => l.name) ?? []), 'full', 'shallow']);
    expect(await rows.first().locator('td').first().textContent()).toMatch(/active.*cache refreshed/);
    // the cost: full passes + shallow ones at glyph-sd's measured share, next to Merge's one pass per step
    const equivalents = full + shallow * 0.48;
    const cost = (await page.getByTestId('timeline-cost').textContent()) ?? '';
    expect(cost).toContain(`12 steps: ${full} full + ${shallow} shallow passes, ${refreshes} cache refreshes`);
    expect(cost).toContain(`${Number.isInteger(equivalents) ? equivalents : equivalents.toFixed(1)} UNet-pass equivalents, Merge 12 (${(equivalents / 12).toFixed(2)}×)`);
    expect(await timeline.textContent()).toMatch(/counts 0\.48 of a full one \(glyph-sd UNet/);
    await shot(page, 'timeline');
    await page.getByRole('button', { name: 'Switch to light theme' }).click();
    await shot(page, 'timeline-light');
    await page.getByRole('button', { name: 'Switch to dark theme' }).click();
  }, 240_000);

  it('draws two boxes, binds a LoRA to each, makes a regional image with both regions in its record, and reuses them', async () => {
    // no global LoRAs: each LoRA is bound to a box
    const removeButtons = stack().getByRole('button', { name: /^Remove .* from the stack$/ });
    while ((await removeButtons.count()) > 0) await removeButtons.first().click();
    await stack().getByLabel('Composition method').selectOption('regional');
    // presets set the method's options; the defaults' preset shows as chosen until an option changes
    const preset = (label: string) => stack().getByRole('button', { name: new RegExp(`^Regional preset ${label}:`) });
    const option = (name: string) => stack().getByLabel(new RegExp(`^Regional option ${name}:`));
    expect(await preset('One pass a step').getAttribute('aria-pressed')).toBe('true');
    await preset('Placement first').click();
    expect([await option('warmup').inputValue(), await option('isolation').isChecked(), await option('reinit').isChecked(), await option('gate').isChecked()]).toEqual(['4', false, false, true]);
    expect([await preset('Placement first').getAttribute('aria-pressed'), await preset('One pass a step').getAttribute('aria-pressed')]).toEqual(['true', 'false']);
    await option('warmup').fill('2');
    await option('warmup').press('Tab');
    expect(await preset('Placement first').getAttribute('aria-pressed')).toBe('false');
    await preset('One pass a step').click();
    expect([await option('warmup').inputValue(), await option('isolation').isChecked(), await option('reinit').isChecked()]).toEqual(['0', true, true]);
    const editor = page.getByRole('region', { name: 'Region editor' });
    const canvas = page.getByTestId('region-canvas');
    await canvas.scrollIntoViewIfNeeded();
    const box = (await canvas.boundingBox()) as { x: number; y: number; width: number; height: number };
    const at = (fx: number, fy: number) => ({ x: box.x + fx * box.width, y: box.y + fy * box.height });
    const drag = async (from: { x: number; y: number }, to: { x: number; y: number }) => {
      await page.mouse.move(from.x, from.y);
      await page.mouse.down();
      await page.mouse.move((from.x + to.x) / 2, (from.y + to.y) / 2, { steps: 3 });
      await page.mouse.move(to.x, to.y, { steps: 3 });
      await page.mouse.up();
    };
    const edge = (region: number, name: string) => editor.getByLabel(new RegExp(`^Region ${region} ${name} `));
    const edges = async (region: number) => Promise.all(['x0', 'y0', 'x1', 'y1'].map(async (e) => Number(await edge(region, e).inputValue())));
    const alerts = () => editor.getByRole('alert').allTextContents();

    // points on the editor's 1/64 grid, so that sub-pixel mouse positions cannot change the snapping
    const g = (kx: number, ky: number) => at(kx / 64, ky / 64);
    // draw: left box, then right box (the second drawn right to left)
    await drag(g(3, 4), g(29, 60));
    await drag(g(61, 4), g(36, 60));
    await expect.poll(() => editor.locator('fieldset').count()).toBe(2);
    expect(await edges(1)).toEqual([0.047, 0.063, 0.453, 0.938]);
    expect(await edges(2)).toEqual([0.563, 0.063, 0.953, 0.938]);
    // resize region 1 by its right edge (its handles show while it is selected), to the middle
    await page.mouse.click(at(0.25, 0.5).x, at(0.25, 0.5).y);
    const handle = canvas.locator('[data-handle="e"]');
    const h = (await handle.boundingBox()) as { x: number; y: number; width: number; height: number };
    await drag({ x: h.x + h.width / 2, y: h.y + h.height / 2 }, at(0.5, 0.5));
    expect((await edges(1))[2]).toBe(0.5);
    // move region 2 onto region 1: flagged, and Generate refuses it in one line
    await drag(g(48, 32), g(42, 32));
    expect(await edges(2)).toEqual([0.469, 0.063, 0.859, 0.938]);
    expect(await alerts()).toEqual(['Regions 1 and 2 overlap: move or resize one (boxes may touch but not overlap).']);
    await page.getByRole('button', { name: /^Generate/ }).click();
    expect(await page.getByRole('status').textContent()).toMatch(/Regions 1 and 2 overlap/);
    // the keyboard way: exact edges in the fields
    await edge(2, 'x1').fill('1');
    await edge(2, 'x1').press('Tab');
    await edge(2, 'x0').fill('0.5');
    await edge(2, 'x0').press('Tab');
    expect(await edges(2)).toEqual([0.5, 0.063, 1, 0.938]);
    expect(await alerts()).toEqual([]);
    // no room left for a box placed by the keyboard: said so
    await editor.getByRole('button', { name: 'Add box' }).click();
    expect(await alerts()).toEqual(['No free place for a new box: draw it by dragging, or make room first.']);

    // bind: drop the zorb card on the left box, choose quill for the right one from the list
    await library().getByRole('listitem', { name: 'LoRA zorb' }).dragTo(canvas, { targetPosition: { x: 0.25 * box.width, y: 0.5 * box.height } });
    await editor.getByLabel('Bind a LoRA to region 2').selectOption({ label: 'quill' });
    await expect.poll(() => editor.locator('[data-bound]').evaluateAll((els) => els.map((e) => e.getAttribute('data-bound')))).toEqual(['zorb', 'quill']);
    await editor.getByLabel('Weight of quill in region 2').fill('0.9');
    await editor.getByLabel('Weight of quill in region 2').press('Tab');
    await editor.getByLabel('Prompt of region 1', { exact: true }).fill('zorb on the left');
    await editor.getByLabel('Prompt of region 2', { exact: true }).fill('quill on the right');
    await editor.getByLabel('Negative prompt of region 2').fill('blurry');
    await page.getByRole('textbox', { name: 'Prompt', exact: true }).fill('gray background');
    // few steps keep the test short; CHORD_E2E_REGIONS_STEPS=20 makes the image of the docs' screenshot
    await setNumber('Steps', Number(process.env.CHORD_E2E_REGIONS_STEPS ?? 4));
    await setNumber('Seed', 11);
    const before = await galleryCount();
    await page.getByRole('button', { name: /^Generate/ }).click();
    await expect.poll(galleryCount, { timeout: 60_000 }).toBe(before + 1);

    const record = await newestRecord();
    expect(record?.method).toBe('regional');
    expect(record?.regions).toEqual([
      { box: [0.046875, 0.0625, 0.5, 0.9375], prompt: 'zorb on the left', negativePrompt: '' },
      { box: [0.5, 0.0625, 1, 0.9375], prompt: 'quill on the right', negativePrompt: 'blurry' },
    ]);
    expect(record?.loras.map((l) => [l.name, l.weight, l.region?.prompt])).toEqual([
      ['zorb', 1, 'zorb on the left'],
      ['quill', 0.9, 'quill on the right'],
    ]);
    // the boxes over the result, labelled with their LoRAs
    const overlay = page.getByRole('region', { name: 'Gallery' }).getByTestId('region-overlay');
    expect(await overlay.getByRole('listitem').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')))).toEqual(['Region 1: zorb', 'Region 2: quill']);
    await page.getByRole('status').getByText(/Done/).waitFor();
    await editor.evaluate((e) => e.scrollIntoView({ block: 'end' }));
    await shot(page, 'regions');
    await page.getByRole('button', { name: 'Switch to light theme' }).click();
    await shot(page, 'regions-light');
    await page.getByRole('button', { name: 'Switch to dark theme' }).click();

    // Delete: the key on the selected box, the button for the other
    await editor.getByRole('button', { name: 'Region 2', exact: true }).click();
    await canvas.focus();
    await page.keyboard.press('Delete');
    await editor.getByRole('button', { name: 'Delete region 1' }).click();
    expect(await editor.locator('fieldset').count()).toBe(0);
    await stack().getByLabel('Composition method').selectOption('merge');

    // Reuse settings: the method, both boxes with prompts and bound LoRAs; none of them in the stack
    await page.getByRole('button', { name: 'Reuse settings' }).click();
    expect(await stack().getByLabel('Composition method').inputValue()).toBe('regional');
    await expect.poll(() => editor.locator('fieldset').count()).toBe(2);
    expect(await edges(1)).toEqual([0.047, 0.063, 0.5, 0.938]);
    expect(await edges(2)).toEqual([0.5, 0.063, 1, 0.938]);
    expect(await editor.getByLabel('Prompt of region 2', { exact: true }).inputValue()).toBe('quill on the right');
    expect(await editor.getByLabel('Negative prompt of region 2').inputValue()).toBe('blurry');
    expect(await editor.locator('[data-bound]').evaluateAll((els) => els.map((e) => e.getAttribute('data-bound')))).toEqual(['zorb', 'quill']);
    expect(await editor.getByLabel('Weight of quill in region 2').inputValue()).toBe('0.9');
    expect(await stack().locator('[data-stack-item]').count()).toBe(0);
    // the page remembers the boxes across a reload, as it does the form and the stack
    await page.reload();
    await page.getByRole('status').getByText('Ready.').waitFor();
    await expect.poll(() => editor.locator('fieldset').count()).toBe(2);
    expect(await edges(2)).toEqual([0.5, 0.063, 1, 0.938]);
    expect(await editor.locator('[data-bound]').evaluateAll((els) => els.map((e) => e.getAttribute('data-bound')))).toEqual(['zorb', 'quill']);
    // the same regions come back from the PNG through the API a dropped file uses
    const png = readFileSync(join(folders.dataDir, 'gallery', readdirSync(join(folders.dataDir, 'gallery')).sort((a, b) => parseInt(b, 10) - parseInt(a, 10))[0]));
    const reply = (await (await fetch(new URL('/api/imageSettings', server.url), { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: png })).json()) as {
      value: { regions: { box: number[]; loras: number[] }[]; loras: { name: string }[] };
    };
    expect(reply.value.regions.map((g) => [g.box, g.loras.map((k) => reply.value.loras[k].name)])).toEqual([
      [[0.046875, 0.0625, 0.5, 0.9375], ['zorb']],
      [[0.5, 0.0625, 1, 0.9375], ['quill']],
    ]);
  });
});
