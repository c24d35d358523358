/**
 * The window's state and what the user can do with it. Components read the stores and call the
 * session's methods; it talks to the engine only through the API client it is given.
 */
import type { AppInfo, FrequencyClass, GalleryImage, ModelSummary, SpectraResult } from '../../shared/api';
import { describeError } from './describe';
import { engineNote, stackOrder } from './reuse';
import { CompareStore } from './compare.svelte';
import { restoreWorkspace } from './remember';
import { JobsStore } from './jobs.svelte';
import { LibraryStore } from './library.svelte';
import { RegionsStore } from './regions.svelte';
import { SettingsStore } from './settings.svelte';
import { formatDh, highFrequencyNames, reorderByIds, shownClass } from './spectra';
import { SpectraStore } from './spectra.svelte';
import { StackStore } from './stack.svelte';
import type { ChordClient } from './transport';

export class ChordSession {
  info = $state<AppInfo | undefined>();
  models = $state<ModelSummary[]>([]);
  /** One line about what is happening now, or what went wrong. */
  status = $state('Connecting…');
  /** The engine's last notice (e.g. it ran on the CPU instead of the chosen provider). */
  notice = $state<string | undefined>();
  /** Everything is loaded (the workspace is saved from then on). */
  ready = $state(false);

  readonly library: LibraryStore;
  readonly stack = new StackStore();
  readonly settings = new SettingsStore();
  readonly jobs = new JobsStore();
  readonly compare: CompareStore;
  readonly spectra: SpectraStore;
  /** The region editor's boxes, sent with the regional methods. */
  readonly regions = new RegionsStore();

  readonly #api: ChordClient;
  /** The stack's LoRA ids as the last Frequency order left them (a class change then re-sorts). */
  #frequencyOrdered = $state<string[]>([]);
  /** Measurements run one after another (the engine would serve them in turn anyway). */
  #measuring: Promise<void> = Promise.resolve();

  constructor(api: ChordClient) {
    this.#api = api;
    this.library = new LibraryStore(api);
    this.compare = new CompareStore(api, this.settings, this.stack);
    this.spectra = new SpectraStore(api);
  }

  async start(): Promise<void> {
    this.#api.onJobEvent((event) => {
      if (event.type === 'notice') {
        this.notice = event.message;
        return;
      }
      if (event.type === 'comparison') {
        this.compare.onEvent(event.comparison);
        return;
      }
      if (event.type === 'spectra') {
        this.spectra.onProgress(event);
        const name = this.library.byId(event.loraId)?.name ?? 'a LoRA';
        const where = event.loras > 1 ? ` (${event.lora + 1} of ${event.loras})` : '';
        this.status = event.images > 0 ? `Measuring ${name}${where}: image ${event.image} of ${event.images}…` : `Measuring ${name}${where}…`;
        return;
      }
      const line = this.jobs.onEvent(event);
      if (line) this.status = line;
    });
    try {
      this.info = await this.#api.getInfo();
      this.models = await this.#api.listModels();
      const first = this.models[0];
      if (first) this.settings.useModel(first);
      await this.library.refresh();
      this.jobs.queue = await this.#api.listQueue();
      this.jobs.gallery = await this.#api.listGallery();
      await this.compare.refresh();
      restoreWorkspace(this);
      this.ready = true;
      this.status = this.models.length > 0 ? 'Ready.' : 'No model found yet: add a model folder to generate.';
    } catch (error) {
      this.status = describeError(error);
    }
  }

  /** Adds a model folder on the host by its path; true when it was added. */
  async addModel(path: string): Promise<boolean> {
    try {
      const model = await this.#api.addModel(path.trim());
      this.models = await this.#api.listModels();
      this.settings.useModel(model);
      this.status = `Model ${model.name} added (${model.width}×${model.height}).`;
      return true;
    } catch (error) {
      this.status = describeError(error);
      return false;
    }
  }

  chooseModel(id: string): void {
    const model = this.models.find((m) => m.id === id);
    if (model) this.settings.useModel(model);
  }

  async generate(): Promise<void> {
    if (!this.settings.modelId) {
      this.status = 'No model found yet: add a model folder to generate.';
      return;
    }
    const loras = this.stack.items.map((i) => ({ path: i.lora.path, weight: i.weight }));
    // the batch grid: prompts x methods, each job a batch of seeds
    const prompts = this.settings.prompts();
    const methods = $state.snapshot(this.stack.methods());
    // the regional methods take the editor's boxes; a rule they break stops here, next to them
    const isRegional = (name: string) => this.info?.engine.methods.find((m) => m.name === name)?.regional === true;
    const regional = methods.filter((m) => isRegional(m.name));
    if (regional.length > 0) {
      const problem = this.regions.items.length === 0 ? 'Draw at least one box in the region editor for the regional method.' : this.regions.problems[0];
      if (problem) {
        this.jobs.lastError = problem;
        this.status = problem;
        return;
      }
    }
    const regions = regional.length > 0 ? this.regions.request() : [];
    let queued = 0;
    try {
      for (const prompt of prompts) {
        for (const method of methods) {
          await this.#api.generate({ ...this.settings.request(loras), prompt, method, ...this.#stackOrder(), ...(isRegional(method.name) ? { regions } : {}) });
          queued++;
        }
      }
      this.settings.afterQueued();
      this.jobs.lastError = undefined;
      this.status = queued > 1 ? `Queued ${queued} jobs.` : this.jobs.queue.length > 0 ? 'Queued.' : 'Starting…';
    } catch (error) {
      this.jobs.lastError = queued > 0 ? `${describeError(error)} (${queued} job${queued === 1 ? ' was' : 's were'} queued before that)` : describeError(error);
      this.status = this.jobs.lastError;
    }
  }

  /**
   * The method takes the LoRAs in the stack's order, and the classes the cards show travel along,
   * so the engine splits them into H and L as the window does (when every LoRA has one).
   */
  #stackOrder(): { order?: string; highFrequency?: string[] } {
    if (this.stack.items.length === 0) return {};
    const highFrequency = highFrequencyNames(this.stack.items.map((i) => i.lora), this.settings.modelId);
    return { order: 'user', ...(highFrequency ? { highFrequency } : {}) };
  }

  /**
   * Measures LoRAs' frequency profiles on the chosen model (after any measurement under way); the
   * library remembers the classes. Undefined when it could not (the status line says why).
   */
  measure(ids: string[]): Promise<SpectraResult | undefined> {
    const run = this.#measuring.then(() => this.#measureNow(ids));
    this.#measuring = run.then(() => undefined);
    return run;
  }

  async #measureNow(ids: string[]): Promise<SpectraResult | undefined> {
    const model = this.settings.modelId;
    if (!model) {
      this.status = 'No model found yet: add a model folder to measure LoRAs on.';
      return undefined;
    }
    if (ids.length === 0) return undefined;
    try {
      const result = await this.spectra.measure(model, ids);
      await this.library.refresh();
      this.stack.sync(this.library.loras);
      const made = result.loras.filter((l) => !l.cached).length;
      // the class each card shows: the user's where set
      const list = result.loras
        .map((l) => {
          const set = this.library.byId(l.loraId)?.classOverride;
          return set ? `${l.name} ${set} (set by you; measured ${l.class}, dH ${formatDh(l.dH)})` : `${l.name} ${l.class} (dH ${formatDh(l.dH)})`;
        })
        .join(', ');
      this.status = `${made > 0 ? 'Measured' : 'Frequency classes'} over ${result.pairs} image pair${result.pairs === 1 ? '' : 's'}: ${list}.`;
      return result;
    } catch (error) {
      this.status = describeError(error);
      return undefined;
    }
  }

  /** Opens the spectra plot of the stack's LoRAs (measuring those not measured yet). */
  async openSpectra(): Promise<void> {
    this.spectra.open = true;
    const result = await this.measure(this.stack.items.map((i) => i.lora.id));
    if (result) this.spectra.result = result;
  }

  /** Sorts the stack as the engine's `freq` rule does, with the user's classes; measures first where needed. */
  async frequencyOrder(): Promise<void> {
    const ids = this.stack.items.map((i) => i.lora.id);
    if (ids.length === 0) {
      this.status = 'The stack is empty: add LoRAs to order them.';
      return;
    }
    const result = await this.measure(ids);
    if (!result) return;
    this.spectra.result = result;
    this.stack.items = reorderByIds(this.stack.items, (i) => i.lora.id, result.frequencyOrder);
    this.#frequencyOrdered = this.stack.items.map((i) => i.lora.id);
    const model = this.settings.modelId;
    this.status = `Stack in frequency order: ${this.stack.items.map((i) => `${i.lora.name} (${shownClass(i.lora, model).class ?? '?'})`).join(', ')}.`;
  }

  /** Whether the stack is as the last Frequency order left it (CMLoRA runs the stack's order). */
  get stackInFrequencyOrder(): boolean {
    return this.#frequencyOrdered.length > 0 && this.#frequencyOrdered.join() === this.stack.items.map((i) => i.lora.id).join();
  }

  /** The user's class for a LoRA (null: the measured one); a stack left in frequency order follows it. */
  async setClassOverride(id: string, value: FrequencyClass | null): Promise<void> {
    const ordered = this.stackInFrequencyOrder;
    await this.#try(async () => {
      await this.library.setClassOverride(id, value);
      this.stack.sync(this.library.loras);
      const name = this.library.byId(id)?.name ?? 'The LoRA';
      this.status = value ? `${name} is class ${value} now (set by you).` : `${name} takes its measured class again.`;
    });
    if (ordered && this.stack.has(id)) await this.frequencyOrder();
  }

  /** Cancels the running job (Esc), or a queued one by id. */
  async cancel(jobId = this.jobs.running?.jobId): Promise<void> {
    if (!jobId) return;
    this.jobs.cancelling = [...this.jobs.cancelling, jobId];
    await this.#try(() => this.#api.cancel(jobId));
  }

  moveJob(jobId: string, offset: -1 | 1): Promise<void> {
    return this.#try(() => this.#api.moveJob(jobId, offset));
  }

  async deleteImage(image: GalleryImage): Promise<void> {
    await this.#try(async () => {
      await this.#api.deleteImage(image.name);
      this.jobs.gallery = this.jobs.gallery.filter((g) => g.name !== image.name);
      this.status = `Deleted ${image.name}.`;
    });
  }

  revealImage(image: GalleryImage): Promise<void> {
    return this.#try(() => this.#api.revealImage(image.name));
  }

  /** Every setting of a gallery image back in the form, its LoRAs in the stack. */
  reuse(image: GalleryImage): void {
    if (!image.settings) {
      this.status = `${image.name} holds no settings to reuse.`;
      return;
    }
    this.#applySettings(image.settings, `Settings of ${image.name} restored.`);
  }

  async addLoraFiles(files: File[]): Promise<void> {
    this.status = `Adding ${files.length} file${files.length === 1 ? '' : 's'}…`;
    this.status = await this.library.addFiles(files);
    this.stack.sync(this.library.loras);
    this.regions.sync(this.library.loras);
  }

  /** Settings from a dropped PNG (Chord's or A1111's). */
  async restoreFromPng(file: File): Promise<void> {
    await this.#try(async () => {
      const settings = await this.#api.imageSettings(new Uint8Array(await file.arrayBuffer()));
      this.#applySettings(settings, `Settings restored from ${file.name}.`);
    });
  }

  async removeLora(id: string): Promise<void> {
    await this.#try(async () => {
      await this.library.remove(id);
      this.stack.remove(id);
      this.regions.sync(this.library.loras);
    });
  }

  insertTriggerWords(): void {
    const words = this.stack.missingTriggerWords(this.settings.prompt);
    if (words.length === 0) return;
    const prompt = this.settings.prompt.trim();
    this.settings.prompt = prompt ? `${prompt}, ${words.join(', ')}` : words.join(', ');
  }

  #applySettings(settings: NonNullable<GalleryImage['settings']>, done: string): void {
    this.settings.apply(settings);
    if (settings.method && this.info?.engine.methods.some((m) => m.name === settings.method)) {
      this.stack.chooseMethod(settings.method, settings.methodOptions);
    }
    this.stack.items = [];
    const unknown: string[] = [];
    // LoRAs bound to a region go back to their box, the others to the stack
    const bound = new Set((settings.regions ?? []).flatMap((g) => g.loras));
    if (settings.regions) unknown.push(...this.regions.restore(settings, (path) => this.library.byPath(path)));
    // the stack in the order the method ran (the app sends the stack order), e.g. a compare cell's permutation
    for (const k of stackOrder(settings)) {
      const l = settings.loras[k];
      if (bound.has(k)) continue;
      const entry = l.path ? this.library.byPath(l.path) : undefined;
      if (entry) this.stack.add(entry, this.stack.items.length, l.weight);
      else unknown.push(l.name);
    }
    const note = engineNote(settings.engineVersion, this.info?.engine.version);
    const restored = note ? `${done} ${note}` : done;
    this.status = unknown.length > 0 ? `${restored} Not in the library: ${unknown.join(', ')}; add those files to use them.` : restored;
  }

  async #try(work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.status = describeError(error);
    }
  }
}
