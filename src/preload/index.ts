/**
 * Exposes exactly the `ChordBridge` to the renderer as `window.chord`, and nothing else: no
 * ipcRenderer, no event objects, no Node. Runs sandboxed, so it may import only 'electron' and
 * files bundled into it (type-only imports from api.ts keep valibot out).
 */
import { contextBridge, ipcRenderer, webUtils } from 'electron';
import type { ApiMethod, ChordBridge, JobEvent } from '../shared/api';
import { IPC_CHANNELS, IPC_JOB_EVENT } from '../shared/channels';

const invoke =
  <M extends ApiMethod>(method: M) =>
  (...args: Parameters<ChordBridge[M]>): ReturnType<ChordBridge[M]> =>
    ipcRenderer.invoke(IPC_CHANNELS[method], ...args) as ReturnType<ChordBridge[M]>;

const bridge: ChordBridge = {
  getInfo: invoke('getInfo'),
  listModels: invoke('listModels'),
  addModel: invoke('addModel'),
  removeModel: invoke('removeModel'),
  listLoras: invoke('listLoras'),
  addLoras: invoke('addLoras'),
  updateLora: invoke('updateLora'),
  removeLora: invoke('removeLora'),
  generate: invoke('generate'),
  cancel: invoke('cancel'),
  listQueue: invoke('listQueue'),
  moveJob: invoke('moveJob'),
  listGallery: invoke('listGallery'),
  deleteImage: invoke('deleteImage'),
  revealImage: invoke('revealImage'),
  imageSettings: invoke('imageSettings'),
  startComparison: invoke('startComparison'),
  listComparisons: invoke('listComparisons'),
  exportComparison: invoke('exportComparison'),
  deleteComparison: invoke('deleteComparison'),
  // In Electron a dropped file is referenced where it is: main gets its path, never its bytes.
  // (previews dropped with them are found beside the files anyway)
  addLoraFiles: (files) =>
    ipcRenderer.invoke(
      IPC_CHANNELS.addLoras,
      files.filter((f) => !/\.(png|jpe?g|webp)$/i.test(f.name)).map((f) => webUtils.getPathForFile(f)),
    ),
  onJobEvent: (listener) => {
    // The listener sees only the event data, never Electron's IpcRendererEvent (it holds `sender`).
    const forward = (_event: Electron.IpcRendererEvent, jobEvent: JobEvent): void => listener(jobEvent);
    ipcRenderer.on(IPC_JOB_EVENT, forward);
    return () => {
      ipcRenderer.removeListener(IPC_JOB_EVENT, forward);
    };
  },
  measureSpectra: invoke('measureSpectra'),
};

contextBridge.exposeInMainWorld('chord', bridge);
