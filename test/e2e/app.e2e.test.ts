/**
 * The app in a real browser against `chord serve`: the LoRA library, the stack, generation with
 * progress and cancel, a batch, the queue across a server restart, the gallery, restoring settings
 * from a dropped PNG. Each screen is saved under test-results/app/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImageInfo } from '../../src/engine';
import { encodeImage } from '../../src/engine/png';
import { encodeText, insertChunks } from '../../src/engine/png/chunks';
import { appContext, dropFiles, HAVE_CHROMIUM, launchChromium, loraFile, openApp, previewFile, ROOT, serve, type Served, shot, tempFolders } from './harness';


describe.skipIf(!HAVE_CHROMIUM)('the app in Chromium against chord serve', () => {
  const folders = tempFolders();
  let server: Served;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  const open = async () => {
    // one context: a reopened page sees what the first one stored, as a user's browser would
    context ??= await appContext(browser);
    page = await openApp(context, server.url);
  };
  const prompt = () => page.getByRole('textbox', { name: 'Prompt', exact: true });
  const queueCount = () => page.getByRole('region', { name: 'Queue' }).locator('li').count();
  const galleryCount = () => page.getByRole('region', { name: 'Gallery' }).locator('ul.grid li').count();
  const setNumber = async (label: string, value: number) => page.getByRole('region', { name: 'Generation settings' }).getByLabel(label, { exact: true }).fill(String(value));

  beforeAll(async () => {
    // (the page is built from the current sources by test/global-setup.ts)
    server = await serve(folders.dataDir, folders.cacheDir);
    browser = await launchChromium();
    await open();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    folders.cleanup();
  });

  it('starts on 127.0.0.1 with the model at its own size', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    await expect(page.getByLabel('Model').inputValue()).resolves.toContain('glyph-sd');
    expect(await page.getByLabel('Width', { exact: true }).inputValue()).toBe('64');
    expect(await page.getByLabel('Steps', { exact: true }).inputValue()).toBe('20');
  });

  it('checks a model folder before adding it, in plain words', async () => {
    await page.getByRole('button', { name: 'Add model folder…' }).click();
    await page.getByLabel(/^Model folder on the Chord host/).fill(join(ROOT, 'models/glyph-sd/loras'));
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toMatch(/loras.*model_index\.json/i);
    expect(await page.getByLabel('Model').locator('option').count()).toBe(1);
    await page.getByRole('button', { name: 'Cancel', exact: true }).click();
  });

  it("holds the page's Content-Security-Policy: an injected inline script does not run", async () => {
    const violations = await page.evaluate(async () => {
      const seen: string[] = [];
      document.addEventListener('securitypolicyviolation', (e) => seen.push(e.violatedDirective));
      const script = document.createElement('script');
      script.textContent = 'window.__chordInjected = true';
      document.head.append(script);
      await new Promise((r) => setTimeout(r, 50));
      return { seen, ran: (window as unknown as { __chordInjected?: boolean }).__chordInjected === true };
    });
    expect(violations.ran).toBe(false);
    expect(violations.seen[0]).toMatch(/^script-src/);
  });

  it('adds dropped LoRA files as cards with name, base model, rank, trigger words and category', async () => {
    // each LoRA with its preview image, the way they lie in a folder
    await dropFiles(page, '.window', [loraFile('zorb'), previewFile('zorb'), loraFile('hat'), previewFile('hat'), loraFile('sunset')]);
    const library = page.getByRole('region', { name: 'LoRA library' });
    await library.getByRole('listitem', { name: 'LoRA zorb' }).waitFor();
    const zorb = library.getByRole('listitem', { name: 'LoRA zorb' });
    await expect(zorb.textContent()).resolves.toMatch(/glyph-sd · rank 8/);
    expect(await zorb.getByRole('button', { name: 'Edit trigger words of zorb' }).textContent()).toContain('zorb');
    expect(await zorb.getByLabel('Category of zorb').inputValue()).toBe('character');
    expect(await library.getByRole('listitem').count()).toBe(3);
    // the browser uploaded them: stored in the data folder, previews beside their LoRAs
    expect(readdirSync(join(folders.dataDir, 'uploads', 'loras')).sort()).toEqual(['hat.png', 'hat.safetensors', 'sunset.safetensors', 'zorb.png', 'zorb.safetensors']);
    expect(await zorb.locator('img').getAttribute('src')).toMatch(/^\/lora-previews\/[0-9a-f]+$/);
    await expect.poll(() => zorb.locator('img').evaluate((img) => (img as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);
    expect(await library.getByRole('listitem', { name: 'LoRA sunset' }).locator('img').count()).toBe(0);
    // search (name, base model, trigger words) and the category filter
    const names = () => library.locator('[data-lora]').evaluateAll((els) => els.map((e) => e.getAttribute('data-lora')));
    await library.getByLabel('Search LoRAs').fill('hatz');
    await expect.poll(names).toEqual(['hat']);
    await library.getByLabel('Search LoRAs').fill('');
    await library.getByLabel('Filter by category').selectOption('background');
    await expect.poll(names).toEqual(['sunset']);
    // the category is editable, and the host keeps the edit
    await library.getByLabel('Category of sunset').selectOption('object');
    await expect.poll(names).toEqual([]);
    await expect.poll(() => readFileSync(join(folders.dataDir, 'library.json'), 'utf8')).toMatch(/"category": "object"/);
    await library.getByLabel('Filter by category').selectOption('all');
    await library.getByLabel('Category of sunset').selectOption('background');
    await expect.poll(() => readFileSync(join(folders.dataDir, 'library.json'), 'utf8')).toMatch(/"category": "background"/);
  });

  it('shows a malformed LoRA file as an error and keeps everything else', async () => {
    await dropFiles(page, '.window', [{ name: 'broken.safetensors', bytes: new TextEncoder().encode('this is not a safetensors file') }]);
    const alert = page.getByRole('region', { name: 'LoRA library' }).getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/broken\.safetensors: broken\.safetensors is not a valid safetensors file/);
    expect(await alert.textContent()).not.toContain(folders.dataDir);
    expect(await page.getByRole('region', { name: 'LoRA library' }).getByRole('listitem').count()).toBe(3);
    expect(readdirSync(join(folders.dataDir, 'uploads', 'loras'))).not.toContain('broken.safetensors');
    await shot(page, 'library-error');
    await alert.getByRole('button', { name: 'Dismiss' }).click();
  });

  it('builds the stack by dragging cards, reorders it by dragging and by keyboard', async () => {
    const stack = page.getByRole('region', { name: 'LoRA stack' });
    const library = page.getByRole('region', { name: 'LoRA library' });
    await library.getByRole('listitem', { name: 'LoRA zorb' }).dragTo(stack);
    // onto the lower half of zorb: after it
    await library.getByRole('listitem', { name: 'LoRA hat' }).dragTo(stack.locator('[data-stack-item="zorb"]'), { targetPosition: { x: 40, y: 24 } });
    const order = () => stack.locator('[data-stack-item]').evaluateAll((els) => els.map((e) => e.getAttribute('data-stack-item')));
    await expect.poll(order).toEqual(['zorb', 'hat']);
    // drag hat above zorb
    await stack.locator('[data-stack-item="hat"]').dragTo(stack.locator('[data-stack-item="zorb"]'), { targetPosition: { x: 40, y: 3 } });
    await expect.poll(order).toEqual(['hat', 'zorb']);
    // the keyboard way back
    await stack.getByRole('button', { name: 'Move hat down' }).press('Enter');
    await expect.poll(order).toEqual(['zorb', 'hat']);
    await stack.getByLabel('Weight of hat as a number').fill('0.8');
    await stack.getByLabel('Weight of hat as a number').press('Tab');
    await prompt().fill('a green scene');
    await stack.getByRole('button', { name: 'Insert trigger words' }).click();
    expect(await prompt().inputValue()).toBe('a green scene, zorb, hatz');
  });

  it('generates with a progress bar, step count and live preview, and Esc cancels within a step', async () => {
    const before = await galleryCount();
    await setNumber('Steps', 400);
    // a provider this machine cannot run: the engine falls back to the CPU and says so
    await page.getByLabel('Execution provider').selectOption('cuda');
    await prompt().press('Control+Enter');
    const steps = page.getByTestId('step-count');
    await expect.poll(async () => Number(/step (\d+) of 400/.exec((await steps.textContent().catch(() => '')) ?? '')?.[1] ?? 0), { timeout: 60_000 }).toBeGreaterThan(2);
    await page.getByTestId('live-preview').waitFor();
    expect(await page.getByTestId('engine-notice').textContent()).toMatch(/CUDA could not run .*using CPU instead/);
    expect(await page.getByRole('progressbar', { name: 'Generation progress' }).count()).toBe(1);
    await expect(page.getByRole('region', { name: 'Progress' }).textContent()).resolves.toMatch(/elapsed\s*·\s*about .* left/);
    await shot(page, 'generating');
    const stepAtCancel = Number(/step (\d+)/.exec((await steps.textContent()) ?? '')?.[1]);
    await page.keyboard.press('Escape');
    await page.getByRole('status').getByText('Cancelled.').waitFor({ timeout: 10_000 });
    expect(await queueCount()).toBe(0);
    expect(await galleryCount()).toBe(before);
    // "within one step": the server never got far past the step shown when Esc was pressed
    expect(stepAtCancel).toBeLessThan(400);
    await page.getByLabel('Execution provider').selectOption('auto');
  });

  it('makes a batch of images into the gallery with their settings', async () => {
    await setNumber('Steps', 4);
    await setNumber('Batch count', 3);
    await page.getByRole('region', { name: 'Generation settings' }).getByLabel('Seed mode').selectOption('fixed');
    await page.getByRole('region', { name: 'Generation settings' }).getByLabel('Seed', { exact: true }).fill('42');
    // a composition method from the engine's registry, with an option
    const stack = page.getByRole('region', { name: 'LoRA stack' });
    // the selector lists the engine's registry, whatever it holds
    const info = (await (await fetch(new URL('/api/getInfo', server.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[]' })).json()) as { value: { engine: { methods: { label: string }[] } } };
    const labels = info.value.engine.methods.map((m) => m.label);
    expect(labels).toEqual(expect.arrayContaining(['Merge', 'Switch', 'Composite', 'CMLoRA']));
    expect(await stack.getByLabel('Composition method').locator('option').allTextContents()).toEqual(labels);
    await stack.getByLabel('Composition method').selectOption('switch');
    await stack.getByLabel(/^Switch option tau/).fill('2');
    await page.getByRole('button', { name: /^Generate/ }).click();
    await expect.poll(galleryCount, { timeout: 60_000 }).toBe(3);
    await page.getByRole('status').getByText(/Done/).waitFor();
    const settings = page.getByTestId('image-settings');
    expect(await settings.textContent()).toMatch(/seed 44 · 4 steps · cfg 7 · euler_a · 64×64 · switch/);
    expect(await settings.textContent()).toMatch(/LoRAs: zorb 1, hat 0\.8/);
    await shot(page, 'gallery');
  });

  it('reuses the settings of a gallery image', async () => {
    await prompt().fill('something else');
    await setNumber('Steps', 9);
    await page.getByRole('region', { name: 'LoRA stack' }).getByRole('button', { name: 'Remove zorb from the stack' }).click();
    await page.getByLabel('Composition method').selectOption('merge');
    await page.getByRole('button', { name: /seed 42$/ }).click();
    await page.getByRole('button', { name: 'Reuse settings' }).click();
    expect(await prompt().inputValue()).toBe('a green scene, zorb, hatz');
    expect(await page.getByLabel('Steps', { exact: true }).inputValue()).toBe('4');
    expect(await page.getByLabel('Seed', { exact: true }).inputValue()).toBe('42');
    const stack = page.getByRole('region', { name: 'LoRA stack' });
    expect(await stack.locator('[data-stack-item]').evaluateAll((els) => els.map((e) => e.getAttribute('data-stack-item')))).toEqual(['zorb', 'hat']);
    expect(await stack.getByLabel('Weight of hat as a number').inputValue()).toBe('0.8');
    expect(await stack.getByLabel('Composition method').inputValue()).toBe('switch');
    expect(await stack.getByLabel(/^Switch option tau/).inputValue()).toBe('2');
  });

  it("restores settings from a dropped PNG: Chord's own and A1111's", async () => {
    const png = readdirSync(join(folders.dataDir, 'gallery')).find((n) => n.endsWith('-43.png'));
    expect(png).toBeDefined();
    await prompt().fill('changed');
    await dropFiles(page, '.window', [{ name: 'mine.png', bytes: readFileSync(join(folders.dataDir, 'gallery', png as string)) }]);
    await expect.poll(() => prompt().inputValue()).toBe('a green scene, zorb, hatz');
    expect(await page.getByLabel('Seed', { exact: true }).inputValue()).toBe('43');
    await expect.poll(() => page.getByRole('status').textContent()).toContain('Settings restored from mine.png.');
    expect(await page.getByRole('status').textContent()).not.toContain('made by');

    // the same image as an older engine made it: the settings come back, with a note that the remake may differ
    const mine = join(folders.dataDir, 'gallery', png as string);
    const record = (await readImageInfo(mine)).chord;
    const { data, info } = await sharp(mine).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const older = await encodeImage(new Uint8Array(data), info.width, info.height, { ...record!, engineVersion: '0.1.0' });
    await prompt().fill('changed');
    await dropFiles(page, '.window', [{ name: 'older.png', bytes: older }]);
    await expect.poll(() => prompt().inputValue()).toBe('a green scene, zorb, hatz');
    expect(await page.getByRole('status').textContent()).toMatch(/Settings restored from older\.png\. It was made by Chord's engine 0\.1\.0 and this is \d+\.\d+\.\d+: the same seed may make a different image\./);

    const a1111 = insertChunks(await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } }).png().toBuffer(), [
      encodeText('parameters', 'a red ball <lora:sunset:0.6>\nNegative prompt: blurry\nSteps: 7, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 5.5, Seed: 123, Size: 64x64'),
    ]);
    await dropFiles(page, '.window', [{ name: 'a1111.png', bytes: a1111 }]);
    await expect.poll(() => prompt().inputValue()).toBe('a red ball');
    expect(await page.getByLabel('Negative prompt').inputValue()).toBe('blurry');
    expect(await page.getByLabel('Steps', { exact: true }).inputValue()).toBe('7');
    expect(await page.getByLabel('CFG', { exact: true }).inputValue()).toBe('5.5');
    expect(await page.getByLabel('Sampler', { exact: true }).inputValue()).toBe('dpmpp_2m_karras');
    const stack = page.getByRole('region', { name: 'LoRA stack' });
    expect(await stack.locator('[data-stack-item]').evaluateAll((els) => els.map((e) => e.getAttribute('data-stack-item')))).toEqual(['sunset']);
  });

  it('keeps the queue across a restart of the server (even a killed one)', async () => {
    await prompt().fill('zorb on a long job');
    await setNumber('Steps', 300);
    await setNumber('Batch count', 2);
    await page.getByRole('button', { name: /^Generate/ }).click();
    await setNumber('Steps', 3);
    await setNumber('Batch count', 1);
    await prompt().fill('queued second');
    await page.getByRole('button', { name: /^Generate/ }).click();
    await expect.poll(queueCount).toBe(2);
    await page.getByTestId('step-count').waitFor();
    await server.stop('SIGKILL');
    // the same address again, as a user restarting it would (the page's own memory is per address)
    server = await serve(folders.dataDir, folders.cacheDir, ['--port', new URL(server.url).port]);
    await page.close();
    await open();
    await expect.poll(queueCount).toBe(2).catch(async (e: unknown) => {
      console.log(await page.getByRole('region', { name: 'Queue' }).textContent(), await page.getByRole('status').textContent(), server.stderr.join(''));
      throw e;
    });
    const queue = page.getByRole('region', { name: 'Queue' });
    expect(await queue.textContent()).toMatch(/zorb on a long job.*queued second/);
    // the form and the stack came back with the page
    expect(await prompt().inputValue()).toBe('queued second');
    expect(await page.getByRole('region', { name: 'LoRA stack' }).locator('[data-stack-item]').evaluateAll((els) => els.map((e) => e.getAttribute('data-stack-item')))).toEqual(['sunset']);
    await shot(page, 'queue-after-restart');
    // move the short job first, then cancel the long one
    await queue.getByRole('button', { name: 'Cancel job 1' }).click();
    await expect.poll(queueCount, { timeout: 30_000 }).toBe(0);
    expect(await page.getByTestId('image-settings').textContent()).toMatch(/queued second/);
  });

  it('queues a batch grid: prompts x methods, each a batch of seeds', async () => {
    const stack = page.getByRole('region', { name: 'LoRA stack' });
    await stack.getByLabel('Composition method').selectOption('merge');
    await prompt().fill('zorb\nzorb, hatz');
    await page.getByLabel('one job per prompt line').check();
    await stack.getByLabel('Also queue with Composite').check();
    await setNumber('Steps', 3);
    await setNumber('Batch count', 1);
    const before = await galleryCount();
    await expect(page.getByRole('button', { name: /^Generate/ }).textContent()).resolves.toMatch(/Generate 4 jobs/);
    await page.getByRole('button', { name: /^Generate/ }).click();
    await expect.poll(galleryCount, { timeout: 60_000 }).toBe(before + 4);
    const files = readdirSync(join(folders.dataDir, 'gallery')).sort().slice(-4);
    const made = await Promise.all(files.map(async (f) => (await readImageInfo(join(folders.dataDir, 'gallery', f))).chord));
    expect(made.map((r) => `${r?.prompt} / ${r?.method}`)).toEqual(['zorb / merge', 'zorb / composite', 'zorb, hatz / merge', 'zorb, hatz / composite']);
    await page.getByLabel('one job per prompt line').uncheck();
    await stack.getByLabel('Also queue with Composite').uncheck();
  });

  it('composes three LoRAs (the screenshot in the docs)', async () => {
    const stack = page.getByRole('region', { name: 'LoRA stack' });
    const library = page.getByRole('region', { name: 'LoRA library' });
    for (const name of ['sunset', 'zorb', 'hat']) {
      const add = library.getByRole('button', { name: `Add ${name} to the stack` });
      if (await add.isEnabled()) await add.click();
    }
    await stack.getByLabel('Composition method').selectOption('merge');
    await prompt().fill('');
    await stack.getByRole('button', { name: 'Insert trigger words' }).click();
    await page.getByRole('region', { name: 'Generation settings' }).getByLabel('Seed', { exact: true }).fill('7');
    await page.getByRole('region', { name: 'Generation settings' }).getByLabel('Sampler').selectOption('euler_a');
    await page.getByLabel('Negative prompt').fill('');
    await setNumber('CFG', 7);
    await setNumber('Steps', 20);
    await setNumber('Batch count', 2);
    const before = await galleryCount();
    await page.getByRole('button', { name: /^Generate/ }).click();
    await expect.poll(galleryCount, { timeout: 60_000 }).toBe(before + 2);
    await page.getByRole('status').getByText(/Done/).waitFor();
    await page.getByRole('button', { name: /seed 7$/ }).click();
    expect(await page.getByTestId('image-settings').textContent()).toMatch(/sunsa, zorb, hatz.*seed 7 · 20 steps · cfg 7 · euler_a.*merge.*LoRAs: sunset 0\.6, zorb 1, hat 1/s);
    await shot(page, 'composed');
  });

  it('looks right in the light theme', async () => {
    await page.getByRole('button', { name: 'Switch to light theme' }).click();
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe('light');
    await shot(page, 'light');
    await page.getByRole('button', { name: 'Switch to dark theme' }).click();
  });
});
