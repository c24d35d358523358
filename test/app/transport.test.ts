import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, type ChordBridge, type JobEvent, type Reply } from '../../src/shared/api';
import { apiOverBridge, httpBridge } from '../../src/renderer/lib/transport';

function fakeBridge(overrides: Partial<ChordBridge>): ChordBridge {
  const never = (): Promise<never> => Promise.reject(new Error('not in this test'));
  return {
    getInfo: never,
    listModels: never,
    addModel: never,
    removeModel: never,
    listLoras: never,
    addLoras: never,
    updateLora: never,
    removeLora: never,
    generate: never,
    cancel: never,
    listQueue: never,
    moveJob: never,
    listGallery: never,
    deleteImage: never,
    revealImage: never,
    imageSettings: never,
    addLoraFiles: never,
    startComparison: never,
    listComparisons: never,
    exportComparison: never,
    deleteComparison: never,
    onJobEvent: () => () => {},
    measureSpectra: never,
    ...overrides,
  };
}

describe('apiOverBridge', () => {
  it('unwraps a value', async () => {
    const api = apiOverBridge(
      fakeBridge({ getInfo: async () => ({ ok: true, value: { version: '9', engine: { version: '0.2.1', providers: ['cpu'], methods: [] } } }) }),
    );
    expect(await api.getInfo()).toEqual({ version: '9', engine: { version: '0.2.1', providers: ['cpu'], methods: [] } });
  });

  it('rejects with an ApiError carrying code and hint', async () => {
    const api = apiOverBridge(
      fakeBridge({
        generate: async () => ({ ok: false, error: { code: 'ENGINE_UNAVAILABLE', message: 'No engine.', hint: 'Wait.' } }),
      }),
    );
    const error = await api.generate({ prompt: 'x', model: 'm' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ code: 'ENGINE_UNAVAILABLE', message: 'No engine.', hint: 'Wait.' });
    expect((error as ApiError).userText()).toBe('No engine. Wait.');
  });

  it('turns a transport failure into an ApiError', async () => {
    const api = apiOverBridge(
      fakeBridge({ listModels: () => Promise.reject(new Error("No handler registered for 'chord:listModels'")) }),
    );
    await expect(api.listModels()).rejects.toMatchObject({
      code: 'ENGINE_UNAVAILABLE',
      message: "The Chord engine host did not answer (No handler registered for 'chord:listModels').",
    });
  });
});

describe('httpBridge', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('POSTs the arguments array to /api/<method> and returns the reply', async () => {
    const calls: { url: string; body: unknown }[] = [];
    vi.stubGlobal('fetch', async (url: URL, init: RequestInit) => {
      calls.push({ url: String(url), body: JSON.parse(String(init.body)) });
      const reply: Reply<{ jobId: string }> = { ok: true, value: { jobId: 'j1' } };
      return new Response(JSON.stringify(reply), { status: 200 });
    });
    const bridge = httpBridge('http://127.0.0.1:7860');
    expect(await bridge.generate({ prompt: 'cat', model: 'm' })).toEqual({ ok: true, value: { jobId: 'j1' } });
    expect(calls).toEqual([{ url: 'http://127.0.0.1:7860/api/generate', body: [{ prompt: 'cat', model: 'm' }] }]);
  });

  it('fails on an answer that is not a reply', async () => {
    vi.stubGlobal('fetch', async () => new Response('<h1>Bad gateway</h1>', { status: 502 }));
    const api = apiOverBridge(httpBridge('http://127.0.0.1:7860'));
    await expect(api.getInfo()).rejects.toMatchObject({
      message: 'The Chord engine host did not answer (HTTP 502 from /api/getInfo).',
    });
  });

  it('shares one WebSocket between listeners and closes it after the last leaves', () => {
    const sockets: FakeSocket[] = [];
    class FakeSocket {
      onmessage: ((message: { data: unknown }) => void) | null = null;
      onclose: (() => void) | null = null;
      closed = false;
      constructor(readonly url: URL) {
        sockets.push(this);
      }
      close(): void {
        this.closed = true;
      }
    }
    vi.stubGlobal('WebSocket', FakeSocket);

    const bridge = httpBridge('https://gpu-box:7860');
    const seenA: JobEvent[] = [];
    const seenB: JobEvent[] = [];
    const stopA = bridge.onJobEvent((e) => seenA.push(e));
    const stopB = bridge.onJobEvent((e) => seenB.push(e));
    expect(sockets.map((s) => String(s.url))).toEqual(['wss://gpu-box:7860/api/events']);

    const done: JobEvent = { type: 'done', jobId: 'j1' };
    sockets[0]!.onmessage?.({ data: JSON.stringify(done) });
    sockets[0]!.onmessage?.({ data: 'not json' });
    expect(seenA).toEqual([done]);
    expect(seenB).toEqual([done]);

    stopA();
    expect(sockets[0]!.closed).toBe(false);
    stopB();
    expect(sockets[0]!.closed).toBe(true);
  });
});
