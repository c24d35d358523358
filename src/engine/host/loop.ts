/**
 * The engine's side of the host protocol, independent of how messages travel: a worker thread
 * (worker.ts), a child process (child.ts) or an Electron utility process all run this loop.
 */
import { Engine, type EngineOptions } from './engine';
import { type EngineMessage, type HostMessage, serializeError } from './protocol';

export interface EnginePort {
  send(message: EngineMessage): void;
  onMessage(handler: (message: HostMessage) => void): void;
  /** Called once the engine has released its models after a `close` message. */
  close(): void;
}

export function runEngineLoop(port: EnginePort, options: Omit<EngineOptions, 'onNotice'> = {}): void {
  const engine = new Engine({ ...options, onNotice: (notice) => port.send({ type: 'notice', notice }) });
  const jobs = new Map<number, AbortController>();

  port.onMessage((m) => {
    switch (m.type) {
      case 'generate': {
        const abort = new AbortController();
        jobs.set(m.id, abort);
        engine
          .generate(m.request, { signal: abort.signal, onProgress: (progress) => port.send({ type: 'progress', id: m.id, progress }) })
          .then(
            (result) => port.send({ type: 'result', id: m.id, result }),
            (e: unknown) => port.send({ type: 'error', id: m.id, error: serializeError(e) }),
          )
          .finally(() => jobs.delete(m.id));
        break;
      }
      case 'profile': {
        const abort = new AbortController();
        jobs.set(m.id, abort);
        engine
          .profile(m.request, { signal: abort.signal, onProgress: (progress) => port.send({ type: 'profile-progress', id: m.id, progress }) })
          .then(
            (result) => port.send({ type: 'profile-result', id: m.id, result }),
            (e: unknown) => port.send({ type: 'error', id: m.id, error: serializeError(e) }),
          )
          .finally(() => jobs.delete(m.id));
        break;
      }
      case 'cancel':
        jobs.get(m.id)?.abort();
        break;
      case 'close':
        for (const j of jobs.values()) j.abort();
        void engine.release().finally(() => {
          port.send({ type: 'closed' });
          port.close();
        });
        break;
    }
  });
  port.send({ type: 'ready' });
}
