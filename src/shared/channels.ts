/**
 * Where each API call travels, per transport. Plain constants with no imports, so the sandboxed
 * preload script can bundle this file without pulling in anything else.
 */
import type { ApiMethod } from './api';

/** Electron IPC: one `invoke` channel per method, one `send` channel for job events. */
export const IPC_CHANNELS: Record<ApiMethod, string> = {
  getInfo: 'chord:getInfo',
  listModels: 'chord:listModels',
  addModel: 'chord:addModel',
  removeModel: 'chord:removeModel',
  listLoras: 'chord:listLoras',
  addLoras: 'chord:addLoras',
  updateLora: 'chord:updateLora',
  removeLora: 'chord:removeLora',
  generate: 'chord:generate',
  cancel: 'chord:cancel',
  listQueue: 'chord:listQueue',
  moveJob: 'chord:moveJob',
  listGallery: 'chord:listGallery',
  deleteImage: 'chord:deleteImage',
  revealImage: 'chord:revealImage',
  imageSettings: 'chord:imageSettings',
  startComparison: 'chord:startComparison',
  listComparisons: 'chord:listComparisons',
  exportComparison: 'chord:exportComparison',
  deleteComparison: 'chord:deleteComparison',
  measureSpectra: 'chord:measureSpectra',
};
export const IPC_JOB_EVENT = 'chord:jobEvent';

/**
 * `chord serve`: each method is a POST of its JSON arguments array to `/api/<method>`, answered
 * with a JSON `Reply`; job events are JSON text frames on the WebSocket at `HTTP_EVENTS_PATH`.
 * Two calls carry bytes instead of JSON: `imageSettings` (the PNG as the request body) and the
 * upload of a dropped LoRA file (`HTTP_LORA_UPLOAD_PATH?name=<file name>`), which only a browser
 * needs (Electron adds dropped files by path). Gallery images are served under `HTTP_IMAGES_PATH`.
 */
export const HTTP_API_PREFIX = '/api/';
export const HTTP_EVENTS_PATH = '/api/events';
export const HTTP_LORA_UPLOAD_PATH = '/api/upload/lora';
export const HTTP_IMAGES_PATH = '/images/';
export const HTTP_LORA_PREVIEWS_PATH = '/lora-previews/';
/** The access token travels in this header, or as `?token=` on the page URL and WebSocket. */
export const HTTP_TOKEN_HEADER = 'x-chord-token';
/** Exported comparison grids (PNG files in the data folder's comparisons/), for viewing and download. */
export const HTTP_COMPARISONS_PATH = '/comparisons/';

export function httpPathOf(method: ApiMethod): string {
  return `${HTTP_API_PREFIX}${method}`;
}
