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
import { COMPARE_ORDER_RULES } from '../../src/engine/compare/plan';
import { MAX_COMPARE_CELLS, MAX_PERMUTED_LORAS } from '../../src/engine/jobs/comparisons';

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

  it('on the compare view: requests, comparisons and limits', () => {
    expectTypeOf<shared.ComparisonRequest>().toEqualTypeOf<app.AppComparisonRequest>();
    expectTypeOf<shared.Comparison>().toEqualTypeOf<app.Comparison>();
    expectTypeOf<shared.ComparisonGrid>().toEqualTypeOf<app.ComparisonGrid>();
    expect(shared.COMPARE_LIMITS.cells).toBe(MAX_COMPARE_CELLS);
    expect(shared.COMPARE_LIMITS.permutedLoras).toBe(MAX_PERMUTED_LORAS);
    expect(shared.COMPARE_ORDERS.filter((o) => o !== 'all')).toEqual([...COMPARE_ORDER_RULES]);
    const parsed = shared.parseWith(shared.ComparisonRequestSchema, { settings: { prompt: 'zorb', model: '/m', steps: 4 }, orders: ['all'], methods: [{ name: 'merge' }] }, 'x');
    expect(parsed.ok).toBe(true);
    const extra = shared.parseWith(shared.ComparisonRequestSchema, { settings: { prompt: 'zorb', model: '/m', batchCount: 2 }, orders: [], methods: [] }, 'Invalid comparison');
    expect(extra.ok ? '' : extra.error.message).toBe('Invalid comparison: unknown setting "settings.batchCount".');
  });
});
