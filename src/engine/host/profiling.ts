/**
 * Measuring LoRAs' frequency profiles as an engine request, so that a host (the app) gets them the
 * way it gets images: computed in the engine's process, on the engine's open model, one request at
 * a time with the generations, with progress and cancellation. The numbers are LoraProfiler's
 * (spectral/profile.ts), read from its disk cache when the same LoRA was measured before.
 */
import type { Model } from '../model/model';
import type { ProviderChoice } from '../model/providers';
import type { EngineNotice } from '../model/session';
import { DEFAULT_PROFILE_SETTINGS, DEFAULT_THRESHOLD, LoraProfiler, type LoraProfile } from '../spectral';

export interface ProfileRequest {
  /** model folder (diffusers ONNX layout) */
  model: string;
  /** LoRA files (or PEFT folders), measured in this order */
  loras: string[];
  /** image pairs per LoRA; default the profiler's (16) */
  seeds?: number;
  provider?: ProviderChoice;
}

/** A LoRA's profile as the profiler measured it, with the file under the name the request gave it. */
export type ProfiledLora = Omit<LoraProfile, 'file'> & {
  /** as given in the request */
  path: string;
};

export interface ProfileResult {
  loras: ProfiledLora[];
  /** image pairs each profile is the mean of */
  seeds: number;
  /** dH above this is class H */
  threshold: number;
}

export interface ProfileProgress {
  /** 0-based index of the LoRA being measured */
  lora: number;
  loras: number;
  /** images made for this LoRA so far, of `images` (0 of 0 when it comes from the cache) */
  image: number;
  images: number;
}

export interface ProfileHooks {
  signal?: AbortSignal;
  onProgress?: (progress: ProfileProgress) => void;
}

/** Profiles the request's LoRAs on `model` (whose current LoRAs it replaces). */
export async function profileOnModel(
  model: Model,
  request: ProfileRequest,
  hooks: ProfileHooks,
  options: { cacheDir: string; onNotice?: (notice: EngineNotice) => void },
): Promise<ProfileResult> {
  let current = 0;
  const profiler = await LoraProfiler.open(model.folder.dir, {
    cacheDir: options.cacheDir,
    model,
    settings: request.seeds === undefined ? {} : { seeds: request.seeds },
    onNotice: options.onNotice,
    onImage: (_file, image, images) => hooks.onProgress?.({ lora: current, loras: request.loras.length, image, images }),
  });
  const out: ProfiledLora[] = [];
  try {
    for (const [k, path] of request.loras.entries()) {
      current = k;
      hooks.onProgress?.({ lora: k, loras: request.loras.length, image: 0, images: 0 });
      const p = await profiler.profile(path, hooks.signal);
      const { file: _file, ...profile } = p;
      out.push({ path, ...profile });
    }
  } finally {
    await profiler.close();
  }
  return { loras: out, seeds: request.seeds ?? DEFAULT_PROFILE_SETTINGS.seeds, threshold: DEFAULT_THRESHOLD };
}
