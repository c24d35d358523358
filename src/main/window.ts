/**
 * The main window. The renderer is an untrusted web page as far as main is concerned: sandboxed,
 * isolated, no Node, and allowed to navigate nowhere but its own page.
 */
import { app, BrowserWindow, shell } from 'electron';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isOwnPage } from './trust';

/** The renderer page: the dev server under `electron-vite dev`, else the built file. */
export function rendererUrl(): string {
  const devServer = process.env['ELECTRON_RENDERER_URL'];
  if (devServer && !app.isPackaged) return devServer;
  return pathToFileURL(join(import.meta.dirname, '../renderer/index.html')).href;
}

export function createMainWindow(): BrowserWindow {
  const pageUrl = rendererUrl();
  const window = new BrowserWindow({
    title: 'Chord',
    width: 1280,
    height: 820,
    minWidth: 720,
    minHeight: 480,
    show: false,
    backgroundColor: '#17171c',
    webPreferences: {
      // A sandboxed preload must be CommonJS; electron.vite.config.ts builds it as index.cjs.
      preload: join(import.meta.dirname, '../preload/index.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
    },
  });

  window.once('ready-to-show', () => window.show());

  // Links meant for a browser open there; nothing opens a second Electron window.
  window.webContents.setWindowOpenHandler(({ url }) => {
    if (url.startsWith('https://')) void shell.openExternal(url);
    return { action: 'deny' };
  });
  window.webContents.on('will-navigate', (event, url) => {
    if (!isOwnPage(url, pageUrl)) event.preventDefault();
  });

  void window.loadURL(pageUrl);
  return window;
}
