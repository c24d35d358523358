/**
 * The same app through Playwright's Electron support: the window, the engine in its utility
 * process, files added by path (Electron references them in place), a batch, the gallery through
 * the chord-image: protocol. Runs where the Electron binary is installed (`npx install-electron`);
 * skipped otherwise, saying why.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { _electron as electron, type ElectronApplication, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRenderer, ROOT, shot, tempFolders } from './harness';

/** The binary electron's own launcher would start, when it has been downloaded. */
function electronBinary(): string | undefined {
  const pathFile = join(ROOT, 'node_modules/electron/path.txt');
  if (!existsSync(pathFile)) return undefined;
  const binary = join(ROOT, 'node_modules/electron/dist', readFileSync(pathFile, 'utf8').trim());
  return existsSync(binary) ? binary : undefined;
}

const BINARY = electronBinary();
if (!BINARY) console.info('Electron e2e tests skipped: the Electron binary is not installed (run `npx install-electron` where it can be downloaded).');

describe.skipIf(!BINARY)('the desktop app (Electron)', () => {
  const folders = tempFolders();
  let electronApp: ElectronApplication;
  let page: Page;

  beforeAll(async () => {
    buildRenderer();
    electronApp = await electron.launch({
      executablePath: BINARY,
      args: [join(ROOT, 'out/main/index.js')],
      env: { ...process.env, CHORD_DATA_DIR: folders.dataDir, CHORD_CACHE_DIR: folders.cacheDir },
    });
    page = await electronApp.firstWindow();
    await page.getByRole('status').getByText('Ready.').waitFor();
  });

  afterAll(async () => {
    await electronApp?.close();
    folders.cleanup();
  });

  it('adds a LoRA by path, stacks it by keyboard and makes a batch shown through chord-image:', async () => {
    await page.getByLabel('Choose LoRA files').setInputFiles(join(ROOT, 'models/glyph-sd/loras/zorb.safetensors'));
    const card = page.getByRole('listitem', { name: 'LoRA zorb' });
    await card.waitFor();
    // referenced in place, not copied
    expect(await card.locator('.name').getAttribute('title')).toBe(join(ROOT, 'models/glyph-sd/loras/zorb.safetensors'));
    await page.getByRole('button', { name: 'Add zorb to the stack' }).press('Enter');
    await page.getByRole('textbox', { name: 'Prompt', exact: true }).fill('zorb');
    const settings = page.getByRole('region', { name: 'Generation settings' });
    await settings.getByLabel('Steps', { exact: true }).fill('3');
    await settings.getByLabel('Batch count', { exact: true }).fill('2');
    await page.keyboard.press('Control+Enter');
    await expect.poll(() => page.getByRole('region', { name: 'Gallery' }).locator('ul.grid li').count(), { timeout: 60_000 }).toBe(2);
    const src = await page.getByRole('region', { name: 'Gallery' }).locator('figure img').getAttribute('src');
    expect(src).toMatch(/^chord-image:\/\/gallery\/\d{5}-\d+\.png$/);
    await expect.poll(() => page.locator('figure img').evaluate((img) => (img as HTMLImageElement).naturalWidth)).toBe(64);
    await shot(page, 'electron');
  });
});
