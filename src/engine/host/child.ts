/**
 * Entry of the engine as a Node child process (process.ts forkEngineProcess): the engine loop over
 * the IPC channel. Engine options arrive as JSON in argv[2].
 */
import { getPriority, setPriority } from 'node:os';
import type { EngineOptions } from './engine';
import { runEngineLoop } from './loop';
import type { HostMessage } from './protocol';

/** Nice value of the engine process: it yields the CPU to the host (server, UI) when cores are scarce. */
const ENGINE_NICE = 5;

if (!process.send) throw new Error('child.ts must run as a child process with an IPC channel');
try {
  setPriority(0, Math.max(getPriority(0), ENGINE_NICE));
} catch {
  // not permitted: run at normal priority
}
const options = JSON.parse(process.argv[2] ?? '{}') as Omit<EngineOptions, 'onNotice'>;
runEngineLoop(
  {
    send: (m) => process.send?.(m),
    onMessage: (handler) => process.on('message', (m) => handler(m as HostMessage)),
    close: () => process.disconnect(),
  },
  options,
);
// the parent is gone (it crashed or was killed): nothing is left to serve
process.on('disconnect', () => process.exit(0));
