/**
 * Entry of the engine worker thread: one Engine, driven by HostMessages on the parent port. Kept
 * a separate file so a bundler (electron-vite) can emit it as its own chunk.
 */
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { Engine, type EngineOptions } from './engine';
import { type EngineMessage, type HostMessage, serializeError } from './protocol';

/** Linux nice value of the engine thread and its ONNX Runtime threads (0 normal, 19 lowest). */
const ENGINE_NICE = 5;

if (!parentPort) throw new Error('worker.ts must run in a worker thread');

// On Linux a thread has its own nice value and threads it creates inherit it, so lowering this
// thread's priority before ONNX Runtime starts its thread pool makes the whole engine yield the
// CPU to the host (UI, server) when cores are scarce. Elsewhere the call would lower the whole
// process, host included, so it is not made.
if (process.platform === 'linux') {
  try {
    setPriority(0, Math.max(getPriority(0), ENGINE_NICE));
  } catch {
    // not permitted: run at normal priority
  }
}
const port = parentPort;
const send = (m: EngineMessage) => port.postMessage(m);
const options = ((workerData as { engineOptions?: Omit<EngineOptions, 'onNotice'> } | null)?.engineOptions ?? {}) as EngineOptions;
const engine = new Engine({ ...options, onNotice: (notice) => send({ type: 'notice', notice }) });
const jobs = new Map<number, AbortController>();

port.on('message', (m: HostMessage) => {
  switch (m.type) {
    case 'generate': {
      const abort = new AbortController();
      jobs.set(m.id, abort);
      engine
        .generate(m.request, { signal: abort.signal, onProgress: (progress) => send({ type: 'progress', id: m.id, progress }) })
        .then(
          (result) => send({ type: 'result', id: m.id, result }),
          (e: unknown) => send({ type: 'error', id: m.id, error: serializeError(e) }),
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
        send({ type: 'closed' });
        port.close();
      });
      break;
  }
});
send({ type: 'ready' });
