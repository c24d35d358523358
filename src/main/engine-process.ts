/**
 * Entry of the Electron utility process that runs the engine (see engine-host.ts): the engine's
 * message loop over Electron's parent port. Engine options arrive as JSON in argv[2].
 */
import { runEngineLoop, type HostMessage } from '../engine';

const parentPort = process.parentPort;
if (!parentPort) throw new Error('engine-process must run in an Electron utility process');
const options = JSON.parse(process.argv[2] ?? '{}') as { cacheDir?: string };

runEngineLoop(
  {
    send: (m) => parentPort.postMessage(m),
    onMessage: (handler) => parentPort.on('message', (e: { data: HostMessage }) => handler(e.data)),
    close: () => process.exit(0),
  },
  options,
);
