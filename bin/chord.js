#!/usr/bin/env node
// The `chord` command: registers tsx so the TypeScript sources run as they are, then hands over
// to src/engine/cli.ts (which prints one-line errors and sets the exit code), with `chord serve`
// added from src/server (the engine does not import the server).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/engine/cli.ts');
const { serveCommand } = await import('../src/server/cli.ts');
await main([serveCommand]);
