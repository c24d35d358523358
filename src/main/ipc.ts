/**
 * Serves the API over Electron IPC: one `handle` channel per method, job events pushed to the
 * app's own windows. Validation and error shaping live in the shared dispatcher.
 */
import { BrowserWindow, ipcMain } from 'electron';
import { API_METHODS, type Reply } from '../shared/api';
import { IPC_CHANNELS, IPC_JOB_EVENT } from '../shared/channels';
import { createDispatcher, type ApiHost } from '../shared/dispatch';
import { isOwnPage } from './trust';

const FOREIGN_PAGE: Reply<never> = {
  ok: false,
  error: { code: 'FORBIDDEN', message: 'This page is not allowed to use Chord.' },
};

/** Registers the handlers; returns a function that removes them again. */
export function serveApiOverIpc(host: ApiHost, rendererUrl: string): () => void {
  const dispatcher = createDispatcher(host, {
    onInternalError: (error) => console.error('[chord] unexpected error in an API call:', error),
  });

  for (const method of API_METHODS) {
    ipcMain.handle(IPC_CHANNELS[method], (event, ...args: unknown[]) => {
      // Only Chord's own page may call in (an iframe or a navigated-away page may not).
      const frame = event.senderFrame;
      if (!frame || frame.parent !== null || !isOwnPage(frame.url, rendererUrl)) return FOREIGN_PAGE;
      return dispatcher[method](...args);
    });
  }

  const stopEvents = host.onJobEvent((jobEvent) => {
    for (const window of BrowserWindow.getAllWindows()) {
      const contents = window.webContents;
      if (!contents.isDestroyed() && isOwnPage(contents.getURL(), rendererUrl)) contents.send(IPC_JOB_EVENT, jobEvent);
    }
  });

  return () => {
    stopEvents();
    for (const method of API_METHODS) ipcMain.removeHandler(IPC_CHANNELS[method]);
  };
}
