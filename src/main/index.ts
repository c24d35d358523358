/**
 * Electron main: one instance, one window, the API served over IPC. The engine itself will run in
 * a `utilityProcess` (see docs/app.md); main only routes calls and events to it.
 */
import { app, BrowserWindow, Menu, session } from 'electron';
import { join } from 'node:path';
import { createDisconnectedEngineHost } from './engine-host';
import { serveApiOverIpc } from './ipc';
import { buildAppMenu } from './menu';
import { createMainWindow, rendererUrl } from './window';

/** The app's folder, with native modules and models read from outside the asar archive. */
function unpackedAppPath(): string {
  return app.getAppPath().replace(/app\.asar$/, 'app.asar.unpacked');
}

function main(): void {
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

  void app.whenReady().then(() => {
    // The UI needs no camera, microphone, notifications or the like.
    session.defaultSession.setPermissionRequestHandler((_contents, permission, allow) =>
      allow(permission === 'clipboard-sanitized-write'),
    );
    Menu.setApplicationMenu(buildAppMenu());

    const host = createDisconnectedEngineHost({
      appVersion: app.getVersion(),
      bundledModelsDir: join(unpackedAppPath(), 'models'),
    });
    serveApiOverIpc(host, rendererUrl());
    showMainWindow();
  });
}

main();
