/**
 * Where each API call travels, per transport. Plain constants with no imports, so the sandboxed
 * preload script can bundle this file without pulling in anything else.
 */
import type { ApiMethod } from './api';

/** Electron IPC: one `invoke` channel per method, one `send` channel for job events. */
export const IPC_CHANNELS: Record<ApiMethod, string> = {
  getInfo: 'chord:getInfo',
  listModels: 'chord:listModels',
  generate: 'chord:generate',
  cancel: 'chord:cancel',
};
export const IPC_JOB_EVENT = 'chord:jobEvent';

/**
 * `chord serve`: each method is a POST of its JSON arguments array to `/api/<method>`, answered
 * with a JSON `Reply`; job events are JSON text frames on the WebSocket at `HTTP_EVENTS_PATH`.
 */
export const HTTP_API_PREFIX = '/api/';
export const HTTP_EVENTS_PATH = '/api/events';

export function httpPathOf(method: ApiMethod): string {
  return `${HTTP_API_PREFIX}${method}`;
}
