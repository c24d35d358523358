/**
 * Exposes exactly the `ChordBridge` to the renderer as `window.chord`, and nothing else: no
 * ipcRenderer, no event objects, no Node. Runs sandboxed, so it may import only 'electron' and
 * files bundled into it (type-only imports from api.ts keep valibot out).
 */
import { contextBridge, ipcRenderer } from 'electron';
import type { ChordBridge, JobEvent } from '../shared/api';
import { IPC_CHANNELS, IPC_JOB_EVENT } from '../shared/channels';

const bridge: ChordBridge = {
  getInfo: () => ipcRenderer.invoke(IPC_CHANNELS.getInfo),
  listModels: () => ipcRenderer.invoke(IPC_CHANNELS.listModels),
  generate: (request) => ipcRenderer.invoke(IPC_CHANNELS.generate, request),
  cancel: (jobId) => ipcRenderer.invoke(IPC_CHANNELS.cancel, jobId),
  onJobEvent: (listener) => {
    // The listener sees only the event data, never Electron's IpcRendererEvent (it holds `sender`).
    const forward = (_event: Electron.IpcRendererEvent, jobEvent: JobEvent): void => listener(jobEvent);
    ipcRenderer.on(IPC_JOB_EVENT, forward);
    return () => {
      ipcRenderer.removeListener(IPC_JOB_EVENT, forward);
    };
  },
};

contextBridge.exposeInMainWorld('chord', bridge);
