/**
 * End-to-end harness: `chord serve` as a real process on 127.0.0.1 with a random port and temp
 * data/cache folders, and Debian's Chromium driven by playwright-core.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CHROMIUM = process.env.CHORD_CHROMIUM ?? '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
/** Screenshots of each screen, kept as test artefacts (git-ignored). */
export const SHOTS = join(ROOT, 'test-results', 'app');

/** Builds the page once per test run, so the tests never see a stale out/renderer. */
export function buildRenderer(): void {
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/electron-vite/bin/electron-vite.js'), 'build'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`electron-vite build failed:\n${r.stderr}`);
}

export interface Served {
  url: string;
  process: ChildProcess;
  stderr: string[];
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export function tempFolders(): { dataDir: string; cacheDir: string; cleanup(): void } {
  const root = mkdtempSync(join(tmpdir(), 'chord-e2e-'));
  const dataDir = join(root, 'data');
  const cacheDir = join(root, 'cache');
  mkdirSync(dataDir);
  mkdirSync(cacheDir);
  return { dataDir, cacheDir, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** Starts `chord serve --port 0`; resolves with the URL it prints as its first line. */
export function serve(dataDir: string, cacheDir: string, extra: string[] = []): Promise<Served> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/chord.js'), 'serve', '--port', '0', '--data', dataDir, ...extra], {
    cwd: ROOT,
    env: { ...process.env, CHORD_CACHE_DIR: cacheDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  child.stderr.setEncoding('utf8').on('data', (d: string) => stderr.push(d));
  return new Promise((resolvePromise, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`chord serve printed no URL: ${stderr.join('')}`)), 30_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      resolvePromise({
        url: out.slice(0, nl),
        process: child,
        stderr,
        stop: (signal = 'SIGTERM') =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once('exit', () => done());
            child.kill(signal);
          }),
      });
    });
    child.once('exit', (code) => reject(new Error(`chord serve exited (${code}): ${stderr.join('')}`)));
  });
}

/** The demo model's LoRAs, which the e2e tests drop on the window. */
export const DEMO_LORAS = join(ROOT, 'models/glyph-sd/loras');
/** A demo LoRA file as a file manager drops it. */
export const loraFile = (name: string) => ({ name: `${name}.safetensors`, bytes: readFileSync(join(DEMO_LORAS, `${name}.safetensors`)) });
/** A demo LoRA's preview image as a file manager drops it. */
export const previewFile = (name: string) => ({ name: `${name}.png`, bytes: readFileSync(join(DEMO_LORAS, `${name}.png`)), type: 'image/png' });

/** A browser context laid out like the screenshots: 1280 x 800, dark theme. */
export function appContext(browser: Browser): Promise<BrowserContext> {
  return browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'dark' });
}

/** The app in a new page of the context, once it says Ready; an error thrown in the page fails the test. */
export async function openApp(context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (e) => {
    throw e;
  });
  await page.goto(url);
  await page.getByRole('status').getByText('Ready.').waitFor();
  return page;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Drops files on an element the way a user's file manager does (a DataTransfer with Files). */
export async function dropFiles(page: Page, selector: string, files: { name: string; bytes: Uint8Array; type?: string }[]): Promise<void> {
  const payload = files.map((f) => ({ name: f.name, type: f.type ?? '', b64: Buffer.from(f.bytes).toString('base64') }));
  const dataTransfer = await page.evaluateHandle((list) => {
    const dt = new DataTransfer();
    for (const f of list) {
      const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
      dt.items.add(new File([bytes], f.name, { type: f.type }));
    }
    return dt;
  }, payload);
  await page.dispatchEvent(selector, 'dragenter', { dataTransfer });
  await page.dispatchEvent(selector, 'dragover', { dataTransfer });
  await page.dispatchEvent(selector, 'drop', { dataTransfer });
}

export async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}
