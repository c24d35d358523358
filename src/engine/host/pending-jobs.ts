/**
 * The requests a host has sent to an engine running elsewhere (a worker thread or a process),
 * matched with the engine's messages: progress to its hooks, the result or error to its promise,
 * cancellation from its signal to the engine. Two kinds: generations and profile measurements.
 */
import { ChordError } from '../errors';
import type { EngineNotice } from '../model/session';
import type { GenerateHooks, GenerateRequest, GenerateResult } from './engine';
import type { ProfileHooks, ProfileRequest, ProfileResult } from './profiling';
import { deserializeError, type EngineMessage, type HostMessage } from './protocol';

interface Job {
  resolve: (r: unknown) => void;
  reject: (e: Error) => void;
  onProgress?: (progress: unknown) => void;
  detach: () => void;
}

export class PendingJobs {
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;

  constructor(private readonly onNotice?: (notice: EngineNotice) => void) {}

  /** Sends a request through `post`; cancelling `hooks.signal` sends a cancel for it. */
  start(request: GenerateRequest, hooks: GenerateHooks, post: (m: HostMessage) => void): Promise<GenerateResult> {
    return this.track((id) => ({ type: 'generate', id, request }), hooks.signal, hooks.onProgress as Job['onProgress'], post, 'Generation cancelled.');
  }

  /** The same for a profile measurement. */
  startProfile(request: ProfileRequest, hooks: ProfileHooks, post: (m: HostMessage) => void): Promise<ProfileResult> {
    return this.track((id) => ({ type: 'profile', id, request }), hooks.signal, hooks.onProgress as Job['onProgress'], post, 'Measuring cancelled.');
  }

  private track<R>(message: (id: number) => HostMessage, signal: AbortSignal | undefined, onProgress: Job['onProgress'], post: (m: HostMessage) => void, cancelled: string): Promise<R> {
    if (signal?.aborted) return Promise.reject(new ChordError('CANCELLED', cancelled));
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      const onAbort = () => post({ type: 'cancel', id });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.jobs.set(id, { resolve: resolve as (r: unknown) => void, reject, onProgress, detach: () => signal?.removeEventListener('abort', onAbort) });
      post(message(id));
    });
  }

  /** A message from the engine. */
  handle(m: EngineMessage): void {
    switch (m.type) {
      case 'progress':
      case 'profile-progress':
        this.jobs.get(m.id)?.onProgress?.(m.progress);
        break;
      case 'result':
      case 'profile-result':
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
