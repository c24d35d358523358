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
import { deserializeError, type EngineMessage, type HostMessage } from './protocol';

export interface EngineWorkerOptions extends Omit<EngineOptions, 'onNotice'> {
  onNotice?: (notice: EngineNotice) => void;
  /**
   * The worker entry. Default: worker.ts next to this file (from source) — a bundler that emits
   * the entry as its own file passes that file's URL here.
   */
  entry?: URL;
}

interface Job {
  resolve: (r: GenerateResult) => void;
  reject: (e: Error) => void;
  hooks: GenerateHooks;
  detach: () => void;
}

export class EngineWorker {
  private readonly worker: Worker;
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;
  private exited = false;
  private closing?: Promise<void>;

  constructor(options: EngineWorkerOptions = {}) {
    const { entry = new URL('./worker.ts', import.meta.url), onNotice, ...engineOptions } = options;
    const fromSource = entry.pathname.endsWith('.ts');
    // a .ts entry needs tsx's loader inside the worker thread (loaders are per thread)
    this.worker = fromSource
      ? new Worker(new URL('./tsx-worker.mjs', import.meta.url), { workerData: { entryUrl: entry.href, engineOptions } })
      : new Worker(fileURLToPath(entry), { workerData: { engineOptions } });
    this.worker.on('message', (m: EngineMessage) => this.onMessage(m, onNotice));
    this.worker.on('error', (e) => this.failAll(new ChordError('RUNTIME', `The engine stopped: ${e.message}`, 'Run with CHORD_DEBUG=1 for details.', { cause: e })));
    this.worker.on('exit', (code) => {
      this.exited = true;
      this.failAll(new ChordError('RUNTIME', `The engine stopped unexpectedly (exit code ${code}).`, 'Run with CHORD_DEBUG=1 for details.'));
    });
  }

  private onMessage(m: EngineMessage, onNotice?: (n: EngineNotice) => void): void {
    switch (m.type) {
      case 'progress':
        this.jobs.get(m.id)?.hooks.onProgress?.(m.progress);
        break;
      case 'result':
        this.settle(m.id)?.resolve(m.result);
        break;
      case 'error':
        this.settle(m.id)?.reject(deserializeError(m.error));
        break;
      case 'notice':
        onNotice?.(m.notice);
        break;
      case 'ready':
      case 'closed':
        break;
    }
  }

  private settle(id: number): Job | undefined {
    const job = this.jobs.get(id);
    if (job) {
      this.jobs.delete(id);
      job.detach();
    }
    return job;
  }

  private failAll(error: Error): void {
    for (const id of [...this.jobs.keys()]) this.settle(id)?.reject(error);
  }

  private post(m: HostMessage): void {
    this.worker.postMessage(m);
  }

  /** Generates and saves images; cancelling `hooks.signal` stops between steps (CANCELLED). */
  generate(request: GenerateRequest, hooks: GenerateHooks = {}): Promise<GenerateResult> {
    if (this.exited || this.closing) return Promise.reject(new ChordError('RUNTIME', 'The engine is closed.'));
    if (hooks.signal?.aborted) return Promise.reject(new ChordError('CANCELLED', 'Generation cancelled.'));
    const id = this.nextId++;
    return new Promise<GenerateResult>((resolve, reject) => {
      const onAbort = () => this.post({ type: 'cancel', id });
      hooks.signal?.addEventListener('abort', onAbort, { once: true });
      this.jobs.set(id, { resolve, reject, hooks, detach: () => hooks.signal?.removeEventListener('abort', onAbort) });
      this.post({ type: 'generate', id, request });
    });
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
