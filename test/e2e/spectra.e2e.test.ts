/**
 * The spectra plot, the cards' frequency classes, the user's class and the stack's Frequency order,
 * in Chromium against `chord serve --profile-pairs 2` (two image pairs per LoRA keep it quick; the
 * classes of zorb, hatching and sunset are the same as with 16). Screenshots go to test-results/app/.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appContext, dropFiles, HAVE_CHROMIUM, launchChromium, loraFile, openApp, previewFile, serve, type Served, shot, tempFolders } from './harness';


describe.skipIf(!HAVE_CHROMIUM)('spectra and frequency order in Chromium against chord serve', () => {
  const folders = tempFolders();
  let server: Served;
  let browser: Browser;
  let page: Page;

  const library = () => page.getByRole('region', { name: 'LoRA library' });
  const stack = () => page.getByRole('region', { name: 'LoRA stack' });
  const dialog = () => page.getByRole('dialog', { name: 'Frequency spectra' });
  const stackOrder = () => stack().locator('[data-stack-item]').evaluateAll((els) => els.map((e) => e.getAttribute('data-stack-item')));
  /** The class a card shows, and where it comes from. */
  const cardClass = (name: string) =>
    library()
      .getByRole('listitem', { name: `LoRA ${name}` })
      .locator('[data-freq-class]')
      .evaluate((el) => `${el.getAttribute('data-freq-class')}/${el.getAttribute('data-freq-source')}`);

  beforeAll(async () => {
    server = await serve(folders.dataDir, folders.cacheDir, ['--profile-pairs', '2']);
    browser = await launchChromium();
    page = await openApp(await appContext(browser), server.url);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    folders.cleanup();
  });

  it('shows "not measured" on new cards, and a card measures its own class on demand', async () => {
    await dropFiles(page, '.window', ['zorb', 'hatching', 'sunset'].flatMap((n) => [previewFile(n), loraFile(n)]));
    await library().getByRole('listitem', { name: 'LoRA sunset' }).waitFor();
    for (const name of ['zorb', 'hatching', 'sunset']) expect(await cardClass(name)).toBe('none/none');
    await library().getByRole('button', { name: 'Measure the frequency class of sunset' }).click();
    await expect.poll(() => cardClass('sunset'), { timeout: 30_000 }).toBe('L/measured');
    expect(await library().getByRole('listitem', { name: 'LoRA sunset' }).textContent()).toMatch(/dH −0\.\d{3}/);
    // remembered in the library, per model
    expect(readFileSync(join(folders.dataDir, 'library.json'), 'utf8')).toMatch(/"frequency": \[\s*\{\s*"model": "[^"]*glyph-sd",\s*"dH": -0\.\d+,\s*"class": "L",\s*"pairs": 2/);
  });

  it('plots one curve per stacked LoRA plus the base, with dH and class in the legend', async () => {
    for (const name of ['sunset', 'zorb', 'hatching']) await library().getByRole('button', { name: `Add ${name} to the stack` }).click();
    expect(await stackOrder()).toEqual(['sunset', 'zorb', 'hatching']);
    await stack().getByRole('button', { name: 'Spectra' }).click();
    await dialog().waitFor();
    // zorb and hatching are measured now (sunset comes from the cache)
    await expect.poll(() => dialog().locator('path[data-curve]').count(), { timeout: 40_000 }).toBe(4);
    expect(await dialog().locator('path[data-curve="base"]').count()).toBe(1);
    expect(await dialog().locator('path[data-curve="lora"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-curve-name')))).toEqual(['sunset', 'zorb', 'hatching']);
    for (const d of await dialog().locator('path[data-curve]').evaluateAll((els) => els.map((e) => e.getAttribute('d') ?? ''))) expect(d).toMatch(/^M[\d.]+,[\d.]+( L[\d.]+,[\d.]+){40,}$/);
    expect(await dialog().getByRole('img').first().getAttribute('aria-labelledby')).toBeTruthy();
    const legend = dialog().getByRole('table');
    expect(await legend.locator('[data-legend="hatching"]').textContent()).toMatch(/H\s*dH \+0\.\d{3}/);
    expect(await legend.locator('[data-legend="sunset"]').textContent()).toMatch(/L\s*dH −0\.\d{3}/);
    expect(await legend.locator('[data-legend="base"]').textContent()).toMatch(/base model: each LoRA's own, the zero line/);
    // the cards show the classes too
    expect([await cardClass('zorb'), await cardClass('hatching'), await cardClass('sunset')]).toEqual(['H/measured', 'H/measured', 'L/measured']);
    await shot(page, 'spectra');
    await dialog().getByRole('radio', { name: 'Profiles' }).check();
    expect(await dialog().locator('svg[data-plot-mode]').getAttribute('data-plot-mode')).toBe('profile');
    expect(await dialog().locator('path[data-curve]').count()).toBe(4);
    expect(await legend.locator('[data-legend="base"]').textContent()).toMatch(/base model \(mean of 3 prompts\)/);
    await shot(page, 'spectra-profiles');
    await dialog().getByRole('radio', { name: 'Difference from base' }).check();
  });

  it('orders the stack by frequency, and the order follows the user class', async () => {
    // freq: H by dH (hatching above zorb), then L
    await dialog().getByRole('button', { name: 'Frequency order' }).click();
    await expect.poll(stackOrder).toEqual(['hatching', 'zorb', 'sunset']);
    // the user says hatching is L: shown at once on the card, stored, and the ordered stack follows
    await dialog().getByLabel('Frequency class of hatching').selectOption('L');
    await expect.poll(() => cardClass('hatching')).toBe('L/override');
    await expect.poll(stackOrder).toEqual(['zorb', 'hatching', 'sunset']);
    await expect.poll(() => readFileSync(join(folders.dataDir, 'library.json'), 'utf8')).toMatch(/"classOverride": "L"/);
    await page.keyboard.press('Escape');
    await expect.poll(() => dialog().isVisible()).toBe(false);
    await shot(page, 'spectra-cards');

    // on a card, and with the stack's own button after a manual move
    await library().getByLabel('Frequency class of sunset').selectOption('H');
    await expect.poll(() => cardClass('sunset')).toBe('H/override');
    await expect.poll(stackOrder).toEqual(['zorb', 'sunset', 'hatching']);
    await stack().getByRole('button', { name: 'Move zorb down' }).click();
    expect(await stackOrder()).toEqual(['sunset', 'zorb', 'hatching']);
    await stack().getByRole('button', { name: 'Frequency order' }).click();
    await expect.poll(stackOrder).toEqual(['zorb', 'sunset', 'hatching']);
    await expect.poll(() => page.getByRole('status').textContent()).toMatch(/Stack in frequency order: zorb \(H\), sunset \(H\), hatching \(L\)/);
  });

  it('sends the stack order and the classes shown with each image', async () => {
    await page.getByRole('textbox', { name: 'Prompt', exact: true }).fill('zorb, hatchy, sunsetglow');
    await page.getByRole('region', { name: 'Generation settings' }).getByLabel('Steps', { exact: true }).fill('2');
    await stack().getByLabel('Composition method').selectOption('cmlora');
    // the stack is in frequency order (the last test left it so): no hint; moved by hand, CMLoRA says it runs the stack's order
    expect(await stack().locator('[data-order-hint]').count()).toBe(0);
    await stack().getByRole('button', { name: 'Move zorb down' }).click();
    await expect.poll(() => stack().locator('[data-order-hint]').count()).toBe(1);
    await stack().getByRole('button', { name: 'Frequency order' }).click();
    await expect.poll(() => stack().locator('[data-order-hint]').count()).toBe(0);
    await expect.poll(stackOrder).toEqual(['zorb', 'sunset', 'hatching']);
    const sent = page.waitForRequest((r) => r.url().endsWith('/api/generate'));
    await page.getByRole('button', { name: /^Generate/ }).click();
    const [request] = (await sent).postDataJSON() as [{ loras: { path: string }[]; order: string; highFrequency: string[] }];
    expect(request.loras.map((l) => l.path.replace(/^.*\//, ''))).toEqual(['zorb.safetensors', 'sunset.safetensors', 'hatching.safetensors']);
    expect(request.order).toBe('user');
    expect(request.highFrequency).toEqual(['zorb', 'sunset']);
    await page.getByRole('status').getByText(/Done/).waitFor({ timeout: 30_000 });
    // back to the measured class
    await library().getByLabel('Frequency class of sunset').selectOption('auto');
    await expect.poll(() => cardClass('sunset')).toBe('L/measured');
  });

  it('looks right in the light theme', async () => {
    await page.getByRole('button', { name: 'Switch to light theme' }).click();
    await stack().getByRole('button', { name: 'Spectra' }).click();
    await expect.poll(() => dialog().locator('path[data-curve]').count()).toBe(4);
    // from the cache now: no measuring left
    await expect.poll(() => dialog().getByRole('status').count()).toBe(0);
    await shot(page, 'spectra-light');
    await page.keyboard.press('Escape');
  });
});
