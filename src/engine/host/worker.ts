/**
 * Entry of the engine worker thread: one Engine, driven by HostMessages on the parent port. Kept
 * a separate file so a bundler (electron-vite) can emit it as its own chunk.
 */
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { EngineOptions } from './engine';
import { runEngineLoop } from './loop';

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
const options = ((workerData as { engineOptions?: Omit<EngineOptions, 'onNotice'> } | null)?.engineOptions ?? {});
runEngineLoop(
  {
    send: (m) => port.postMessage(m),
    onMessage: (handler) => port.on('message', handler),
    close: () => port.close(),
  },
  options,
);
