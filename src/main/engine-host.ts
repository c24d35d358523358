/**
 * The engine as seen from Electron main: the app's services (library, queue, gallery) over an
 * engine that runs in an Electron `utilityProcess` (ONNX Runtime blocks the thread it runs on, and
 * a native crash in it must not take the window down). When that process dies, the running image
 * fails with a clear error and the next one starts a fresh engine; the queue is left alone.
 */
import { shell, utilityProcess } from 'electron';
import { app as chordApp, chordCacheDir, RestartingEngine, type EngineChannel, type EngineMessage } from '../engine';
import type { ApiHost } from '../shared/dispatch';

export interface AppHostOptions {
  appVersion: string;
  /** Folder holding the bundled model folders (models/ in the app). */
  bundledModelsDir: string;
  /** The app's data folder (Electron's userData): library, queue, gallery. */
  dataDir: string;
  /** The utility process entry (out/main/engine-process.js). */
  engineEntry: string;
  /** URLs of the custom image protocol. */
  urls: { image: (name: string) => string; loraPreview: (id: string) => string; comparison: (name: string) => string };
}

export type AppHost = ApiHost & { readonly studio: InstanceType<typeof chordApp.Studio> };

/** Starts the engine process lazily (on the first image) and again after it died. */
function utilityProcessSpawner(entry: string, cacheDir: string): () => EngineChannel {
  return () => {
    const child = utilityProcess.fork(entry, [JSON.stringify({ cacheDir })], { serviceName: 'Chord engine', stdio: 'inherit' });
    return {
      post: (m) => child.postMessage(m),
      onMessage: (handler) => child.on('message', (m: EngineMessage) => handler(m)),
      onExit: (handler) => child.once('exit', (code) => handler(`exit code ${code}`)),
      kill: () => {
        child.kill();
      },
    };
  };
}

export async function createAppHost(options: AppHostOptions): Promise<AppHost> {
  let studio: InstanceType<typeof chordApp.Studio> | undefined;
  const engine = new RestartingEngine(utilityProcessSpawner(options.engineEntry, chordCacheDir()), {
    onNotice: (n) => {
      console.warn('[chord]', n.message);
      studio?.notify(n);
    },
    onCrash: (reason) => console.error(`[chord] the engine process stopped (${reason}); it restarts with the next image`),
  });
  studio = new chordApp.Studio({
    version: options.appVersion,
    dataDir: options.dataDir,
    bundledModelsDirs: [options.bundledModelsDir],
    engine,
    urls: options.urls,
    providers: probeProviders,
    reveal: async (file) => shell.showItemInFolder(file),
    onWarning: (m) => console.warn('[chord]', m),
  });
  await studio.start();
  return Object.assign(studio, { studio });
}

let providers: Promise<string[]> | undefined;

/**
 * Execution providers ONNX Runtime ships ready to use on this machine. Providers it lists as not
 * bundled (CUDA, TensorRT on Linux) need a separate download that Chord skips, so they are left out.
 */
function probeProviders(): Promise<string[]> {
  providers ??= (async () => {
    try {
      const ort = await import('onnxruntime-node');
      return ort.listSupportedBackends().filter((b) => b.bundled).map((b) => b.name);
    } catch {
      // A missing or broken native module must not take the window down; the engine reports it.
      return [];
    }
  })();
  return providers;
}
