/** The queue, the running job's progress and the gallery, kept current from the job events. */
import { ApiError, type GalleryImage, type JobEvent, type JobPhase, type QueuedJob } from '../../shared/api';

export interface Progress {
  jobId: string;
  image: number;
  images: number;
  phase: JobPhase;
  step: number;
  steps: number;
  /** since the job started, by this page's clock */
  elapsedMs: number;
  /** estimate for the rest of the job; undefined until a step has been timed */
  remainingMs?: number;
  preview?: string;
}

export class JobsStore {
  queue = $state<QueuedJob[]>([]);
  progress = $state<Progress | undefined>();
  gallery = $state<GalleryImage[]>([]);
  /** The image the gallery shows large, by name. */
  selected = $state<string | undefined>();
  /** The last job's error, next to the progress bar (what caused it: the settings shown). */
  lastError = $state<string | undefined>();
  /** Job ids this page asked to cancel (the button shows "Cancelling…"). */
  cancelling = $state<string[]>([]);

  readonly running = $derived(this.queue.find((j) => j.state === 'running'));
  readonly selectedImage = $derived(this.gallery.find((g) => g.name === this.selected) ?? this.gallery[0]);

  #startedAt = new Map<string, number>();

  /** Applies one event; returns a line for the status bar when something finished. */
  onEvent(event: JobEvent): string | undefined {
    switch (event.type) {
      case 'queue':
        this.queue = event.jobs;
        return undefined;
      case 'progress': {
        const now = performance.now();
        if (!this.#startedAt.has(event.jobId)) this.#startedAt.set(event.jobId, now - event.elapsedMs);
        const elapsedMs = now - (this.#startedAt.get(event.jobId) ?? now);
        let remainingMs: number | undefined;
        if (event.phase === 'denoising' && event.step > 0) {
          const perStep = event.elapsedMs / event.step;
          const imageLeft = perStep * (event.steps - event.step);
          remainingMs = imageLeft + perStep * event.steps * (event.images - event.image - 1);
        }
        const preview = event.preview ?? (this.progress?.jobId === event.jobId && this.progress.image === event.image ? this.progress.preview : undefined);
        this.progress = { ...event, elapsedMs, remainingMs, preview };
        this.lastError = undefined;
        return undefined;
      }
      case 'image':
        this.gallery = [event.item, ...this.gallery.filter((g) => g.name !== event.item.name)];
        this.selected = event.item.name;
        return undefined;
      case 'done':
      case 'cancelled':
      case 'failed': {
        const started = this.#startedAt.get(event.jobId);
        this.#startedAt.delete(event.jobId);
        this.cancelling = this.cancelling.filter((id) => id !== event.jobId);
        if (this.progress?.jobId === event.jobId) this.progress = undefined;
        if (event.type === 'failed') {
          this.lastError = new ApiError(event.error).userText();
          return this.lastError;
        }
        if (event.type === 'cancelled') return 'Cancelled.';
        return started === undefined ? 'Done.' : `Done in ${((performance.now() - started) / 1000).toFixed(1)} s.`;
      }
    }
  }
}
