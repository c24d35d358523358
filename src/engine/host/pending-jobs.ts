/**
 * The generation requests a host has sent to an engine running elsewhere (a worker thread or a
 * process), matched with the engine's messages: progress to its hooks, the result or error to
 * its promise, cancellation from its signal to the engine.
 */
import { ChordError } from '../errors';
import type { EngineNotice } from '../model/session';
import type { GenerateHooks, GenerateRequest, GenerateResult } from './engine';
import { deserializeError, type EngineMessage, type HostMessage } from './protocol';

interface Job {
  resolve: (r: GenerateResult) => void;
  reject: (e: Error) => void;
  hooks: GenerateHooks;
  detach: () => void;
}

export class PendingJobs {
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;

  constructor(private readonly onNotice?: (notice: EngineNotice) => void) {}

  /** Sends a request through `post`; cancelling `hooks.signal` sends a cancel for it. */
  start(request: GenerateRequest, hooks: GenerateHooks, post: (m: HostMessage) => void): Promise<GenerateResult> {
    if (hooks.signal?.aborted) return Promise.reject(new ChordError('CANCELLED', 'Generation cancelled.'));
    const id = this.nextId++;
    return new Promise<GenerateResult>((resolve, reject) => {
      const onAbort = () => post({ type: 'cancel', id });
      hooks.signal?.addEventListener('abort', onAbort, { once: true });
      this.jobs.set(id, { resolve, reject, hooks, detach: () => hooks.signal?.removeEventListener('abort', onAbort) });
      post({ type: 'generate', id, request });
    });
  }

  /** A message from the engine. */
  handle(m: EngineMessage): void {
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
        this.onNotice?.(m.notice);
        break;
      case 'ready':
      case 'closed':
        break;
    }
  }

  /** Every request still waiting fails with `error` (the engine stopped or is closing). */
  failAll(error: Error): void {
    for (const id of [...this.jobs.keys()]) this.settle(id)?.reject(error);
  }

  private settle(id: number): Job | undefined {
    const job = this.jobs.get(id);
    if (job) {
      this.jobs.delete(id);
      job.detach();
    }
    return job;
  }
}
