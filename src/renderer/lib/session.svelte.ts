/**
 * The window's state and what the user can do with it. Components read it and call its methods;
 * it talks to the engine only through the `ChordApi` it is given.
 */
import { ApiError, type AppInfo, type ChordApi, type JobEvent, type ModelSummary } from '../../shared/api';

export interface GalleryImage {
  jobId: string;
  image: number;
  seed: number;
  url: string;
}

const FINISHED = { done: 'Done.', cancelled: 'Cancelled.' } as const;

export class ChordSession {
  info = $state<AppInfo | undefined>();
  models = $state<ModelSummary[]>([]);
  prompt = $state('');
  images = $state<GalleryImage[]>([]);
  /** One line about what is happening now, or what went wrong. */
  status = $state('Connecting…');
  runningJob = $state<string | undefined>();

  readonly #api: ChordApi;

  constructor(api: ChordApi) {
    this.#api = api;
  }

  async start(): Promise<void> {
    this.#api.onJobEvent((event) => this.#onJobEvent(event));
    try {
      this.info = await this.#api.getInfo();
      this.models = await this.#api.listModels();
      this.status = this.models.length > 0 ? 'Ready.' : 'No model found yet: add a model folder to generate.';
    } catch (error) {
      this.status = describe(error);
    }
  }

  async generate(): Promise<void> {
    const model = this.models[0];
    if (!model) {
      this.status = 'No model found yet: add a model folder to generate.';
      return;
    }
    try {
      const { jobId } = await this.#api.generate({ prompt: this.prompt, model: model.id });
      this.runningJob = jobId;
      this.status = 'Queued…';
    } catch (error) {
      this.status = describe(error);
    }
  }

  async cancel(): Promise<void> {
    if (!this.runningJob) return;
    try {
      await this.#api.cancel(this.runningJob);
    } catch (error) {
      this.status = describe(error);
    }
  }

  #onJobEvent(event: JobEvent): void {
    switch (event.type) {
      case 'progress':
        this.status =
          event.phase === 'denoising'
            ? `Image ${event.image + 1}: step ${event.step} of ${event.steps}`
            : `Image ${event.image + 1}: ${event.phase}…`;
        break;
      case 'image':
        this.images.unshift({ jobId: event.jobId, image: event.image, seed: event.seed, url: event.url });
        break;
      case 'done':
      case 'cancelled':
      case 'failed':
        if (this.runningJob === event.jobId) this.runningJob = undefined;
        this.status = event.type === 'failed' ? new ApiError(event.error).userText() : FINISHED[event.type];
        break;
    }
  }
}

function describe(error: unknown): string {
  if (error instanceof ApiError) return error.userText();
  return error instanceof Error ? error.message : String(error);
}
