/**
 * Child processes of the benchmark: TypeScript entries run through tsx's loader, one request at a
 * time over the IPC channel. A child that dies (out of memory, a native crash) fails the request
 * waiting on it with a one-line reason instead of hanging the benchmark.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export class BenchError extends Error {}

interface Reply {
  type: string;
}

interface Failure {
  type: 'error';
  message: string;
}

const isFailure = (r: Reply): r is Failure => r.type === 'error';

/** Starts `entry` (a .ts file next to this one) with tsx, as `npm run bench:speed` runs the parent. */
export function startChild(entry: string, args: readonly string[] = []): ChildProcess {
  return fork(fileURLToPath(new URL(entry, import.meta.url)), [...args], {
    execArgv: ['--import', import.meta.resolve('tsx')],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

function exitReason(label: string, code: number | null, signal: NodeJS.Signals | null): string {
  if (signal === 'SIGKILL') return `${label} was killed (SIGKILL), most likely out of memory.`;
  if (signal) return `${label} stopped on ${signal}.`;
  return `${label} exited with code ${code ?? '?'} before answering.`;
}

/** A long-lived child answering requests one by one (the graph workers). */
export class Worker<Req, Rep extends Reply> {
  private pending?: { resolve: (r: Rep) => void; reject: (e: Error) => void };
  private exited?: string;
  private readonly exit: Promise<void>;

  constructor(
    private readonly child: ChildProcess,
    readonly label: string,
  ) {
    child.on('message', (message: Rep) => {
      const p = this.pending;
      this.pending = undefined;
      if (!p) return;
      if (isFailure(message)) p.reject(new BenchError(`${label}: ${message.message}`));
      else p.resolve(message);
    });
    this.exit = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exited = exitReason(label, code, signal);
        this.pending?.reject(new BenchError(this.exited));
        this.pending = undefined;
        resolve();
      });
    });
  }

  /** Sends a request and waits for its answer of type `type`. */
  request<T extends Rep['type']>(req: Req, type: T): Promise<Extract<Rep, { type: T }>> {
    if (this.exited) return Promise.reject(new BenchError(this.exited));
    if (this.pending) return Promise.reject(new Error(`${this.label} is busy`));
    return new Promise<Rep>((resolve, reject) => {
      this.pending = { resolve, reject };
      this.child.send(req as object);
    }).then((reply) => {
      if (reply.type !== type) throw new BenchError(`${this.label} answered ${reply.type} instead of ${type}.`);
      return reply as Extract<Rep, { type: T }>;
    });
  }

  /** Asks the child to finish (`closeRequest`), killing it if it does not within `graceMs`. */
  async close(closeRequest: Req, graceMs = 30_000): Promise<void> {
    if (this.exited) return;
    this.child.send(closeRequest as object);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exit;
    clearTimeout(timer);
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }
}

/** Runs a one-shot child to its single answer; `forkedAt`: epoch ms just before the fork. */
export function runOnce<Rep extends Reply>(entry: string, args: readonly string[], label: string): Promise<{ reply: Rep; forkedAt: number }> {
  const forkedAt = performance.timeOrigin + performance.now();
  const child = startChild(entry, args);
  return new Promise((resolve, reject) => {
    let reply: Rep | undefined;
    child.on('message', (message: Rep) => {
      reply = message;
    });
    child.on('exit', (code, signal) => {
      if (!reply) reject(new BenchError(exitReason(label, code, signal)));
      else if (isFailure(reply)) reject(new BenchError(`${label}: ${reply.message}`));
      else resolve({ reply, forkedAt });
    });
  });
}
