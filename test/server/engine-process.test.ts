/**
 * The engine in a real child process: a native crash (here a SIGSEGV sent to it) fails the image
 * being made with a RUNTIME error, and the next request runs in a fresh process.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { forkEngineProcess, RestartingEngine, type EngineChannel } from '../../src/engine';

const MODEL = resolve(import.meta.dirname, '../../models/glyph-sd');
const dir = mkdtempSync(join(tmpdir(), 'chord-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('restarts after a crash mid-image', async () => {
  const spawn = forkEngineProcess({ cacheDir: join(dir, 'cache') });
  const started: EngineChannel[] = [];
  const engine = new RestartingEngine(() => {
    const c = spawn();
    started.push(c);
    return c;
  });
  const out = { dir: join(dir, 'out') };
  let crashedAt = 0;
  const doomed = engine.generate(
    { prompt: 'zorb', model: MODEL, steps: 500, seed: 1, output: out },
    {
      onProgress: (p) => {
        if (crashedAt === 0 && p.step >= 2) {
          crashedAt = p.step;
          process.kill(started[0].pid as number, 'SIGSEGV');
        }
      },
    },
  );
  await expect(doomed).rejects.toMatchObject({ code: 'RUNTIME', message: expect.stringMatching(/stopped unexpectedly \(signal SIGSEGV\) and was restarted/) });
  const next = await engine.generate({ prompt: 'zorb', model: MODEL, steps: 2, seed: 2, output: out });
  expect(started).toHaveLength(2);
  expect(next.images).toHaveLength(1);
  expect(readdirSync(out.dir)).toEqual([next.images[0].file.slice(out.dir.length + 1)]);
  await engine.close();
});
