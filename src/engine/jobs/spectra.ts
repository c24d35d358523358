/**
 * The window's frequency profiles (spectra plot, the cards' classes, the stack's Frequency order):
 * library LoRAs measured in the engine, each measured class remembered in the library, and the
 * engine's `freq` order of them with the user's classes (spectral/order.ts), so the window orders
 * the stack exactly as the engine would.
 */
import { stat } from 'node:fs/promises';
import { ChordError } from '../errors';
import type { ProfileHooks, ProfileRequest, ProfileResult } from '../host/profiling';
import { orderLoras } from '../spectral/order';
import type { LoraLibrary } from './library';
import type { FrequencyClass, JobEvent, SpectraRequest, SpectraResult } from './types';

export interface SpectraContext {
  library: LoraLibrary;
  engine: { profile(request: ProfileRequest, hooks?: ProfileHooks): Promise<ProfileResult> };
  /** image pairs per LoRA; default the profiler's */
  pairs?: number;
  signal?: AbortSignal;
  onProgress?: (event: Extract<JobEvent, { type: 'spectra' }>) => void;
}

export async function measureSpectra(request: SpectraRequest, context: SpectraContext): Promise<SpectraResult> {
  const ids = [...new Set(request.loras)];
  const entries = ids.map((id) => {
    const e = context.library.byId(id);
    if (!e) throw new ChordError('FILE_NOT_FOUND', 'A LoRA to measure is not in the library any more.', 'Reload the window and try again.');
    return e;
  });
  for (const e of entries) {
    if (!(await exists(e.path))) throw new ChordError('FILE_NOT_FOUND', `The file of ${e.name} is missing (${e.path}), so it cannot be measured.`, 'Put the file back, or add it again from where it is now.');
  }
  const result = await context.engine.profile(
    { model: request.model, loras: entries.map((e) => e.path), ...(context.pairs === undefined ? {} : { seeds: context.pairs }) },
    {
      signal: context.signal,
      onProgress: (p) => context.onProgress?.({ type: 'spectra', loraId: ids[p.lora], lora: p.lora, loras: p.loras, image: p.image, images: p.images }),
    },
  );
  await context.library.setFrequencies(
    result.loras.map((l, k) => ({ id: ids[k], frequency: { model: request.model, dH: l.dH, class: l.class, pairs: result.seeds } })),
  );
  // by id, not name: two files may carry the same name
  const classOverride: Record<string, FrequencyClass> = {};
  for (const e of entries) if (e.classOverride) classOverride[e.id] = e.classOverride;
  const ordering = orderLoras(
    result.loras.map((l, k) => ({ name: ids[k], profile: { dH: l.dH, class: l.class } })),
    'freq',
    { classOverride },
  );
  return {
    model: request.model,
    pairs: result.seeds,
    threshold: result.threshold,
    loras: result.loras.map((l, k) => ({ loraId: ids[k], name: l.name, dH: l.dH, class: l.class, radial: l.radial, baseRadial: l.baseRadial, cached: l.cached })),
    frequencyOrder: ordering.names,
  };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
