import { describe, expect, it } from 'vitest';
import { ChordError } from '../../src/engine/errors';
import { SAMPLER_NAMES } from '../../src/engine/schedulers';
import { ApiError, DEFAULTS, SAMPLERS, type GenerateRequest } from '../../src/shared/api';
import { createDispatcher, toErrorData, type ApiHost } from '../../src/shared/dispatch';

/** A host that records what reached it. */
function recordingHost(overrides: Partial<ApiHost> = {}) {
  const generated: GenerateRequest[] = [];
  const cancelled: string[] = [];
  const notHere = async (): Promise<never> => {
    throw new Error('not in this test');
  };
  const host: ApiHost = {
    getInfo: async () => ({ version: '1.2.3', engine: { version: '0.2.1', providers: ['cpu'], methods: [] } }),
    listModels: async () => [{ id: '/m/glyph-sd', name: 'glyph-sd', bundled: true, width: 64, height: 64 }],
    addModel: notHere,
    removeModel: notHere,
    listLoras: notHere,
    addLoras: notHere,
    updateLora: notHere,
    removeLora: notHere,
    listQueue: notHere,
    moveJob: notHere,
    listGallery: notHere,
    deleteImage: notHere,
    revealImage: notHere,
    imageSettings: notHere,
    importLora: notHere,
    startComparison: notHere,
    listComparisons: notHere,
    exportComparison: notHere,
    deleteComparison: notHere,
    measureSpectra: notHere,
    generate: async (request) => {
      generated.push(request);
      return { jobId: 'job-1' };
    },
    cancel: async (jobId) => {
      cancelled.push(jobId);
    },
    onJobEvent: () => () => {},
    ...overrides,
  };
  return { host, generated, cancelled };
}

describe('generate request validation', () => {
  it('fills defaults and passes a minimal request on', async () => {
    const { host, generated } = recordingHost();
    const reply = await createDispatcher(host).generate({ prompt: 'a red cat', model: '/m/glyph-sd' });
    expect(reply).toEqual({ ok: true, value: { jobId: 'job-1' } });
    expect(generated).toEqual([
      {
        prompt: 'a red cat',
        negativePrompt: '',
        model: '/m/glyph-sd',
        loras: [],
        steps: DEFAULTS.steps,
        cfg: DEFAULTS.cfg,
        sampler: DEFAULTS.sampler,
        batchCount: 1,
        method: { name: 'merge' },
        provider: 'auto',
      },
    ]);
  });

  it('keeps every field of a full request', async () => {
    const { host, generated } = recordingHost();
    const request = {
      prompt: 'two knights',
      negativePrompt: 'blurry',
      model: '/m/glyph-sd',
      loras: [
        { path: '/l/knight.safetensors', weight: 0.8 },
        { path: '/l/ink.safetensors', weight: -0.5 },
      ],
      steps: 30,
      cfg: 5.5,
      sampler: 'dpmpp_2m_karras',
      seed: 2 ** 40,
      width: 768,
      height: 512,
      batchCount: 4,
      method: { name: 'switch', options: { tau: 3 } },
      order: 'category',
      provider: 'cpu',
      regions: [
        { box: [0, 0, 0.5, 1], prompt: 'knight', negative: '', loras: [{ path: '/l/knight.safetensors', weight: 1 }] },
        { box: [0.5, 0, 1, 1], prompt: 'ink', negative: 'blurry', loras: [] },
      ],
    };
    const reply = await createDispatcher(host).generate(request);
    expect(reply.ok).toBe(true);
    expect(generated[0]).toEqual(request);
  });

  it.each([
    [{ steps: 0 }, 'steps must be a whole number from 1 to 1000'],
    [{ steps: 2.5 }, 'steps must be a whole number from 1 to 1000'],
    [{ steps: '25' }, 'steps must be a whole number from 1 to 1000'],
    [{ width: 500 }, 'width must be a multiple of 8 pixels'],
    [{ sampler: 'heun' }, 'sampler must be one of euler, euler_a, ddim, dpmpp_2m, dpmpp_2m_karras, lcm'],
    [{ loras: [{ path: '/l/a.safetensors', weight: 11 }] }, 'lora weight must be a number from -10 to 10'],
    [{ seed: -1 }, 'seed must be a whole number from 0 to 9007199254740991'],
    [{ cfgScale: 7 }, 'unknown setting "cfgScale"'],
    [{ method: 'switch' }, 'method must be an object with a name (and options)'],
    [{ method: { name: 'switch', options: { tau: 'x' } } }, 'method options must be numbers or true/false'],
    [{ negative: 'x' }, 'unknown setting "negative"'],
    [{ model: '   ' }, 'model is empty'],
    [{ model: undefined }, 'model is missing'],
    [{ regions: [{ box: [0, 0, 1.5, 1] }] }, 'region x1 must be a number from 0 to 1'],
    [{ regions: [{ box: [0.5, 0, 0.5, 1] }] }, 'a region box must have x0 < x1 and y0 < y1 (a positive area)'],
    [{ regions: [{ box: [0, 0, 1] }] }, 'regions.0.box.3 is missing'],
    [{ regions: Array.from({ length: 9 }, (_, i) => ({ box: [i / 9, 0, (i + 1) / 9, 1] })) }, 'at most 8 regions'],
  ])('rejects %j', async (change, expected) => {
    const { host, generated } = recordingHost();
    const reply = await createDispatcher(host).generate({ prompt: 'x', model: '/m/glyph-sd', ...change });
    expect(generated).toEqual([]);
    expect(reply).toEqual({
      ok: false,
      error: {
        code: 'BAD_ARGUMENT',
        message: `Invalid generation settings: ${expected}.`,
        hint: 'Fix that setting and try again.',
      },
    });
  });

  it('fills the defaults of a region', async () => {
    const { host, generated } = recordingHost();
    await createDispatcher(host).generate({ prompt: 'x', model: '/m/glyph-sd', method: { name: 'regional' }, regions: [{ box: [0, 0, 0.5, 1] }] });
    expect(generated[0].regions).toEqual([{ box: [0, 0, 0.5, 1], prompt: '', negative: '', loras: [] }]);
  });

  it('rejects a request that is not an object', async () => {
    const reply = await createDispatcher(recordingHost().host).generate('draw a cat');
    expect(reply.ok).toBe(false);
  });

  it('counts further problems without listing them', async () => {
    const reply = await createDispatcher(recordingHost().host).generate({ prompt: 'x', model: 'm', steps: 0, cfg: 101 });
    expect(reply.ok || reply.error.message).toBe(
      'Invalid generation settings: steps must be a whole number from 1 to 1000 (and 1 more).',
    );
  });
});

describe('dispatcher', () => {
  it('validates the job id before cancelling', async () => {
    const { host, cancelled } = recordingHost();
    const dispatcher = createDispatcher(host);
    expect(await dispatcher.cancel('job-7')).toEqual({ ok: true, value: null });
    expect((await dispatcher.cancel(42)).ok).toBe(false);
    expect(cancelled).toEqual(['job-7']);
  });

  it('turns a ChordError into its code, message and hint', async () => {
    const { host } = recordingHost({
      generate: async () => {
        throw new ChordError('LORA_WRONG_BASE', 'ink.safetensors is an SDXL LoRA.', 'Pick an SD 1.5 LoRA.');
      },
    });
    const internal: unknown[] = [];
    const reply = await createDispatcher(host, { onInternalError: (e) => internal.push(e) }).generate({
      prompt: 'x',
      model: 'm',
    });
    expect(reply).toEqual({
      ok: false,
      error: { code: 'LORA_WRONG_BASE', message: 'ink.safetensors is an SDXL LoRA.', hint: 'Pick an SD 1.5 LoRA.' },
    });
    expect(internal).toEqual([]);
  });

  it('keeps an ApiError (what the app side throws) as it is', async () => {
    const { host } = recordingHost({
      generate: async () => {
        throw new ApiError({ code: 'ENGINE_UNAVAILABLE', message: 'No engine here.', hint: 'Use the CLI.' });
      },
    });
    const internal: unknown[] = [];
    const reply = await createDispatcher(host, { onInternalError: (e) => internal.push(e) }).generate({ prompt: 'x', model: 'm' });
    expect(reply).toEqual({ ok: false, error: { code: 'ENGINE_UNAVAILABLE', message: 'No engine here.', hint: 'Use the CLI.' } });
    expect(internal).toEqual([]);
  });

  it('reports anything else as INTERNAL in one line and hands it to the logger', async () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'dims')\n    at run (x.ts:1:1)");
    const { host } = recordingHost({
      getInfo: async () => {
        throw bug;
      },
    });
    const internal: unknown[] = [];
    const reply = await createDispatcher(host, { onInternalError: (e) => internal.push(e) }).getInfo();
    expect(reply).toEqual({
      ok: false,
      error: {
        code: 'INTERNAL',
        message: "Chord hit an unexpected problem: Cannot read properties of undefined (reading 'dims')",
        hint: 'Please report it with the steps that led to it.',
      },
    });
    expect(internal).toEqual([bug]);
  });

  it('passes results through unchanged', async () => {
    const dispatcher = createDispatcher(recordingHost().host);
    expect(await dispatcher.getInfo()).toEqual({ ok: true, value: { version: '1.2.3', engine: { version: '0.2.1', providers: ['cpu'], methods: [] } } });
    expect(await dispatcher.listModels()).toEqual({
      ok: true,
      value: [{ id: '/m/glyph-sd', name: 'glyph-sd', bundled: true, width: 64, height: 64 }],
    });
  });

  it('describes a thrown non-error', () => {
    expect(toErrorData('boom').message).toBe('Chord hit an unexpected problem: boom');
  });
});

describe('the other methods validate their arguments too (IPC and HTTP share this)', () => {
  it.each([
    ['addLoras', ['not-a-list'], 'Invalid LoRA files: files must be a list of paths.'],
    ['addLoras', [[]], 'Invalid LoRA files: no files given.'],
    ['updateLora', ['id', { category: 'hero' }], 'Invalid LoRA details: category must be one of character, clothing, style, background, object.'],
    ['updateLora', ['id', { rank: 4 }], 'Invalid LoRA details: unknown setting "rank".'],
    ['moveJob', ['job-1', 5], 'Invalid move: a job moves by -1 (earlier) or 1 (later).'],
    ['deleteImage', ['../queue.json'], 'Invalid image: image name must be a PNG file name in the gallery.'],
    ['deleteImage', ['.hidden.png'], 'Invalid image: image name must be a PNG file name in the gallery.'],
    ['imageSettings', ['iVBORw0KGgo='], 'Invalid image: the image must be the bytes of a PNG file.'],
    ['addModel', [42], 'Invalid model folder: model folder must be text.'],
  ] as const)('%s(%j) is refused before reaching the host', async (method, args, message) => {
    const { host } = recordingHost();
    const reply = await (createDispatcher(host)[method] as (...a: unknown[]) => Promise<{ ok: boolean; error?: { message: string } }>)(...args);
    expect(reply).toMatchObject({ ok: false, error: { code: 'BAD_ARGUMENT', message } });
  });
});

describe('contract', () => {
  it("lists the engine's samplers, in the same order", () => {
    expect([...SAMPLERS]).toEqual([...SAMPLER_NAMES]);
  });
});
