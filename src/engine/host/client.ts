/**
 * The host side of the engine worker: the Engine's API, asynchronous, with the work done on a
 * worker thread so the caller's event loop keeps running while ONNX Runtime computes.
 *
 *   const engine = startEngineWorker({ onNotice });
 *   const result = await engine.generate(request, { signal, onProgress });
 *   await engine.close();
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ChordError } from '../errors';
import type { EngineNotice } from '../model/session';
import type { EngineOptions, GenerateHooks, GenerateRequest, GenerateResult } from './engine';
import { PendingJobs } from './pending-jobs';
import type { ProfileHooks, ProfileRequest, ProfileResult } from './profiling';
import type { EngineMessage, HostMessage } from './protocol';

export interface EngineWorkerOptions extends Omit<EngineOptions, 'onNotice'> {
  onNotice?: (notice: EngineNotice) => void;
  /**
   * The worker entry. Default: worker.ts next to this file (from source) — a bundler that emits
   * the entry as its own file passes that file's URL here.
   */
  entry?: URL;
}

export class EngineWorker {
  private readonly worker: Worker;
  private readonly jobs: PendingJobs;
  private exited = false;
  private closing?: Promise<void>;

  constructor(options: EngineWorkerOptions = {}) {
    const { entry = new URL('./worker.ts', import.meta.url), onNotice, ...engineOptions } = options;
    this.jobs = new PendingJobs(onNotice);
    const fromSource = entry.pathname.endsWith('.ts');
    // a .ts entry needs tsx's loader inside the worker thread (loaders are per thread)
    this.worker = fromSource
      ? new Worker(new URL('./tsx-worker.mjs', import.meta.url), { workerData: { entryUrl: entry.href, engineOptions } })
      : new Worker(fileURLToPath(entry), { workerData: { engineOptions } });
    this.worker.on('message', (m: EngineMessage) => this.jobs.handle(m));
    this.worker.on('error', (e) => this.jobs.failAll(new ChordError('RUNTIME', `The engine stopped: ${e.message}`, 'Run with CHORD_DEBUG=1 for details.', { cause: e })));
    this.worker.on('exit', (code) => {
      this.exited = true;
      this.jobs.failAll(new ChordError('RUNTIME', `The engine stopped unexpectedly (exit code ${code}).`, 'Run with CHORD_DEBUG=1 for details.'));
    });
  }

  private post(m: HostMessage): void {
    this.worker.postMessage(m);
  }

  /** Generates and saves images; cancelling `hooks.signal` stops between steps (CANCELLED). */
  generate(request: GenerateRequest, hooks: GenerateHooks = {}): Promise<GenerateResult> {
    if (this.exited || this.closing) return Promise.reject(new ChordError('RUNTIME', 'The engine is closed.'));
    return this.jobs.start(request, hooks, (m) => this.post(m));
  }

  /** Measures LoRAs' frequency profiles on the worker thread (profiling.ts). */
  profile(request: ProfileRequest, hooks: ProfileHooks = {}): Promise<ProfileResult> {
    if (this.exited || this.closing) return Promise.reject(new ChordError('RUNTIME', 'The engine is closed.'));
    return this.jobs.startProfile(request, hooks, (m) => this.post(m));
  }

  /** Cancels running work, releases the models and ends the worker thread. */
  close(): Promise<void> {
    if (this.exited) return Promise.resolve();
    this.closing ??= new Promise<void>((resolve) => {
      this.worker.once('exit', () => resolve());
      this.post({ type: 'close' });
    });
    return this.closing;
  }
}

export function startEngineWorker(options: EngineWorkerOptions = {}): EngineWorker {
  return new EngineWorker(options);
}
