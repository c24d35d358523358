/**
 * The compare view's state: what the user ticked (orderings, methods), the comparisons the host
 * keeps (comparisons.json, so they survive a reload), which one is shown and which cell is open.
 * The host sends a comparison again whenever one of its cells settles; the running cell's step
 * comes from the ordinary progress events (JobsStore).
 */
import type { CompareOrder, Comparison, ComparisonRequestInput } from '../../shared/api';
import { describeError } from './describe';
import type { SettingsStore } from './settings.svelte';
import type { StackStore } from './stack.svelte';
import type { ChordClient } from './transport';

const KEY = 'chord.compare';

export type View = 'generate' | 'compare';

interface Saved {
  view: View;
  orders: CompareOrder[];
  methods: string[] | null;
  currentId: string;
}

export class CompareStore {
  /** Which view the window shows. */
  view = $state<View>('generate');
  orders = $state<CompareOrder[]>(['freq', 'reverse', 'user']);
  /** Ticked method names; null until the user ticks one: the stack's method. */
  methods = $state<string[] | null>(null);
  /** Newest first. */
  comparisons = $state<Comparison[]>([]);
  currentId = $state<string | undefined>();
  /** The open cell (index into cells). */
  openCell = $state<number | undefined>();
  /** The last refusal or failure, one line. */
  problem = $state<string | undefined>();
  starting = $state(false);
  exporting = $state(false);

  readonly current = $derived(this.comparisons.find((c) => c.id === this.currentId) ?? this.comparisons[0]);

  readonly #api: ChordClient;
  readonly #settings: SettingsStore;
  readonly #stack: StackStore;

  constructor(api: ChordClient, settings: SettingsStore, stack: StackStore) {
    this.#api = api;
    this.#settings = settings;
    this.#stack = stack;
    this.#restore();
  }

  toggleOrder(order: CompareOrder, on: boolean): void {
    this.orders = on ? [...new Set([...this.orders, order])] : this.orders.filter((o) => o !== order);
    this.save();
  }

  toggleMethod(name: string, on: boolean): void {
    const now = this.chosenMethods();
    this.methods = on ? [...new Set([...now, name])] : now.filter((m) => m !== name);
    this.save();
  }

  /** The ticked methods; before the user ticked any: the stack's method. */
  chosenMethods(): string[] {
    return this.methods ?? [this.#stack.method];
  }

  show(view: View): void {
    this.view = view;
    this.save();
  }

  select(id: string): void {
    this.currentId = id;
    this.openCell = undefined;
    this.save();
  }

  async refresh(): Promise<void> {
    this.comparisons = await this.#api.listComparisons();
  }

  /** A comparison the host sent again (a cell settled, a grid was exported). */
  onEvent(comparison: Comparison): void {
    const i = this.comparisons.findIndex((c) => c.id === comparison.id);
    this.comparisons = i < 0 ? [comparison, ...this.comparisons] : this.comparisons.map((c) => (c.id === comparison.id ? comparison : c));
  }

  /** Queues every cell of a comparison of the stack, prompt and settings, at one seed. */
  async start(modelId: string): Promise<void> {
    this.problem = undefined;
    if (!modelId) {
      this.problem = 'No model found yet: add a model folder to compare.';
      return;
    }
    const loras = this.#stack.items.map((i) => ({ path: i.lora.path, weight: i.weight }));
    const settings = this.#settings.request(loras);
    delete settings.batchCount;
    // one seed for every cell, whatever the form's seed mode
    settings.seed = this.#settings.seed;
    const request: ComparisonRequestInput = {
      settings,
      orders: [...this.orders],
      methods: this.chosenMethods().map((name) => (name === this.#stack.method ? { name, options: { ...this.#stack.methodOptions } } : { name })),
    };
    this.starting = true;
    try {
      const c = await this.#api.startComparison(request);
      this.onEvent(c);
      this.select(c.id);
    } catch (error) {
      this.problem = describeError(error);
    } finally {
      this.starting = false;
    }
  }

  async exportGrid(c: Comparison): Promise<void> {
    this.problem = undefined;
    this.exporting = true;
    try {
      const grid = await this.#api.exportComparison(c.id);
      this.comparisons = this.comparisons.map((x) => (x.id === c.id ? { ...x, grid } : x));
    } catch (error) {
      this.problem = describeError(error);
    } finally {
      this.exporting = false;
    }
  }

  async remove(c: Comparison): Promise<void> {
    try {
      await this.#api.deleteComparison(c.id);
      this.comparisons = this.comparisons.filter((x) => x.id !== c.id);
      this.openCell = undefined;
      this.currentId = this.comparisons[0]?.id;
      this.save();
    } catch (error) {
      this.problem = describeError(error);
    }
  }

  save(): void {
    const saved: Saved = { view: this.view, orders: [...this.orders], methods: this.methods ? [...this.methods] : null, currentId: this.currentId ?? '' };
    try {
      localStorage.setItem(KEY, JSON.stringify(saved));
    } catch {
      // storage full or disabled: the choice is simply not remembered
    }
  }

  #restore(): void {
    let saved: Partial<Saved>;
    try {
      saved = JSON.parse(localStorage.getItem(KEY) ?? '{}') as Partial<Saved>;
    } catch {
      return;
    }
    if (saved.view === 'generate' || saved.view === 'compare') this.view = saved.view;
    if (Array.isArray(saved.orders)) this.orders = saved.orders.filter((o): o is CompareOrder => ['freq', 'reverse', 'user', 'category', 'all'].includes(o));
    if (Array.isArray(saved.methods)) this.methods = saved.methods.filter((m) => typeof m === 'string');
    if (typeof saved.currentId === 'string' && saved.currentId) this.currentId = saved.currentId;
  }
}
