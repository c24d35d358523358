/**
 * What the app's window talks to, whichever way it is served (Electron main, `chord serve`): the
 * LoRA library, the batch queue, the gallery, and the engine that works through the queue.
 *
 * The queue is a file (`queue.json`, written atomically on every change), so it survives a restart
 * of the app or the server. Each image of a batch is its own engine request, and a job records how
 * many of its images are saved: a crash mid-job loses at most the image being made, and the job
 * continues with the next seed after a restart. A job's seed is fixed when it is queued.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { ChordError, isChordError } from '../errors';
import type { GenerateHooks, GenerateRequest, GenerateResult } from '../host/engine';
import type { ProfileHooks, ProfileRequest, ProfileResult } from '../host/profiling';
import { inspectModelFolder } from '../model/folder';
import { describeMethods, findMethod, resolveMethodOptions, type MethodDefinition } from '../pipeline/methods';
import { ENGINE_VERSION } from '../pipeline/record';
import { checkRegions } from '../pipeline/regional';
import type { PreviewImage } from '../pipeline/preview';
import { Comparisons, engineLoraName } from './comparisons';
import { Gallery, settingsFromPng, type LoraLookup } from './gallery';
import { JsonFile, readJsonFile } from './json-store';
import { LoraLibrary } from './library';
import { measureSpectra } from './spectra';
import type { AppComparisonRequest, AppGenerateRequest, AppInfo, AppRegionRequest, Comparison, ComparisonGrid, GalleryImage, ImageSettings, JobEvent, LoraEntry, LoraImport, LoraPatch, ModelSummary, QueuedJob, SpectraRequest, SpectraResult } from './types';

/** What runs the engine: a RestartingEngine (child or utility process) or an EngineWorker. */
export interface EngineRunner {
  generate(request: GenerateRequest, hooks?: GenerateHooks): Promise<GenerateResult>;
  close(): Promise<void>;
  /** measures LoRAs' frequency profiles (the spectra plot, the cards' classes) */
  profile(request: ProfileRequest, hooks?: ProfileHooks): Promise<ProfileResult>;
}

export interface StudioOptions {
  version: string;
  /** the app's data folder: library, queue, uploads, gallery */
  dataDir: string;
  /** folders holding model folders shipped with the app */
  bundledModelsDirs: string[];
  engine: EngineRunner;
  /** URLs the page loads images from (an HTTP route, or Electron's custom protocol) */
  urls: {
    image: (name: string) => string;
    loraPreview: (id: string) => string;
    /** an exported comparison grid; left out where the host serves none (the export then has no URL) */
    comparison?: (name: string) => string;
  };
  /** execution providers usable here, for the status line */
  providers: () => Promise<string[]>;
  /**
   * Shows a file in the system's file manager; left out where the window is not on the machine
   * that holds the files (a remote browser), and revealing then says so.
   */
  reveal?: (file: string) => Promise<void>;
  /** problems that are not a request's fault (a damaged queue file), for the host's log */
  onWarning?: (message: string) => void;
  /**
   * image pairs per LoRA when the window measures frequency profiles; default the profiler's
   * (16, what the threshold was chosen with: docs/spectral.md). Fewer are quicker and noisier.
   */
  profilePairs?: number;
}

type Listener = (event: JobEvent) => void;

function isQueuedJob(x: unknown): x is QueuedJob {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  const r = o.request as Record<string, unknown> | null;
  return typeof o.jobId === 'string' && typeof r === 'object' && r !== null && typeof r.prompt === 'string' && typeof r.model === 'string' && Number.isInteger(o.imagesDone);
}

export class Studio {
  readonly library: LoraLibrary;
  readonly gallery: Gallery;
  readonly comparisons: Comparisons;
  private jobs: QueuedJob[] = [];
  private readonly queueFile: JsonFile<{ jobs: QueuedJob[] }>;
  private userModels: string[] = [];
  private readonly modelsFile: JsonFile<{ models: string[] }>;
  private readonly listeners = new Set<Listener>();
  private running?: { jobId: string; abort: AbortController };
  private pumping = false;
  private closed = false;
  /** measurements under way, stopped on close */
  private readonly measuring = new Set<AbortController>();

  constructor(private readonly options: StudioOptions) {
    this.library = new LoraLibrary({ dataDir: options.dataDir, previewUrl: options.urls.loraPreview });
    this.gallery = new Gallery(join(options.dataDir, 'gallery'), options.urls.image);
    this.queueFile = new JsonFile(join(options.dataDir, 'queue.json'));
    this.modelsFile = new JsonFile(join(options.dataDir, 'models.json'));
    this.comparisons = new Comparisons({
      dataDir: options.dataDir,
      gallery: this.gallery,
      findLora: (l) => this.findLora(l),
      gridUrl: options.urls.comparison,
      emit: (e) => this.emit(e),
      onWarning: options.onWarning,
    });
    // the comparisons follow their cells' jobs through the same events the windows get
    this.onJobEvent((e) => this.comparisons.onJobEvent(e));
  }

  /** Passes an engine notice (a provider fallback, a LoRA partly applied) on to the windows. */
  notify(notice: { code: string; message: string }): void {
    this.emit({ type: 'notice', code: notice.code, message: notice.message });
  }

  /** Reads the library and the queue; jobs left from a previous run start again. */
  async start(): Promise<void> {
    await this.library.load(this.options.onWarning);
    this.userModels = (
      await readJsonFile(
        this.modelsFile.path,
        (x) => {
          const models = (x as { models?: unknown } | null)?.models;
          return Array.isArray(models) ? { models: models.filter((m): m is string => typeof m === 'string') } : undefined;
        },
        { models: [] },
        this.options.onWarning,
      )
    ).models;
    const saved = await readJsonFile(
      this.queueFile.path,
      (x) => {
        const jobs = (x as { jobs?: unknown } | null)?.jobs;
        return Array.isArray(jobs) ? { jobs: jobs.filter(isQueuedJob) } : undefined;
      },
      { jobs: [] },
      this.options.onWarning,
    );
    // a job that was running when the last run ended continues after its saved images
    // (a queue written before methods were chosen per job means merge)
    this.jobs = saved.jobs.map((j) => ({ ...j, state: 'queued', request: { ...j.request, method: j.request.method ?? { name: 'merge' }, provider: j.request.provider ?? 'auto' } }));
    await this.comparisons.load(this.jobs.map((j) => j.jobId));
    this.pump();
  }

  onJobEvent(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: JobEvent): void {
    for (const l of this.listeners) l(event);
  }

  /** Persists the queue, then tells the windows: a job they see is one a restart keeps. */
  private async queueChanged(): Promise<void> {
    const jobs = this.listQueueNow();
    await this.queueFile.write({ jobs });
    this.emit({ type: 'queue', jobs });
  }

  // ---- info ----

  async getInfo(): Promise<AppInfo> {
    // the regional methods get their boxes from the app's region editor
    const methods = describeMethods().map(({ name, label, summary, cost, options, presets, regional }) => ({ name, label, summary, cost, options: options.map((o) => ({ ...o })), presets, regional }));
    return { version: this.options.version, engine: { version: ENGINE_VERSION, providers: await this.options.providers(), methods } };
  }

  async listModels(): Promise<ModelSummary[]> {
    const models: ModelSummary[] = [];
    for (const dir of this.options.bundledModelsDirs) {
      let names: string[];
      try {
        names = (await readdir(dir)).sort();
      } catch {
        continue;
      }
      for (const name of names) {
        const folder = join(dir, name);
        if (!(await isFile(join(folder, 'model_index.json')))) continue;
        try {
          const m = await inspectModelFolder(folder);
          models.push({ id: m.dir, name: m.name, bundled: true, width: m.defaultWidth, height: m.defaultHeight });
        } catch (e) {
          this.options.onWarning?.(`Model folder ${folder} skipped: ${isChordError(e) ? e.userText() : String(e)}`);
        }
      }
    }
    for (const dir of this.userModels) {
      try {
        const m = await inspectModelFolder(dir);
        if (!models.some((x) => x.id === m.dir)) models.push({ id: m.dir, name: m.name, bundled: false, width: m.defaultWidth, height: m.defaultHeight });
      } catch (e) {
        // moved or broken since it was added: not offered, and said why
        this.options.onWarning?.(`Model folder ${dir} skipped: ${isChordError(e) ? e.userText() : String(e)}`);
      }
    }
    return models;
  }

  /** Adds a diffusers-ONNX folder after checking it; it is referenced where it is. */
  async addModel(path: string): Promise<ModelSummary> {
    const m = await inspectModelFolder(path);
    const known = await this.listModels();
    const same = known.find((x) => x.id === m.dir);
    if (same) return same;
    this.userModels.push(m.dir);
    await this.modelsFile.write({ models: this.userModels });
    return { id: m.dir, name: m.name, bundled: false, width: m.defaultWidth, height: m.defaultHeight };
  }

  async removeModel(id: string): Promise<void> {
    if (!this.userModels.includes(id)) return;
    this.userModels = this.userModels.filter((m) => m !== id);
    await this.modelsFile.write({ models: this.userModels });
  }

  // ---- library ----

  listLoras(): Promise<LoraEntry[]> {
    return this.library.list();
  }
  addLoras(paths: string[]): Promise<LoraImport> {
    return this.library.add(paths);
  }
  importLora(fileName: string, bytes: Uint8Array | AsyncIterable<Uint8Array>): Promise<LoraImport> {
    return this.library.importFile(fileName, bytes);
  }
  updateLora(id: string, patch: LoraPatch): Promise<LoraEntry> {
    return this.library.update(id, patch);
  }
  removeLora(id: string): Promise<void> {
    return this.library.remove(id);
  }

  private readonly findLora: LoraLookup = ({ name, sha256 }) =>
    (sha256 ? this.library.byHash(sha256) : undefined)?.path ?? this.library.byName(name)?.path ?? null;

  // ---- gallery ----

  listGallery(): Promise<GalleryImage[]> {
    return this.gallery.list(this.findLora);
  }
  deleteImage(name: string): Promise<void> {
    return this.gallery.delete(name);
  }
  async revealImage(name: string): Promise<void> {
    const file = this.gallery.fileOf(name);
    if (!file || !(await isFile(file))) throw new ChordError('FILE_NOT_FOUND', `${name} is not in the gallery any more.`);
    if (!this.options.reveal) {
      throw new ChordError('BAD_ARGUMENT', 'Chord cannot open a file manager for this window: the files are on the machine Chord runs on.', `The file is ${file}.`);
    }
    await this.options.reveal(file);
  }

  imageSettings(png: Uint8Array): Promise<ImageSettings> {
    return settingsFromPng(png, this.findLora);
  }

  // ---- queue ----

  private listQueueNow(): QueuedJob[] {
    return this.jobs.map((j) => ({ ...j, request: { ...j.request } }));
  }

  async listQueue(): Promise<QueuedJob[]> {
    return this.listQueueNow();
  }

  async generate(request: AppGenerateRequest): Promise<{ jobId: string }> {
    const [jobId] = await this.queueJobs([request]);
    return { jobId };
  }

  /** Checks every request, then queues them all (or none); `beforeQueued` learns the job ids first. */
  private async queueJobs(requests: AppGenerateRequest[], beforeQueued?: (jobIds: string[]) => Promise<void>): Promise<string[]> {
    if (this.closed) throw new ChordError('ENGINE_UNAVAILABLE', 'Chord is shutting down.');
    const jobs = requests.map((r): QueuedJob => {
      // a wrong method or option fails now, next to the settings that caused it, not in the queue
      const method = findMethod(r.method.name);
      const options = resolveMethodOptions(method, r.method.options);
      if (r.loras.length < method.minLoras) {
        throw new ChordError('BAD_ARGUMENT', `${method.label} needs at least ${method.minLoras} LoRA${method.minLoras === 1 ? '' : 's'} in the stack.`, 'Add LoRAs to the stack or choose Merge.');
      }
      checkRequestRegions(method, r.regions ?? []);
      // the seed is fixed now, so a job resumed after a restart makes the images it would have made
      const seed = r.seed ?? randomInt(0, 2 ** 32);
      return { jobId: randomUUID(), request: { ...r, method: { name: method.name, options }, seed }, state: 'queued', imagesDone: 0, createdAt: Date.now() };
    });
    await beforeQueued?.(jobs.map((j) => j.jobId));
    this.jobs.push(...jobs);
    await this.queueChanged();
    this.pump();
    return jobs.map((j) => j.jobId);
  }

  async cancel(jobId: string): Promise<void> {
    if (this.running?.jobId === jobId) {
      // the engine stops after the step it is computing; run() reports it
      this.running.abort.abort();
      return;
    }
    const before = this.jobs.length;
    this.jobs = this.jobs.filter((j) => j.jobId !== jobId);
    if (this.jobs.length !== before) {
      await this.queueChanged();
      this.emit({ type: 'cancelled', jobId });
    }
  }

  async moveJob(jobId: string, offset: -1 | 1): Promise<void> {
    const i = this.jobs.findIndex((j) => j.jobId === jobId);
    if (i < 0) return;
    const k = i + offset;
    // the running job stays first
    if (k < 0 || k >= this.jobs.length || this.jobs[k].state === 'running' || this.jobs[i].state === 'running') return;
    [this.jobs[i], this.jobs[k]] = [this.jobs[k], this.jobs[i]];
    await this.queueChanged();
  }

  /** Works through the queue, one job at a time, until it is empty. */
  private pump(): void {
    if (this.pumping || this.closed) return;
    this.pumping = true;
    void (async () => {
      try {
        for (let job = this.jobs[0]; job && !this.closed; job = this.jobs[0]) await this.run(job);
      } finally {
        this.pumping = false;
      }
    })();
  }

  private async run(job: QueuedJob): Promise<void> {
    const abort = new AbortController();
    this.running = { jobId: job.jobId, abort };
    job.state = 'running';
    await this.queueChanged();
    const images = job.request.batchCount;
    const baseSeed = job.request.seed ?? 0;
    let outcome: JobEvent;
    try {
      while (job.imagesDone < images) {
        const image = job.imagesDone;
        this.emit({ type: 'progress', jobId: job.jobId, image, images, phase: 'loading', step: 0, steps: job.request.steps, elapsedMs: 0 });
        const result = await this.options.engine.generate(this.engineRequest(job.request, baseSeed + image), {
          signal: abort.signal,
          onProgress: (p) => {
            void previewUrl(p.preview).then((preview) => {
              if (this.running?.jobId !== job.jobId) return;
              const phase = p.step >= p.total ? 'decoding' : 'denoising';
              this.emit({ type: 'progress', jobId: job.jobId, image, images, phase, step: p.step, steps: p.total, elapsedMs: p.elapsedMs, ...(preview ? { preview } : {}) });
            });
          },
        });
        job.imagesDone++;
        await this.queueFile.write({ jobs: this.jobs });
        const file = result.images[0]?.file;
        const item = file ? await this.gallery.item(file.slice(this.gallery.dir.length + 1), this.findLora) : undefined;
        if (item) this.emit({ type: 'image', jobId: job.jobId, image, item });
      }
      outcome = { type: 'done', jobId: job.jobId };
    } catch (e) {
      if (isChordError(e) && e.code === 'CANCELLED') outcome = { type: 'cancelled', jobId: job.jobId };
      else {
        const error = isChordError(e)
          ? { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) }
          : { code: 'INTERNAL', message: `Chord hit an unexpected problem: ${(e as Error)?.message ?? String(e)}`.split('\n')[0], hint: 'Please report it with the steps that led to it.' };
        outcome = { type: 'failed', jobId: job.jobId, error };
      }
    }
    this.running = undefined;
    if (this.closed && outcome.type === 'cancelled') return; // shutting down: the job stays queued
    this.jobs = this.jobs.filter((j) => j.jobId !== job.jobId);
    await this.queueChanged();
    this.emit(outcome);
  }

  private engineRequest(r: AppGenerateRequest, seed: number): GenerateRequest {
    return {
      model: r.model,
      prompt: r.prompt,
      negativePrompt: r.negativePrompt,
      loras: r.loras.map((l) => ({ path: l.path, weight: l.weight })),
      steps: r.steps,
      cfg: r.cfg,
      sampler: r.sampler,
      seed,
      width: r.width,
      height: r.height,
      batchCount: 1,
      method: { name: r.method.name, ...(r.method.options ? { options: { ...r.method.options } } : {}) },
      ...(r.order ? { order: r.order } : {}),
      ...(r.highFrequency ? { highFrequency: [...r.highFrequency] } : {}),
      provider: r.provider,
      ...(r.regions && r.regions.length > 0
        ? { regions: r.regions.map((g) => ({ box: [...g.box] as [number, number, number, number], prompt: g.prompt, negative: g.negative, loras: g.loras.map((l) => ({ path: l.path, weight: l.weight })) })) }
        : {}),
      output: { dir: this.gallery.dir },
      preview: true,
    };
  }

  // ---- compare view ----

  /** Queues every cell of a comparison as a job of its own (all or none). */
  async startComparison(request: AppComparisonRequest): Promise<Comparison> {
    const library = await this.library.list();
    // rows are labelled with the names the user sees on the cards
    const labels = request.settings.loras.map((l) => library.find((e) => e.path === l.path)?.name ?? engineLoraName(l.path));
    return this.comparisons.start(request, labels, (requests, beforeQueued) => this.queueJobs(requests, beforeQueued));
  }
  listComparisons(): Promise<Comparison[]> {
    return this.comparisons.list();
  }
  exportComparison(id: string): Promise<ComparisonGrid> {
    return this.comparisons.export(id);
  }
  deleteComparison(id: string): Promise<void> {
    return this.comparisons.delete(id);
  }

  // ---- spectra ----

  /** Frequency profiles of library LoRAs on a model, measured in the engine (or read from its cache). */
  async measureSpectra(request: SpectraRequest): Promise<SpectraResult> {
    if (this.closed) throw new ChordError('ENGINE_UNAVAILABLE', 'Chord is shutting down.');
    const abort = new AbortController();
    this.measuring.add(abort);
    try {
      return await measureSpectra(request, {
        library: this.library,
        engine: this.options.engine,
        pairs: this.options.profilePairs,
        signal: abort.signal,
        onProgress: (event) => this.emit(event),
      });
    } finally {
      this.measuring.delete(abort);
    }
  }

  /** Stops the running job (it stays queued and resumes next start) and the engine. */
  async close(): Promise<void> {
    this.closed = true;
    this.running?.abort.abort();
    for (const m of this.measuring) m.abort();
    await this.options.engine.close();
    await this.queueFile.write({ jobs: this.jobs.map((j) => ({ ...j, state: 'queued' as const })) });
  }
}

/** The engine's region rules, checked when a job is queued so that the error shows next to the boxes. */
function checkRequestRegions(method: MethodDefinition, regions: readonly AppRegionRequest[]): void {
  if (!method.regional) {
    if (regions.length > 0) throw new ChordError('BAD_ARGUMENT', `${method.label} does not use regions.`, 'Choose Regional (or Regional passes), or leave the boxes out.');
    return;
  }
  if (regions.length === 0) throw new ChordError('BAD_ARGUMENT', `${method.label} needs at least one region.`, 'Draw a box in the region editor, or choose another method.');
  checkRegions(regions.map((r) => ({ box: { x0: r.box[0], y0: r.box[1], x1: r.box[2], y1: r.box[3] }, prompt: r.prompt, negative: r.negative })));
}

/** A small PNG data URL of a latent preview, scaled up so the page need not smooth 8 pixels. */
async function previewUrl(preview: PreviewImage | undefined): Promise<string | undefined> {
  if (!preview) return undefined;
  const scale = Math.max(1, Math.floor(64 / Math.max(preview.width, preview.height)));
  const png = await sharp(Buffer.from(preview.rgb), { raw: { width: preview.width, height: preview.height, channels: 3 } })
    .resize(preview.width * scale, preview.height * scale, { kernel: 'nearest' })
    .png()
    .toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
