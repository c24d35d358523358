/** The LoRA library as the window shows it: cards, search, category filter, adding dropped files. */
import { LORA_CATEGORIES, type FrequencyClass, type LoraCategory, type LoraEntry, type LoraImport } from '../../shared/api';
import { describeError } from './describe';
import type { ChordClient } from './transport';

export type CategoryFilter = LoraCategory | 'all';

export class LibraryStore {
  loras = $state<LoraEntry[]>([]);
  search = $state('');
  category = $state<CategoryFilter>('all');
  /** Files the last drop could not add, each with its reason. */
  problems = $state<{ file: string; message: string }[]>([]);
  busy = $state(false);

  readonly visible = $derived(
    this.loras.filter((l) => {
      if (this.category !== 'all' && l.category !== this.category) return false;
      const q = this.search.trim().toLowerCase();
      if (!q) return true;
      return [l.name, l.baseModel, ...l.triggerWords].some((text) => text.toLowerCase().includes(q));
    }),
  );

  readonly categories = LORA_CATEGORIES;

  constructor(private readonly api: ChordClient) {}

  async refresh(): Promise<void> {
    this.loras = await this.api.listLoras();
  }

  byId(id: string): LoraEntry | undefined {
    return this.loras.find((l) => l.id === id);
  }

  byPath(path: string): LoraEntry | undefined {
    return this.loras.find((l) => l.path === path);
  }

  /** Adds dropped files; returns a one-line summary for the status line. */
  async addFiles(files: File[]): Promise<string> {
    this.busy = true;
    try {
      const result: LoraImport = await this.api.addLoraFiles(files);
      this.problems = result.failed;
      await this.refresh();
      const added = result.added.length;
      const parts = [];
      if (added > 0) parts.push(`Added ${added} LoRA${added === 1 ? '' : 's'}: ${result.added.map((l) => l.name).join(', ')}.`);
      if (result.failed.length > 0) parts.push(`${result.failed.length} file${result.failed.length === 1 ? '' : 's'} could not be added.`);
      return parts.join(' ');
    } catch (error) {
      const message = describeError(error);
      this.problems = files.map((f) => ({ file: f.name, message }));
      return message;
    } finally {
      this.busy = false;
    }
  }

  async setCategory(id: string, category: LoraCategory | null): Promise<void> {
    const updated = await this.api.updateLora(id, { category });
    this.loras = this.loras.map((l) => (l.id === id ? updated : l));
  }

  async setTriggerWords(id: string, text: string): Promise<void> {
    const updated = await this.api.updateLora(id, { triggerWords: text.split(',') });
    this.loras = this.loras.map((l) => (l.id === id ? updated : l));
  }

  async setClassOverride(id: string, classOverride: FrequencyClass | null): Promise<void> {
    const updated = await this.api.updateLora(id, { classOverride });
    this.loras = this.loras.map((l) => (l.id === id ? updated : l));
  }

  async remove(id: string): Promise<void> {
    await this.api.removeLora(id);
    this.loras = this.loras.filter((l) => l.id !== id);
  }

  dismissProblems(): void {
    this.problems = [];
  }
}
