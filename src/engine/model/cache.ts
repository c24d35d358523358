/**
 * Opened models kept for reuse, so a second generation on the same model (and provider) skips
 * session creation, which takes seconds for SD 1.5. Least recently used models are released
 * beyond `capacity`: each holds its weights in (GPU) memory.
 */
import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type Model, openModel, type OpenModelOptions } from './model';

export class ModelCache {
  private readonly models = new Map<string, Promise<Model>>();

  constructor(
    private readonly options: Omit<OpenModelOptions, 'provider'>,
    private readonly capacity = 2,
  ) {}

  async get(dir: string, provider: OpenModelOptions['provider'] = 'auto'): Promise<Model> {
    const real = await realpath(dir).catch(() => resolve(dir));
    const key = `${real}\u0000${provider}`;
    let model = this.models.get(key);
    if (model) {
      // most recently used last
      this.models.delete(key);
      this.models.set(key, model);
      return model;
    }
    model = openModel(dir, { ...this.options, provider });
    this.models.set(key, model);
    model.catch(() => this.models.delete(key));
    while (this.models.size > this.capacity) {
      const [oldest, evicted] = this.models.entries().next().value as [string, Promise<Model>];
      this.models.delete(oldest);
      void evicted.then((m) => m.release(), () => undefined);
    }
    return model;
  }

  async release(): Promise<void> {
    const all = [...this.models.values()];
    this.models.clear();
    await Promise.all(all.map((m) => m.then((x) => x.release(), () => undefined)));
  }
}
