/**
 * One request type for app and engine: the shared contract (src/shared/api.ts) and the engine's
 * own types and defaults must not drift apart (the engine imports nothing outside itself, so the
 * two are written twice and pinned here).
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { PROVIDER_NAMES, type app, type GenerateRequest as EngineRequest } from '../../src/engine';
import { MAX_REGIONS } from '../../src/engine/pipeline/regional';
import { DEFAULT_CFG, DEFAULT_SAMPLER, DEFAULT_STEPS, MAX_STEPS } from '../../src/engine/pipeline/settings';
import * as shared from '../../src/shared/api';
import type { ApiHost } from '../../src/shared/dispatch';

describe('shared contract and engine agree', () => {
  it('on defaults and limits', () => {
    expect(shared.DEFAULTS.steps).toBe(DEFAULT_STEPS);
    expect(shared.DEFAULTS.cfg).toBe(DEFAULT_CFG);
    expect(shared.DEFAULTS.sampler).toBe(DEFAULT_SAMPLER);
    expect(shared.LIMITS.steps.max).toBe(MAX_STEPS);
    expect(shared.LIMITS.cfg.max).toBe(100);
    expect([...shared.PROVIDERS]).toEqual(['auto', ...PROVIDER_NAMES]);
    expect(shared.LIMITS.regions).toBe(MAX_REGIONS);
    // no default size: the engine uses the model's own
    expect(Object.keys(shared.DEFAULTS)).not.toContain('width');
  });

  it('on the request: a validated request is an engine request, field for field', () => {
    const parsed = shared.parseGenerateRequest({ prompt: 'zorb', model: '/m', negativePrompt: 'blur', steps: 4 });
    expect(parsed.ok).toBe(true);
    expectTypeOf<shared.GenerateRequest>().toEqualTypeOf<app.AppGenerateRequest>();
    expectTypeOf<app.AppGenerateRequest & { output: { dir: string } }>().toMatchTypeOf<EngineRequest>();
  });

  it('on what the app shows', () => {
    expectTypeOf<shared.AppInfo>().toEqualTypeOf<app.AppInfo>();
    expectTypeOf<shared.LoraEntry>().toEqualTypeOf<app.LoraEntry>();
    expectTypeOf<shared.GalleryImage>().toEqualTypeOf<app.GalleryImage>();
    expectTypeOf<shared.QueuedJob>().toEqualTypeOf<app.QueuedJob>();
    expectTypeOf<shared.ImageSettings>().toEqualTypeOf<app.ImageSettings>();
    expectTypeOf<shared.JobEvent>().toMatchTypeOf<app.JobEvent>();
    expectTypeOf<app.JobEvent>().toMatchTypeOf<shared.JobEvent>();
    expectTypeOf<app.Studio>().toMatchTypeOf<ApiHost>();
    expect(shared.LORA_CATEGORIES).toEqual(['character', 'clothing', 'style', 'background', 'object']);
  });
});
