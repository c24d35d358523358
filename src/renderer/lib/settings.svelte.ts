/** The generation settings form: what the next Generate sends (besides the stack). */
import { DEFAULTS, LIMITS, PROVIDERS, SAMPLERS, type GenerateRequestInput, type ImageSettings, type ModelSummary, type Provider, type Sampler } from '../../shared/api';

export type SeedMode = 'random' | 'fixed' | 'increment';

export class SettingsStore {
  prompt = $state('');
  negativePrompt = $state('');
  seedMode = $state<SeedMode>('random');
  seed = $state(1);
  steps = $state<number>(DEFAULTS.steps);
  cfg = $state<number>(DEFAULTS.cfg);
  sampler = $state<Sampler>(DEFAULTS.sampler);
  width = $state(64);
  height = $state(64);
  batchCount = $state<number>(DEFAULTS.batchCount);
  modelId = $state('');
  provider = $state<Provider>('auto');
  /** Batch grid: each non-empty line of the prompt is a job of its own. */
  promptPerLine = $state(false);

  /** The prompts one Generate queues. */
  prompts(): string[] {
    if (!this.promptPerLine) return [this.prompt];
    const lines = this.prompt.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
    return lines.length > 0 ? lines : [''];
  }

  readonly samplers = SAMPLERS;
  readonly providers = PROVIDERS;
  readonly limits = LIMITS;

  /** Picks a model and its own size (the size a model was trained at is the one it draws best). */
  useModel(model: ModelSummary): void {
    this.modelId = model.id;
    this.width = model.width;
    this.height = model.height;
  }

  request(loras: { path: string; weight: number }[]): GenerateRequestInput {
    const request: GenerateRequestInput = {
      prompt: this.prompt,
      negativePrompt: this.negativePrompt,
      model: this.modelId,
      loras,
      steps: this.steps,
      cfg: this.cfg,
      sampler: this.sampler,
      width: this.width,
      height: this.height,
      batchCount: this.batchCount,
      provider: this.provider,
    };
    if (this.seedMode !== 'random') request.seed = this.seed;
    return request;
  }

  /** After a Generate: an incrementing seed moves past the images just queued. */
  afterQueued(): void {
    if (this.seedMode === 'increment') this.seed += this.batchCount;
  }

  /** Takes every setting an image carries; its seed becomes a fixed seed. */
  apply(s: ImageSettings): void {
    this.prompt = s.prompt;
    this.negativePrompt = s.negativePrompt;
    if (s.steps !== undefined) this.steps = s.steps;
    if (s.cfg !== undefined) this.cfg = s.cfg;
    if (s.sampler !== undefined) this.sampler = s.sampler;
    if (s.width !== undefined) this.width = s.width;
    if (s.height !== undefined) this.height = s.height;
    if (s.seed !== undefined) {
      this.seed = s.seed;
      this.seedMode = 'fixed';
    }
    this.batchCount = 1;
  }
}
