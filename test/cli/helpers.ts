/** Running the `chord` command in tests: in process (runCli) and as a real process (bin/chord.js). */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { runCli } from '../../src/engine/cli';

export interface CliResult {
  code: number;
  out: string[];
  err: string[];
}

/** runCli with its lines collected. */
export async function cli(...args: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs bin/chord.js with its cache in `cacheRoot`/cache; `onStart` gets the child (e.g. to send it a signal). */
export function chordProcess(cacheRoot: string, args: string[], onStart?: (kill: (signal: NodeJS.Signals) => void) => void): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/chord.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CHORD_CACHE_DIR: join(cacheRoot, 'cache'), CHORD_DEBUG: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    onStart?.((signal) => child.kill(signal));
  });
}
