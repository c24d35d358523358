/**
 * The app's services with a stand-in engine: the queue is persisted and resumed after a restart
 * (continuing after the images already saved), jobs cancel and reorder, a crash of the engine
 * fails only the running job, wrong methods fail when queued, and the library reports files that
 * are not LoRAs one by one.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { app, ChordError, ENGINE_VERSION, RestartingEngine, type EngineChannel, type GenerateRequest, type GenerateResult, type HostMessage, type ProfileResult } from '../../src/engine';

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});
function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'chord-studio-'));
  roots.push(d);
  return d;
}

const MODEL = resolve(import.meta.dirname, '../../models/glyph-sd');
const LORAS = resolve(MODEL, 'loras');

/** An engine that makes no pictures: each request waits until released, then "saves" nothing. */
class FakeEngine implements app.EngineRunner {
  requests: GenerateRequest[] = [];
  private waiting: { resolve: (r: GenerateResult) => void; reject: (e: Error) => void }[] = [];

  generate(request: GenerateRequest, hooks: { signal?: AbortSignal } = {}): Promise<GenerateResult> {
    this.requests.push(request);
    return new Promise((resolvePromise, reject) => {
      hooks.signal?.addEventListener('abort', () => reject(new ChordError('CANCELLED', 'Generation cancelled.')));
      this.waiting.push({ resolve: resolvePromise, reject });
    });
  }
  finishOne(): void {
    this.waiting.shift()?.resolve({ images: [], model: { name: 'm', dir: MODEL, hash: '' }, provider: 'cpu', loras: [], timings: { loadModel: 0, loras: 0, total: 0 }, steps: [] } as unknown as GenerateResult);
  }
  crashOne(): void {
    this.waiting.shift()?.reject(new ChordError('RUNTIME', 'The image engine stopped unexpectedly (signal SIGSEGV) and was restarted; the image being made is lost.'));
  }
  async close(): Promise<void> {
    for (const w of this.waiting.splice(0)) w.reject(new ChordError('CANCELLED', 'closing'));
  }
  async profile(): Promise<ProfileResult> {
    throw new Error('not in this test (test/server/spectra.test.ts)');
  }
}

function studio(dir: string, engine: app.EngineRunner) {
  return new app.Studio({ version: '0', dataDir: dir, bundledModelsDirs: [resolve(MODEL, '..')], engine, urls: { image: (n) => `/images/${n}`, loraPreview: (id) => `/p/${id}` }, providers: async () => ['cpu'] });
}

const request = (prompt: string, batchCount = 1): app.AppGenerateRequest => ({
  prompt,
  negativePrompt: '',
  model: MODEL,
  loras: [],
  steps: 3,
  cfg: 7,
  sampler: 'euler_a',
  batchCount,
  method: { name: 'merge' },
  provider: 'auto',
});

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
};

describe('the queue', () => {
  it('is written on every change and resumes after a restart, after the images already saved', async () => {
    const dir = dataDir();
    const engine = new FakeEngine();
    const s = studio(dir, engine);
    await s.start();
    const events: string[] = [];
    s.onJobEvent((e) => events.push(e.type));
    const { jobId } = await s.generate({ ...request('three', 3), seed: 100 });
    await s.generate(request('second'));
    await until(() => engine.requests.length === 1);
    engine.finishOne(); // image 0 saved
    await until(() => engine.requests.length === 2);
    expect(engine.requests.map((r) => r.seed)).toEqual([100, 101]);
    const saved = JSON.parse(readFileSync(join(dir, 'queue.json'), 'utf8')) as { jobs: app.QueuedJob[] };
    expect(saved.jobs.map((j) => [j.request.prompt, j.state, j.imagesDone])).toEqual([
      ['three', 'running', 1],
      ['second', 'queued', 0],
    ]);
    // the process dies here; a new one reads the same folder
    const engine2 = new FakeEngine();
    const s2 = studio(dir, engine2);
    await s2.start();
    await until(() => engine2.requests.length === 1);
    expect(engine2.requests[0]).toMatchObject({ prompt: 'three', seed: 101, batchCount: 1, method: { name: 'merge' }, output: { dir: join(dir, 'gallery') } });
    expect((await s2.listQueue()).map((j) => j.jobId)[0]).toBe(jobId);
    await s2.close();
    await s.close();
  });

  it('fixes a random seed when queued, so a resumed job makes the images it would have made', async () => {
    const engine = new FakeEngine();
    const s = studio(dataDir(), engine);
    await s.start();
    await s.generate(request('random seed'));
    const [job] = await s.listQueue();
    expect(Number.isInteger(job.request.seed)).toBe(true);
    await until(() => engine.requests.length === 1);
    expect(engine.requests[0].seed).toBe(job.request.seed);
    await s.close();
  });

  it('cancels queued and running jobs and moves queued ones', async () => {
    const engine = new FakeEngine();
    const s = studio(dataDir(), engine);
    await s.start();
    const events: { type: string; jobId?: string }[] = [];
    s.onJobEvent((e) => events.push(e));
    const a = await s.generate(request('a'));
    const b = await s.generate(request('b'));
    const c = await s.generate(request('c'));
    await s.moveJob(c.jobId, -1);
    expect((await s.listQueue()).map((j) => j.request.prompt)).toEqual(['a', 'c', 'b']);
    await s.moveJob(c.jobId, -1); // the running job stays first
    expect((await s.listQueue()).map((j) => j.request.prompt)).toEqual(['a', 'c', 'b']);
    await s.cancel(b.jobId);
    await s.cancel(a.jobId);
    await until(() => events.some((e) => e.type === 'cancelled' && e.jobId === a.jobId));
    expect(events.filter((e) => e.type === 'cancelled').map((e) => e.jobId)).toEqual([b.jobId, a.jobId]);
    await until(() => engine.requests.length === 2);
    expect(engine.requests[1].prompt).toBe('c');
    await s.close();
  });

  it('fails only the running job when the engine crashes, then goes on', async () => {
    const engine = new FakeEngine();
    const s = studio(dataDir(), engine);
    await s.start();
    const failed: unknown[] = [];
    s.onJobEvent((e) => {
      if (e.type === 'failed') failed.push(e.error);
    });
    await s.generate(request('crashes'));
    await s.generate(request('survives'));
    await until(() => engine.requests.length === 1);
    engine.crashOne();
    await until(() => engine.requests.length === 2);
    expect(failed).toEqual([{ code: 'RUNTIME', message: expect.stringMatching(/stopped unexpectedly/) }]);
    expect((await s.listQueue()).map((j) => j.request.prompt)).toEqual(['survives']);
    await s.close();
  });

  it('refuses an unknown method or option when queued', async () => {
    const s = studio(dataDir(), new FakeEngine());
    await s.start();
    await expect(s.generate({ ...request('x'), method: { name: 'blend' } })).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: 'Unknown composition method "blend".' });
    await expect(s.generate({ ...request('x'), method: { name: 'switch', options: { tau: 0 } } })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    expect(await s.listQueue()).toEqual([]);
    await s.close();
  });

  it('starts afresh from a damaged queue file', async () => {
    const dir = dataDir();
    writeFileSync(join(dir, 'queue.json'), '{"jobs": [ {"jobId": 3}');
    const warnings: string[] = [];
    const s = new app.Studio({ version: '0', dataDir: dir, bundledModelsDirs: [], engine: new FakeEngine(), urls: { image: (n) => n, loraPreview: (i) => i }, providers: async () => [], onWarning: (w) => warnings.push(w) });
    await s.start();
    expect(await s.listQueue()).toEqual([]);
    expect(warnings[0]).toMatch(/queue\.json is not valid JSON; starting afresh/);
    await s.close();
  });
});

describe('the gallery', () => {
  it('reveals a gallery file through the host, and says why where it cannot', async () => {
    const dir = dataDir();
    const revealed: string[] = [];
    const make = (reveal?: (f: string) => Promise<void>) =>
      new app.Studio({ version: '0', dataDir: dir, bundledModelsDirs: [], engine: new FakeEngine(), urls: { image: (n) => n, loraPreview: (i) => i }, providers: async () => [], reveal });
    const s = make(async (f) => {
      revealed.push(f);
    });
    await s.start();
    await expect(s.revealImage('00000-1.png')).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
    mkdirSync(join(dir, 'gallery'));
    writeFileSync(join(dir, 'gallery', '00000-1.png'), 'x');
    await s.revealImage('00000-1.png');
    expect(revealed).toEqual([join(dir, 'gallery', '00000-1.png')]);
    const remote = make();
    await expect(remote.revealImage('00000-1.png')).rejects.toMatchObject({ message: expect.stringMatching(/cannot open a file manager/), hint: expect.stringContaining('00000-1.png') });
    await s.close();
  });
});

describe('models', () => {
  it('adds a diffusers-ONNX folder after checking it, remembers it, and refuses one that is not', async () => {
    const dir = dataDir();
    const make = () => new app.Studio({ version: '0', dataDir: dir, bundledModelsDirs: [], engine: new FakeEngine(), urls: { image: (n) => n, loraPreview: (i) => i }, providers: async () => [] });
    const s = make();
    await s.start();
    await expect(s.addModel(join(dir, 'nowhere'))).rejects.toMatchObject({ name: 'ChordError', message: expect.stringMatching(/nowhere/) });
    await expect(s.addModel(LORAS)).rejects.toMatchObject({ code: 'MODEL_INVALID' });
    expect(await s.addModel(MODEL)).toEqual({ id: MODEL, name: 'glyph-sd', bundled: false, width: 64, height: 64 });
    const again = make();
    await again.start();
    expect((await again.listModels()).map((m) => m.id)).toEqual([MODEL]);
    await again.removeModel(MODEL);
    expect(await again.listModels()).toEqual([]);
    await s.close();
    await again.close();
  });
});

describe('the library', () => {
  it('adds LoRAs with base model, rank, trigger words and category, and reports the rest one by one', async () => {
    const dir = dataDir();
    const bad = join(dir, 'bad.safetensors');
    writeFileSync(bad, 'not a safetensors file');
    const s = studio(dir, new FakeEngine());
    await s.start();
    const result = await s.addLoras([join(LORAS, 'zorb.safetensors'), bad, join(dir, 'gone.safetensors')]);
    expect(result.added.map((l) => [l.name, l.baseModel, l.rank, l.triggerWords, l.category, l.missing])).toEqual([['zorb', 'glyph-sd', 8, ['zorb'], 'character', false]]);
    expect(result.added[0].previewUrl).toMatch(/^\/p\/[0-9a-f]{16}$/);
    expect(result.failed.map((f) => f.file)).toEqual(['bad.safetensors', 'gone.safetensors']);
    for (const f of result.failed) expect(f.message).not.toMatch(/\n|at .*\.ts/);
    const [zorb] = await s.listLoras();
    expect(await s.updateLora(zorb.id, { category: 'object', triggerWords: [' zorb ', '', 'blob'] })).toMatchObject({ category: 'object', triggerWords: ['zorb', 'blob'] });
    await s.close();
  });

  it('adds every LoRA in a dropped folder (a PEFT folder as one)', async () => {
    const s = studio(dataDir(), new FakeEngine());
    await s.start();
    const result = await s.addLoras([LORAS]);
    expect(result.failed).toEqual([]);
    expect(result.added.map((l) => l.name).sort()).toEqual(['ball', 'cube', 'dots', 'dots-peft', 'hat', 'hatching', 'meadow', 'mippet', 'quill', 'quill-diffusers', 'scarf', 'sunset', 'zorb']);
    await s.close();
  });

  it('shows a file that moved away as missing', async () => {
    const dir = dataDir();
    const copy = join(dir, 'copy.safetensors');
    writeFileSync(copy, readFileSync(join(LORAS, 'ball.safetensors')));
    const s = studio(dir, new FakeEngine());
    await s.start();
    await s.addLoras([copy]);
    rmSync(copy);
    expect((await s.listLoras()).map((l) => [l.name, l.missing])).toEqual([['ball', true]]);
    await s.close();
  });

  it('keeps an uploaded file only when it is a LoRA, with a safe name', async () => {
    const dir = dataDir();
    const s = studio(dir, new FakeEngine());
    await s.start();
    const ok = await s.importLora('../../evil/zo rb.safetensors', readFileSync(join(LORAS, 'zorb.safetensors')));
    expect(ok.added[0].path).toBe(join(dir, 'uploads', 'loras', 'zo_rb.safetensors'));
    const bad = await s.importLora('junk.safetensors', new TextEncoder().encode('junk'));
    expect(bad.failed[0].file).toBe('junk.safetensors');
    expect(bad.failed[0].message).toMatch(/^junk\.safetensors /);
    expect(bad.failed[0].message).not.toContain(dir);
    const notLora = await s.importLora('notes.txt', new Uint8Array(3));
    expect(notLora.failed[0].message).toMatch(/not a \.safetensors file/);
    await s.close();
  });
});

describe('the engine process', () => {
  it('fails the running request when the process dies, and starts a fresh one for the next', async () => {
    const channels: { posted: HostMessage[]; exit?: (reason: string) => void; message?: (m: never) => void }[] = [];
    const spawner = (): EngineChannel => {
      const c: (typeof channels)[number] = { posted: [] };
      channels.push(c);
      return {
        post: (m) => c.posted.push(m),
        onMessage: (h) => (c.message = h as never),
        onExit: (h) => (c.exit = h),
        kill: () => c.exit?.('killed'),
      };
    };
    const crashes: string[] = [];
    const engine = new RestartingEngine(spawner, { onCrash: (r) => crashes.push(r) });
    const first = engine.generate({ prompt: 'x', model: MODEL, output: { dir: '/tmp' } });
    channels[0].exit?.('signal SIGSEGV');
    await expect(first).rejects.toMatchObject({ code: 'RUNTIME', message: 'The image engine stopped unexpectedly (signal SIGSEGV) and was restarted; the image being made is lost.' });
    expect(crashes).toEqual(['signal SIGSEGV']);
    const second = engine.generate({ prompt: 'y', model: MODEL, output: { dir: '/tmp' } });
    expect(channels).toHaveLength(2);
    const id = (channels[1].posted[0] as { id: number }).id;
    channels[1].message?.({ type: 'result', id, result: { images: [] } } as never);
    await expect(second).resolves.toEqual({ images: [] });
    await engine.close(10);
  });
});

describe('info', () => {
  it('offers every registry method, the regional ones marked as taking regions', async () => {
    const engine = new FakeEngine();
    const s = studio(dataDir(), engine);
    const info = await s.getInfo();
    const methods = info.engine.methods;
    expect(methods.map((m) => m.name)).toEqual(expect.arrayContaining(['merge', 'switch', 'composite', 'cmlora', 'spectral', 'regional', 'regional-passes']));
    expect(methods.filter((m) => m.regional).map((m) => m.name)).toEqual(['regional', 'regional-passes']);
    expect(info.engine.version).toBe(ENGINE_VERSION);
    await engine.close();
  });
});

describe('regions', () => {
  const box = (x0: number, y0: number, x1: number, y1: number): [number, number, number, number] => [x0, y0, x1, y1];
  const region = (b: [number, number, number, number], lora?: string) => ({ box: b, prompt: 'p', negative: '', loras: lora ? [{ path: join(LORAS, `${lora}.safetensors`), weight: 0.9 }] : [] });

  it('are checked when queued: the engine rules, one line each', async () => {
    const s = studio(dataDir(), new FakeEngine());
    await s.start();
    const regional = { ...request('x'), method: { name: 'regional' } };
    await expect(s.generate(regional)).rejects.toMatchObject({ message: 'Regional needs at least one region.' });
    await expect(s.generate({ ...regional, regions: [region(box(0, 0, 0.6, 1)), region(box(0.5, 0, 1, 1))] })).rejects.toMatchObject({ message: 'Regions 1 and 2 overlap (0,0,0.6,1 and 0.5,0,1,1).' });
    await expect(s.generate({ ...request('x'), regions: [region(box(0, 0, 0.5, 1))] })).rejects.toMatchObject({ message: 'Merge does not use regions.' });
    expect(await s.listQueue()).toEqual([]);
    await s.close();
  });

  it('go to the engine with their prompts and bound LoRAs', async () => {
    const engine = new FakeEngine();
    const s = studio(dataDir(), engine);
    await s.start();
    const regions = [region(box(0, 0, 0.5, 1), 'zorb'), region(box(0.5, 0, 1, 1), 'quill')];
    await s.generate({ ...request('gray background'), method: { name: 'regional-passes' }, regions });
    await until(() => engine.requests.length === 1);
    expect(engine.requests[0].regions).toEqual(regions);
    expect(engine.requests[0].method?.name).toBe('regional-passes');
    await s.close();
  });
});
