/**
 * The engine in a process of its own, restarted when it dies. ONNX Runtime is native code: a crash
 * in it ends the whole process it runs in, so hosts that must survive one (`chord serve`, the
 * desktop app) run the engine out of process. A crash fails the running request with a RUNTIME
 * error; the next request starts a fresh engine. How the process is made is pluggable: a Node
 * child process here (`forkEngineProcess`), an Electron utility process in the app.
 *
 *   const engine = new RestartingEngine(forkEngineProcess({ cacheDir }));
 *   const result = await engine.generate(request, { signal, onProgress });
 */
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ChordError } from '../errors';
import type { EngineNotice } from '../model/session';
import type { EngineOptions, GenerateHooks, GenerateRequest, GenerateResult } from './engine';
import { PendingJobs } from './pending-jobs';
import type { ProfileHooks, ProfileRequest, ProfileResult } from './profiling';
import type { EngineMessage, HostMessage } from './protocol';

/** One running engine process, as the host sees it. */
export interface EngineChannel {
  post(message: HostMessage): void;
  onMessage(handler: (message: EngineMessage) => void): void;
  /** Called once when the process ends; `reason` is for people ("exit code 3", "signal SIGSEGV"). */
  onExit(handler: (reason: string) => void): void;
  kill(): void;
  /** The process id, where there is one (for logs and tests). */
  readonly pid?: number;
}

/** Starts a new engine process. */
export type EngineSpawner = () => EngineChannel;

export interface RestartingEngineOptions {
  onNotice?: (notice: EngineNotice) => void;
  /** Told each time the engine process ends unexpectedly (it restarts on the next request). */
  onCrash?: (reason: string) => void;
}

export class RestartingEngine {
  private channel?: EngineChannel;
  private readonly jobs: PendingJobs;
  private closed = false;
  /** The engine restarts this many times; a crash right at start-up would otherwise loop. */
  crashes = 0;

  constructor(
    private readonly spawn: EngineSpawner,
    private readonly options: RestartingEngineOptions = {},
  ) {
    this.jobs = new PendingJobs(options.onNotice);
  }

  private ensureChannel(): EngineChannel {
    if (this.channel) return this.channel;
    const channel = this.spawn();
    channel.onMessage((m) => this.jobs.handle(m));
    channel.onExit((reason) => {
      if (this.channel === channel) this.channel = undefined;
      if (this.closed) return;
      this.crashes++;
      this.options.onCrash?.(reason);
      this.jobs.failAll(
        new ChordError(
          'RUNTIME',
          `The image engine stopped unexpectedly (${reason}) and was restarted; the image being made is lost.`,
          'Try again; if it happens again, try fewer steps or a smaller size, or run with CHORD_DEBUG=1 for details.',
        ),
      );
    });
    this.channel = channel;
    return channel;
  }

  /** Generates and saves images; cancelling `hooks.signal` stops between steps (CANCELLED). */
  generate(request: GenerateRequest, hooks: GenerateHooks = {}): Promise<GenerateResult> {
    if (this.closed) return Promise.reject(new ChordError('RUNTIME', 'The engine is closed.'));
    if (hooks.signal?.aborted) return Promise.reject(new ChordError('CANCELLED', 'Generation cancelled.'));
    const channel = this.ensureChannel();
    return this.jobs.start(request, hooks, (m) => channel.post(m));
  }

  /** Measures LoRAs' frequency profiles in the engine process (profiling.ts). */
  profile(request: ProfileRequest, hooks: ProfileHooks = {}): Promise<ProfileResult> {
    if (this.closed) return Promise.reject(new ChordError('RUNTIME', 'The engine is closed.'));
    const channel = this.ensureChannel();
    return this.jobs.startProfile(request, hooks, (m) => channel.post(m));
  }

  /** Asks the engine to release its models and end; kills it if it has not after `graceMs`. */
  async close(graceMs = 5000): Promise<void> {
    this.closed = true;
    const channel = this.channel;
    this.channel = undefined;
    this.jobs.failAll(new ChordError('CANCELLED', 'Chord is shutting down.'));
    if (!channel) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        channel.kill();
        resolve();
      }, graceMs);
      channel.onExit(() => {
        clearTimeout(timer);
        resolve();
      });
      channel.post({ type: 'close' });
    });
  }
}

export interface ForkEngineOptions extends Omit<EngineOptions, 'onNotice'> {
  /** The child's entry; default child.ts next to this file (run through tsx from source). */
  entry?: URL;
}

/** A spawner of Node child processes running the engine (child.ts). */
export function forkEngineProcess(options: ForkEngineOptions = {}): EngineSpawner {
  const { entry = new URL('./child.ts', import.meta.url), ...engineOptions } = options;
  const fromSource = entry.pathname.endsWith('.ts');
  // a .ts entry needs tsx's loader in the child (by absolute URL: the user's working folder may
  // not see Chord's node_modules)
  const execArgv = fromSource ? ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href] : [];
  return () => {
    const child = fork(fileURLToPath(entry), [JSON.stringify(engineOptions)], {
      execArgv,
      // structured clone, so previews (Uint8Array) and results arrive as they were sent
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return {
      post: (m) => {
        if (child.connected) child.send(m);
      },
      onMessage: (handler) => child.on('message', (m) => handler(m as EngineMessage)),
      onExit: (handler) => child.once('exit', (code, signal) => handler(signal ? `signal ${signal}` : `exit code ${code}`)),
      kill: () => child.kill('SIGKILL'),
      pid: child.pid,
    };
  };
}
