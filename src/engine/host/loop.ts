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

  /** Runs one request's work, cancellable by a `cancel` message, and sends its reply or its error. */
  const run = <T>(id: number, work: (signal: AbortSignal) => Promise<T>, reply: (result: T) => EngineMessage): void => {
    const abort = new AbortController();
    jobs.set(id, abort);
    work(abort.signal)
      .then(
        (result) => port.send(reply(result)),
        (e: unknown) => port.send({ type: 'error', id, error: serializeError(e) }),
      )
      .finally(() => jobs.delete(id));
  };

  port.onMessage((m) => {
    switch (m.type) {
      case 'generate':
        run(
          m.id,
          (signal) => engine.generate(m.request, { signal, onProgress: (progress) => port.send({ type: 'progress', id: m.id, progress }) }),
          (result) => ({ type: 'result', id: m.id, result }),
        );
        break;
      case 'profile':
        run(
          m.id,
          (signal) => engine.profile(m.request, { signal, onProgress: (progress) => port.send({ type: 'profile-progress', id: m.id, progress }) }),
          (result) => ({ type: 'profile-result', id: m.id, result }),
        );
        break;
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
