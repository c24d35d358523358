// Runs a TypeScript worker entry when Chord runs from source (tsx, vitest): registers tsx's
// loader in this thread, then imports the real entry. Bundled builds start the entry directly.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entryUrl);
