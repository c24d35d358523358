/**
 * The window's frequency profiles: measured through the engine (a profile request next to the
 * generations), remembered per LoRA and model in the library with the user's class, and ordered
 * by the engine's `freq` rule with those classes.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { app, ChordError, Engine, RestartingEngine, type EngineChannel, type GenerateResult, type HostMessage, type ProfileHooks, type ProfileProgress, type ProfileRequest, type ProfileResult } from '../../src/engine';

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'chord-spectra-'));
  roots.push(d);
  return d;
}

const MODEL = resolve(import.meta.dirname, '../../models/glyph-sd');
const LORAS = resolve(MODEL, 'loras');
const lora = (name: string) => join(LORAS, `${name}.safetensors`);

/** dH per LoRA name, in the demo LoRAs' measured order (docs/spectral.md). */
const DH: Record<string, number> = { hatching: 0.12, zorb: 0.06, meadow: -0.04, sunset: -0.09 };

/** An engine that only measures: dH from the file's name, two images per LoRA. */
class ProfilingEngine implements app.EngineRunner {
  requests: ProfileRequest[] = [];
  async generate(): Promise<GenerateResult> {
    throw new Error('not in this test');
  }
  async close(): Promise<void> {}
  async profile(r: ProfileRequest, hooks: ProfileHooks = {}): Promise<ProfileResult> {
    this.requests.push(r);
    const loras = r.loras.map((path, k) => {
      hooks.onProgress?.({ lora: k, loras: r.loras.length, image: 0, images: 0 });
      hooks.onProgress?.({ lora: k, loras: r.loras.length, image: 2, images: 2 });
      const name = basename(path, '.safetensors');
      const dH = DH[name];
      return { path, name, prompt: name, dH, class: dH > -0.02 ? ('H' as const) : ('L' as const), radial: [1, 0.5 + dH], baseRadial: [1, 0.5], cached: false, ms: 1 };
    });
    return { loras, seeds: r.seeds ?? 16, threshold: -0.02 };
  }
}

function studio(dataDir: string, engine: app.EngineRunner, profilePairs?: number) {
  return new app.Studio({ version: '0', dataDir, bundledModelsDirs: [], engine, urls: { image: (n) => n, loraPreview: (i) => i }, providers: async () => [], profilePairs });
}

describe('measureSpectra', () => {
  it('measures in the engine, remembers each class per model, orders by freq with the user class', async () => {
    const dir = tmp();
    const engine = new ProfilingEngine();
    const s = studio(dir, engine, 2);
    await s.start();
    await s.addLoras([lora('sunset'), lora('zorb'), lora('hatching')]);
    const ids = Object.fromEntries((await s.listLoras()).map((l) => [l.name, l.id]));
    expect((await s.listLoras()).map((l) => [l.frequency, l.classOverride])).toEqual([
      [[], null],
      [[], null],
      [[], null],
    ]);
    const events: unknown[] = [];
    s.onJobEvent((e) => events.push(e));

    const result = await s.measureSpectra({ model: MODEL, loras: [ids.sunset, ids.zorb, ids.hatching] });
    // the server's pair count goes to the engine
    expect(engine.requests).toEqual([{ model: MODEL, loras: [lora('sunset'), lora('zorb'), lora('hatching')], seeds: 2 }]);
    expect(result).toMatchObject({ model: MODEL, pairs: 2, threshold: -0.02 });
    expect(result.loras.map((l) => [l.loraId, l.name, l.class, l.radial.length, l.baseRadial.length])).toEqual([
      [ids.sunset, 'sunset', 'L', 2, 2],
      [ids.zorb, 'zorb', 'H', 2, 2],
      [ids.hatching, 'hatching', 'H', 2, 2],
    ]);
    // freq: H by dH (largest first), then L
    expect(result.frequencyOrder).toEqual([ids.hatching, ids.zorb, ids.sunset]);
    expect(events.filter((e) => (e as { type: string }).type === 'spectra')).toHaveLength(6);
    expect(events[1]).toEqual({ type: 'spectra', loraId: ids.sunset, lora: 0, loras: 3, image: 2, images: 2 });

    const zorb = (await s.listLoras()).find((l) => l.name === 'zorb');
    expect(zorb?.frequency).toEqual([{ model: MODEL, dH: 0.06, class: 'H', pairs: 2 }]);

    // the user's class wins, and the order follows it
    expect(await s.updateLora(ids.hatching, { classOverride: 'L' })).toMatchObject({ classOverride: 'L', frequency: [{ class: 'H' }] });
    expect((await s.measureSpectra({ model: MODEL, loras: [ids.sunset, ids.zorb, ids.hatching] })).frequencyOrder).toEqual([ids.zorb, ids.hatching, ids.sunset]);
    expect((await s.updateLora(ids.hatching, { classOverride: null })).classOverride).toBeNull();
    await s.updateLora(ids.sunset, { classOverride: 'H' });

    // remembered across a restart; re-adding the same file keeps measurements and the user's class
    await s.close();
    const again = studio(dir, new ProfilingEngine());
    await again.start();
    await again.addLoras([lora('sunset')]);
    const sunset = (await again.listLoras()).find((l) => l.name === 'sunset');
    expect(sunset).toMatchObject({ classOverride: 'H', frequency: [{ model: MODEL, class: 'L', pairs: 2 }] });
    await again.close();
  });

  it('says which LoRA it cannot find; the contract refuses bad requests', async () => {
    const s = studio(tmp(), new ProfilingEngine());
    await s.start();
    await expect(s.measureSpectra({ model: MODEL, loras: ['nope'] })).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
    const copy = join(tmp(), 'gone.safetensors');
    copyFileSync(lora('zorb'), copy);
    const [gone] = (await s.addLoras([copy])).added;
    rmSync(copy);
    await expect(s.measureSpectra({ model: MODEL, loras: [gone.id] })).rejects.toMatchObject({ code: 'FILE_NOT_FOUND', message: expect.stringMatching(/^The file of zorb is missing/) });
    await s.close();
  });

  it('passes the classes the window shows on to the engine with each image', async () => {
    const requests: unknown[] = [];
    const engine: app.EngineRunner = {
      generate: async (r) => {
        requests.push(r);
        return { images: [] } as unknown as GenerateResult;
      },
      close: async () => {},
      profile: async () => {
        throw new ChordError('RUNTIME', 'not here');
      },
    };
    const s = studio(tmp(), engine);
    await s.start();
    const base: app.AppGenerateRequest = { prompt: 'p', negativePrompt: '', model: MODEL, loras: [{ path: lora('zorb'), weight: 1 }, { path: lora('sunset'), weight: 1 }], steps: 2, cfg: 7, sampler: 'ddim', batchCount: 1, method: { name: 'cmlora' }, provider: 'cpu' };
    await s.generate({ ...base, order: 'user', highFrequency: ['zorb'] });
    for (let i = 0; i < 100 && requests.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(requests[0]).toMatchObject({ order: 'user', highFrequency: ['zorb'] });
    await s.close();
  });
});

describe('profile requests between host and engine', () => {
  it('travel as their own message kind, with progress, result and cancellation', async () => {
    const posted: HostMessage[] = [];
    let deliver: (m: never) => void = () => {};
    const channel: EngineChannel = { post: (m) => posted.push(m), onMessage: (h) => (deliver = h as never), onExit: () => {}, kill: () => {} };
    const engine = new RestartingEngine(() => channel);
    const progress: ProfileProgress[] = [];
    const abort = new AbortController();
    const running = engine.profile({ model: MODEL, loras: ['/a.safetensors'], seeds: 1 }, { onProgress: (p) => progress.push(p), signal: abort.signal });
    expect(posted[0]).toEqual({ type: 'profile', id: 1, request: { model: MODEL, loras: ['/a.safetensors'], seeds: 1 } });
    deliver({ type: 'profile-progress', id: 1, progress: { lora: 0, loras: 1, image: 1, images: 2 } } as never);
    deliver({ type: 'profile-result', id: 1, result: { loras: [], seeds: 1, threshold: -0.02 } } as never);
    await expect(running).resolves.toEqual({ loras: [], seeds: 1, threshold: -0.02 });
    expect(progress).toEqual([{ lora: 0, loras: 1, image: 1, images: 2 }]);

    const second = engine.profile({ model: MODEL, loras: ['/a.safetensors'] }, { signal: abort.signal });
    abort.abort();
    expect(posted.at(-1)).toEqual({ type: 'cancel', id: 2 });
    deliver({ type: 'error', id: 2, error: { code: 'CANCELLED', message: 'Measuring cancelled.' } } as never);
    await expect(second).rejects.toMatchObject({ code: 'CANCELLED' });
    await engine.close(10);
  });

  it('the engine measures on its own model, then reads the same profile from the cache', async () => {
    const engine = new Engine({ cacheDir: tmp(), threads: 1 });
    try {
      const progress: ProfileProgress[] = [];
      const first = await engine.profile({ model: MODEL, loras: [lora('hatching')], seeds: 1, provider: 'cpu' }, { onProgress: (p) => progress.push(p) });
      expect(first.seeds).toBe(1);
      expect(first.threshold).toBe(-0.02);
      const [p] = first.loras;
      expect(p).toMatchObject({ path: lora('hatching'), name: 'hatching', prompt: 'hatchy', cached: false });
      expect(p.radial).toHaveLength(46);
      expect(p.baseRadial).toHaveLength(46);
      expect(p.class).toBe(p.dH > -0.02 ? 'H' : 'L');
      // one pair: a base image and a LoRA image
      expect(progress).toEqual([
        { lora: 0, loras: 1, image: 0, images: 0 },
        { lora: 0, loras: 1, image: 1, images: 2 },
        { lora: 0, loras: 1, image: 2, images: 2 },
      ]);
      const again = await engine.profile({ model: MODEL, loras: [lora('hatching')], seeds: 1, provider: 'cpu' });
      expect(again.loras[0]).toMatchObject({ cached: true, dH: p.dH, radial: p.radial });
    } finally {
      await engine.release();
    }
  });
});
