/**
 * Electron main: one instance, one window, the API served over IPC. The engine runs in a
 * `utilityProcess` (engine-host.ts); main routes calls and events to it.
 */
import { app, BrowserWindow, Menu, session } from 'electron';
import { join } from 'node:path';
import { createAppHost } from './engine-host';
import { handleImageProtocol, imageUrls, registerImageScheme } from './image-protocol';
import { serveApiOverIpc } from './ipc';
import { buildAppMenu } from './menu';
import { createMainWindow, rendererUrl } from './window';

/** The app's folder, with native modules and models read from outside the asar archive. */
function unpackedAppPath(): string {
  return app.getAppPath().replace(/app\.asar$/, 'app.asar.unpacked');
}

function main(): void {
  registerImageScheme();
  // A second launch focuses the first window instead of loading the models twice.
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return;
  }

  let mainWindow: BrowserWindow | undefined;
  const showMainWindow = (): void => {
    if (!mainWindow || mainWindow.isDestroyed()) {
      mainWindow = createMainWindow();
      return;
    }
    if (mainWindow.isMinimized()) mainWindow.restore();
    mainWindow.focus();
  };

  app.on('second-instance', showMainWindow);
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) showMainWindow();
  });

  void app.whenReady().then(async () => {
    // The UI needs no camera, microphone, notifications or the like.
    session.defaultSession.setPermissionRequestHandler((_contents, permission, allow) =>
      allow(permission === 'clipboard-sanitized-write'),
    );
    Menu.setApplicationMenu(buildAppMenu());

    const host = await createAppHost({
      appVersion: app.getVersion(),
      bundledModelsDir: join(unpackedAppPath(), 'models'),
      // CHORD_DATA_DIR: a separate library, queue and gallery (tests, several profiles)
      dataDir: process.env['CHORD_DATA_DIR'] || app.getPath('userData'),
      engineEntry: join(import.meta.dirname, 'engine-process.js'),
      urls: imageUrls,
    });
    handleImageProtocol({
      galleryFile: (name) => host.studio.gallery.fileOf(name),
      loraPreviewFile: (id) => host.studio.library.previewFile(id),
      comparisonFile: (name) => host.studio.comparisons.fileOf(name),
    });
    serveApiOverIpc(host, rendererUrl());
    showMainWindow();
    app.on('before-quit', () => {
      void host.studio.close();
    });
  });
}

main();
