/**
 * The engine as seen from Electron main. The real engine will run in a `utilityProcess` (ONNX
 * Runtime blocks the thread it runs on); until it is wired in, this host answers what it can
 * without it (app info, bundled models) and refuses generation with a clear error.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiError, type AppInfo, type JobEventListener, type ModelSummary } from '../shared/api';
import type { ApiHost } from '../shared/dispatch';

export interface EngineHostOptions {
  appVersion: string;
  /** Folder holding the bundled model folders (models/ in the app). */
  bundledModelsDir: string;
}

export function createDisconnectedEngineHost(options: EngineHostOptions): ApiHost {
  const listeners = new Set<JobEventListener>();
  let providers: Promise<string[]> | undefined;

  return {
    async getInfo(): Promise<AppInfo> {
      providers ??= probeProviders();
      return { version: options.appVersion, engine: { providers: await providers } };
    },
    listModels: () => findModelFolders(options.bundledModelsDir, true),
    async generate() {
      // an ApiError, not the engine's ChordError: main loads no engine code (docs/layering.md)
      throw new ApiError({
        code: 'ENGINE_UNAVAILABLE',
        message: 'The image engine is not connected to the app yet, so nothing can be generated here.',
        hint: 'Use the chord command line to generate images for now.',
      });
    },
    // Nothing ever runs here, so there is nothing to stop.
    async cancel() {},
    onJobEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/**
 * Execution providers ONNX Runtime ships ready to use on this machine. Providers it lists as not
 * bundled (CUDA, TensorRT on Linux) need a separate download that Chord skips, so they are left out.
 */
async function probeProviders(): Promise<string[]> {
  try {
    const ort = await import('onnxruntime-node');
    return ort.listSupportedBackends().filter((b) => b.bundled).map((b) => b.name);
  } catch {
    // A missing or broken native module must not take the window down; the engine reports it.
    return [];
  }
}

/** Sub-folders of `dir` in the diffusers layout (they have a model_index.json). */
export async function findModelFolders(dir: string, bundled: boolean): Promise<ModelSummary[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const models: ModelSummary[] = [];
  for (const name of names.sort()) {
    const folder = join(dir, name);
    const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
    if (entries.some((e) => e.name === 'model_index.json' && e.isFile())) models.push({ id: folder, name, bundled });
  }
  return models;
}
