/**
 * The speed benchmark: its statistics, options and verdicts on made-up numbers, and one tiny
 * end-to-end run on the test model (skipped without one).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { GraphBenchResult } from '../../bench/speed/graph-bench';
import type { MachineInfo } from '../../bench/speed/machine';
import { parseSpeedArgs, UsageError } from '../../bench/speed/options';
import type { LoraSwitchReport, Opened } from '../../bench/speed/protocol';
import { testModelDir } from '../pipeline/helpers';
import { buildRows, docBlockOf, isSd15Scale, resultsMarkdown, type SpeedResults, textTable, updateDoc } from '../../bench/speed/report';
import { fitPlan, interleavedOrder, median, pairedComparison, relativeSpread } from '../../bench/speed/stats';

const run = promisify(execFile);

describe('statistics', () => {
  it('medians, spreads and paired comparisons', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(relativeSpread([90, 100, 110])).toBeCloseTo(0.2, 12);
    // pairs by repetition: a slow second repetition hits both sides alike
    const cmp = pairedComparison([100, 200, 100], [103, 206, 110]);
    expect(cmp.delta).toBeCloseTo(0.03, 12);
    expect(cmp.min).toBeCloseTo(0.03, 12);
    expect(cmp.max).toBeCloseTo(0.1, 12);
    expect(cmp.pairs).toBe(3);
    expect(() => median([])).toThrow(RangeError);
  });

  it('shrinks default counts to the time budget: steps first, then repetitions, never below 2', () => {
    const free = { reps: false, steps: false };
    expect(fitPlan({ reps: 4, steps: 2 }, free, 5000, 100_000)).toEqual({ reps: 4, steps: 2 });
    expect(fitPlan({ reps: 4, steps: 2 }, free, 5000, 30_000)).toEqual({ reps: 4, steps: 1 });
    expect(fitPlan({ reps: 4, steps: 2 }, free, 5000, 12_000)).toEqual({ reps: 2, steps: 1 });
    expect(fitPlan({ reps: 4, steps: 2 }, free, 5000, 1_000)).toEqual({ reps: 2, steps: 1 });
    expect(fitPlan({ reps: 4, steps: 2 }, { reps: true, steps: false }, 5000, 12_000)).toEqual({ reps: 4, steps: 1 });
  });

  it('reverses the order every other repetition', () => {
    expect(interleavedOrder(['a', 'b', 'c'], 3)).toEqual([
      ['a', 'b', 'c'],
      ['c', 'b', 'a'],
      ['a', 'b', 'c'],
    ]);
  });
});

describe('options', () => {
  it('defaults for the full run, smaller counts with --quick', () => {
    const full = parseSpeedArgs(['--sd15', 'x']);
    expect(full).toMatchObject({ sd15: 'x', steps: 2, reps: 4, imageSteps: 20, size: 256, loraCount: 3, loraRank: 16, doc: 'docs/performance.md', quick: false, budgetMinutes: 10 });
    expect(full.fixed).toEqual({ steps: false, reps: false });
    expect(parseSpeedArgs(['--reps', '5']).fixed).toEqual({ steps: false, reps: true });
    expect(full.only).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(parseSpeedArgs(['--quick', '--steps', '3'])).toMatchObject({ steps: 3, reps: 2, quick: true });
    expect(parseSpeedArgs(['--only', 'e, c', '--no-doc'])).toMatchObject({ only: ['c', 'e'], doc: undefined });
  });

  it('refuses bad values with a message naming the option', () => {
    expect(() => parseSpeedArgs(['--only', 'a,i'])).toThrow(/--only takes letters from a to h/);
    expect(parseSpeedArgs([]).only).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(parseSpeedArgs(['--only', 'h,g']).only).toEqual(['g', 'h']);
    expect(() => parseSpeedArgs(['--reps', '0'])).toThrow(/--reps must be a whole number/);
    expect(() => parseSpeedArgs(['--size', '200'])).toThrow(/multiple of 64/);
    expect(() => parseSpeedArgs(['--frobnicate'])).toThrow(UsageError);
  });
});

const machine: MachineInfo = {
  cpu: 'Test CPU',
  cores: 2,
  memoryGiB: 16,
  freeMemoryGiB: 8,
  os: 'linux',
  node: 'v20',
  onnxruntime: 'onnxruntime-node 1.30.0',
  provider: 'CPU',
  threads: 'default',
  loadAverage: 0,
};

function opened(kind: 'original' | 'lora', contextWidth: number, weightBytes: number): Opened {
  return {
    type: 'opened',
    graphPath: `/x/${kind}.onnx`,
    rewriteMs: 0,
    rewriteCached: true,
    sessionMs: 1000,
    contextWidth,
    latent: [4, 32, 32],
    weightBytes,
    rss: 2 ** 30,
    maxRss: 2 ** 30,
    ...(kind === 'lora' ? { branches: 282, rank: 48, kohyaLayers: 192 } : {}),
  };
}

/** Made-up results: engine +4%, rank 0 +5% (over its 3%), kohya LoRAs +8%, LoCon +15%, switch cost 5 ms of 1000. */
function results(overrides: Partial<SpeedResults> = {}, sessionsCreated = 1): SpeedResults {
  const samples = (base: number, factor: number) => [base * factor, 2 * base * factor, base * factor];
  const runs = (base: number, factor: number) => ({ samples: samples(base, factor), warmupMs: base, maxRssAfterWarmup: 2 ** 31 });
  const graph: GraphBenchResult = {
    original: opened('original', 768, 3.4e9),
    lora: opened('lora', 768, 3.4e9),
    runs: { bare: runs(1000, 1), engine: runs(1000, 1.04), rank0: runs(1000, 1.05), kohya: runs(1000, 1.08), locon: runs(1000, 1.15), steady: runs(1000, 1), switch: runs(1000, 1.001) },
    costs: { type: 'costs', feedsMs: 5, stackMs: 300, sessionsCreated, sameSession: true, rss: 0, maxRss: 2 ** 31 },
    finalMaxRss: { original: 2 ** 31, lora: 2 ** 32 },
    plan: { reps: 3, steps: 2 },
  };
  const image = (first: number) => ({
    report: {
      type: 'image' as const,
      bootMs: 100,
      importedMs: 300,
      firstImageMs: first - 20,
      firstImageAt: 0,
      loadModelMs: 500,
      firstImageTotalMs: 400,
      maxRssFirst: 2 ** 28,
      imageMs: [250, 260],
      provider: 'cpu',
      width: 64,
      height: 64,
      rss: 0,
      maxRss: 2 ** 28,
    },
    startToFirstMs: first,
  });
  return {
    command: 'npm run bench:speed -- --sd15 x',
    startedAt: '2026-01-01T00:00:00.000Z',
    durationMs: 5000,
    machine,
    settings: { steps: 2, reps: 3, imageSteps: 20, imagesPerProcess: 2, size: 256, loraCount: 3, loraRank: 16, quick: false },
    only: ['a', 'b', 'c', 'd', 'e', 'f'],
    sd15Dir: '/x',
    modelDir: '/m',
    graph,
    images: [image(1800), image(3500), image(2000)],
    loraSwitch: {
      type: 'lora-switch',
      count: 3,
      rank: 16,
      firstUseMs: 900,
      gatePassMs: 51,
      steadyPassMs: 50,
      setSwitchMs: 30,
      passAfterSetSwitchMs: 60,
      sameSessions: true,
      rss: 0,
      maxRss: 2 ** 28,
    },
    ...overrides,
  };
}

describe('report', () => {
  it('judges each measurement against its target', () => {
    const rows = buildRows(results());
    const verdicts = rows.map((r) => `${r.id}:${r.verdict}`);
    expect(verdicts).toEqual(['a:baseline', 'a:pass', 'b:FAIL', 'c:pass', 'c:info', 'd:baseline', 'd:info', 'd:pass', 'd:info', 'd:pass', 'e:pass', 'f:info']);
    const engine = rows[1];
    expect(engine.vsBaseline).toBe('+4.0% [+4.0%, +4.0%]');
    expect(engine.value).toBe('1040 ms/step');
    // the target row is the standard kohya case; LoCon on every layer is shown for information
    expect(rows[3].what).toBe('rewritten graph, 3 LoRAs × rank 16, standard kohya (attention, ff, proj_in/out: 192 of 282 layers at rank 48, the others at 0), gate ≠ 0, bare loop');
    expect(rows[4].what).toBe('rewritten graph, 3 LoRAs × rank 16, LoCon-style (all 282 layers at rank 48), gate ≠ 0, bare loop');
    expect(rows[4].vsBaseline).toBe('+15.0% [+15.0%, +15.0%]');
    // switch: 5 ms of a 1000 ms step
    expect(rows[7].vsBaseline).toBe('+0.50% of a step');
    expect(rows[9].vsBaseline).toBe('gate switching +2.0%/pass; 1st pass after new set 60.0 ms (steady 50.0 ms)');
    expect(rows[10].value).toBe('2000 ms');
    expect(rows[11].value).toBe('3.92 img/s (255 ms/image)');
  });

  it('fails the switch when a session was created again, and the first image over 3 s', () => {
    const r = results({ images: [] }, 2);
    expect(buildRows(r).find((x) => x.what.startsWith('switch cost'))?.verdict).toBe('FAIL');
    const viaModel = results({ loraSwitch: { ...(results().loraSwitch as LoraSwitchReport), sameSessions: false } });
    expect(buildRows(viaModel).find((x) => x.what.startsWith('engine API'))?.verdict).toBe('FAIL');
    const slow = results();
    slow.images = slow.images?.map((i) => ({ ...i, startToFirstMs: 3100 }));
    expect(buildRows(slow).find((x) => x.id === 'e')?.verdict).toBe('FAIL');
  });

  it('sends stand-in and quick runs to the smoke section, labelled as such', () => {
    const full = results();
    expect(isSd15Scale(full)).toBe(true);
    expect(docBlockOf(full)).toBe('main');
    const standIn = results();
    standIn.graph = { ...(standIn.graph as GraphBenchResult), original: opened('original', 64, 6e6), lora: opened('lora', 64, 6e6) };
    expect(docBlockOf(standIn)).toBe('smoke');
    expect(docBlockOf(results({ settings: { ...full.settings, quick: true } }))).toBe('smoke');
    const md = resultsMarkdown(standIn, buildRows(standIn));
    expect(md).toContain('Small-model smoke run, not SD 1.5 scale');
    expect(md).toContain('npm run bench:speed -- --sd15 x');
    expect(md).toContain('| b | LoRA-rewritten graph, rank 0');
    expect(md).toContain('(fail)');
    expect(textTable(buildRows(full))).toMatch(/^b .*FAIL$/m);
  });

  it('replaces only its own section of the page', () => {
    const doc = 'intro\n<!-- speed:main:begin -->\nold main\n<!-- speed:main:end -->\nmiddle\n<!-- speed:smoke:begin -->\nold smoke\n<!-- speed:smoke:end -->\n';
    const next = updateDoc(doc, 'smoke', 'new smoke');
    expect(next).toBe('intro\n<!-- speed:main:begin -->\nold main\n<!-- speed:main:end -->\nmiddle\n<!-- speed:smoke:begin -->\nnew smoke\n<!-- speed:smoke:end -->\n');
    expect(updateDoc('# Performance\n', 'main', 'x')).toBe('# Performance\n\n## Results at SD 1.5 scale\n\n<!-- speed:main:begin -->\nx\n<!-- speed:main:end -->\n');
  });
});

/** The test model of the pipeline tests. */
const MODEL = testModelDir();

describe('the benchmark command', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'chord-speed-test-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const speed = (args: string[]) => run(process.execPath, ['--import', 'tsx', 'bench/speed.ts', ...args], { cwd: resolve('.'), timeout: 110_000 });

  it('stops with one line when the UNet folder is missing', async () => {
    const e = await speed(['--sd15', join(tmp, 'nothing'), '--no-doc']).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(e?.code).toBe(1);
    expect(e?.stderr.trim()).toMatch(/^speed: no UNet at .*nothing\/unet\/model\.onnx; export one with: python3 models\/recipe\/recipe\.py sd15-random/);
    expect(e?.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('runs a, d and e end to end on a small model', async () => {
    const model = MODEL;
    const doc = join(tmp, 'performance.md');
    const json = join(tmp, 'speed.json');
    const args = ['--quick', '--reps', '1', '--image-steps', '2', '--images', '1', '--only', 'a,d,e'];
    const out = await speed([...args, '--sd15', model, '--model', model, '--cache-dir', join(tmp, 'cache'), '--doc', doc, '--json', json]);
    expect(out.stdout).toContain('small-model smoke run');
    const saved = JSON.parse(readFileSync(json, 'utf8')) as { rows: { id: string; what: string }[] };
    expect(saved.rows.map((r) => r.id)).toEqual(['a', 'a', 'd', 'd', 'd', 'd', 'd', 'e']);
    // timings depend on the machine's load; that no session was created again does not
    expect(saved.rows[4].what).toContain('sessions created: 1, same session: yes');
    expect(saved.rows[6].what).toContain('same UNet and text-encoder sessions: yes');
    const page = readFileSync(doc, 'utf8');
    expect(page).toContain('<!-- speed:smoke:begin -->');
    expect(page).toContain('sessions created: 1, same session: yes');
  });
});
