/** The LoRA stack: which LoRAs the next image uses, in order, each with its weight, and the method. */
import type { LoraEntry } from '../../shared/api';

export interface StackItem {
  lora: LoraEntry;
  weight: number;
}

export class StackStore {
  items = $state<StackItem[]>([]);
  /** Composition method name (AppInfo.engine.methods) and its options; options left out use defaults. */
  method = $state('merge');
  methodOptions = $state<Record<string, number | boolean>>({});

  /** Batch grid: further methods each Generate also queues (with their default options). */
  alsoMethods = $state<string[]>([]);

  chooseMethod(name: string, options: Record<string, number | boolean> = {}): void {
    this.method = name;
    this.methodOptions = { ...options };
    this.alsoMethods = this.alsoMethods.filter((m) => m !== name);
  }

  toggleAlso(name: string, on: boolean): void {
    this.alsoMethods = on ? [...new Set([...this.alsoMethods, name])] : this.alsoMethods.filter((m) => m !== name);
  }

  /** The methods one Generate queues: the chosen one with its options, then the others. */
  methods(): { name: string; options?: Record<string, number | boolean> }[] {
    return [{ name: this.method, options: { ...this.methodOptions } }, ...this.alsoMethods.filter((m) => m !== this.method).map((name) => ({ name }))];
  }

  has(id: string): boolean {
    return this.items.some((i) => i.lora.id === id);
  }

  /** Adds a LoRA (once) at `index`, default the end. */
  add(lora: LoraEntry, index = this.items.length, weight = 1): void {
    if (this.has(lora.id) || lora.missing) return;
    const at = Math.max(0, Math.min(index, this.items.length));
    this.items.splice(at, 0, { lora, weight });
  }

  remove(id: string): void {
    this.items = this.items.filter((i) => i.lora.id !== id);
  }

  /** Moves the item at `from` to `to` (indices in the current order). */
  move(from: number, to: number): void {
    if (from === to || from < 0 || from >= this.items.length) return;
    const target = Math.max(0, Math.min(to, this.items.length - 1));
    const [item] = this.items.splice(from, 1);
    this.items.splice(target, 0, item);
  }

  moveBy(id: string, offset: number): void {
    const i = this.items.findIndex((x) => x.lora.id === id);
    if (i >= 0) this.move(i, i + offset);
  }

  setWeight(id: string, weight: number): void {
    const item = this.items.find((i) => i.lora.id === id);
    if (item) item.weight = weight;
  }

  /** Trigger words of the stacked LoRAs that the prompt does not contain yet. */
  missingTriggerWords(prompt: string): string[] {
    const lower = prompt.toLowerCase();
    const words = this.items.flatMap((i) => i.lora.triggerWords);
    return [...new Set(words)].filter((w) => !lower.includes(w.toLowerCase()));
  }

  /** Keeps stacked cards in step with the library (edits, removals, a file gone missing). */
  sync(loras: LoraEntry[]): void {
    this.items = this.items.flatMap((i) => {
      const now = loras.find((l) => l.id === i.lora.id);
      return now ? [{ lora: now, weight: i.weight }] : [];
    });
  }
}
