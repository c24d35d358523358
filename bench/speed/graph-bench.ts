/**
 * (a)-(d) on a UNet-only folder: two worker processes, one holding the original graph, one the
 * LoRA-rewritten graph (each session created once), their configurations run in alternation.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startChild, Worker } from './child';
import type { Measurement, SpeedOptions } from './options';
import {
  type Costs,
  type GraphConfig,
  type GraphKind,
  type GraphReply,
  type GraphRequest,
  LORA_CONFIGS,
  type Opened,
  ORIGINAL_CONFIGS,
} from './protocol';
import { formatBytes, formatDuration, formatMs } from './format';
import { fitPlan, interleavedOrder, type Plan } from './stats';

export interface ConfigRun {
  /** ms per step, one value per repetition, in repetition order */
  samples: number[];
  /** ms per step of the untimed first run */
  warmupMs: number;
  /** the worker's RSS high-water mark right after this configuration's first run */
  maxRssAfterWarmup: number;
}

export interface GraphBenchResult {
  original?: Opened;
  lora?: Opened;
  runs: Partial<Record<GraphConfig, ConfigRun>>;
  costs?: Costs;
  /** each worker's RSS high-water mark at the end */
  finalMaxRss: Partial<Record<GraphKind, number>>;
  /** the repetitions and steps actually run (the defaults shrink to fit the time budget) */
  plan: Plan;
}

/** The configurations each measurement compares. */
export const CONFIGS_OF: Record<'a' | 'b' | 'c' | 'd', GraphConfig[]> = {
  a: ['bare', 'engine'],
  b: ['bare', 'rank0'],
  c: ['bare', 'kohya', 'locon'],
  d: ['steady', 'switch'],
};

export function selectedConfigs(only: readonly Measurement[]): GraphConfig[] {
  const picked = new Set<GraphConfig>();
  for (const m of only) if (m === 'a' || m === 'b' || m === 'c' || m === 'd') for (const c of CONFIGS_OF[m]) picked.add(c);
  // a stable order: the original graph's configurations first
  return [...ORIGINAL_CONFIGS, ...LORA_CONFIGS].filter((c) => picked.has(c));
}

const kindOf = (c: GraphConfig): GraphKind => ((ORIGINAL_CONFIGS as readonly string[]).includes(c) ? 'original' : 'lora');

type GraphWorker = Worker<GraphRequest, GraphReply>;

/**
 * `deadline`: performance.now() by which the timed part should be done (the run's budget less
 * what e-f will need); the default repetitions and steps shrink to meet it.
 */
export async function runGraphBench(o: SpeedOptions, unetPath: string, cacheDir: string, deadline: number, log: (line: string) => void): Promise<GraphBenchResult> {
  const configs = selectedConfigs(o.only);
  const kinds = (['original', 'lora'] as const).filter((k) => configs.some((c) => kindOf(c) === k));
  const workers = new Map<GraphKind, GraphWorker>();
  const result: GraphBenchResult = { runs: {}, finalMaxRss: {}, plan: { reps: o.reps, steps: o.steps } };
  const track = (kind: GraphKind, maxRss: number) => {
    result.finalMaxRss[kind] = Math.max(result.finalMaxRss[kind] ?? 0, maxRss);
  };
  try {
    // one session at a time is created, so neither creation competes with the other for the cores
    for (const kind of kinds) {
      const worker: GraphWorker = new Worker(startChild('./graph-worker.ts'), `the ${kind === 'lora' ? 'LoRA-rewritten' : 'original'} UNet worker`);
      workers.set(kind, worker);
      log(kind === 'lora' ? 'rewriting the UNet (cached after the first run) and creating its session...' : 'creating the original UNet session...');
      const opened = await worker.request(
        { type: 'open', kind, unetPath, size: o.size, cacheDir, threads: o.threads, loraCount: o.loraCount, loraRank: o.loraRank },
        'opened',
      );
      result[kind] = opened;
      track(kind, opened.maxRss);
      const rewrite = kind === 'lora' ? `, rewrite ${opened.rewriteCached ? 'cached' : `${(opened.rewriteMs / 1000).toFixed(1)} s`}, ${opened.branches} branches (${opened.kohyaLayers} in attention, ff, proj_in/out), gate width ${opened.rank}` : '';
      log(`  ${kind}: session ${(opened.sessionMs / 1000).toFixed(1)} s${rewrite}, RSS ${formatBytes(opened.rss)}`);
    }
    const run = async (config: GraphConfig, steps: number) => {
      const kind = kindOf(config);
      const reply = await (workers.get(kind) as GraphWorker).request({ type: 'run', config, steps }, 'ran');
      track(kind, reply.maxRss);
      return reply;
    };

    // first runs of every configuration: ONNX Runtime plans memory per input shape on first sight
    for (const config of configs) {
      const r = await run(config, 1);
      result.runs[config] = { samples: [], warmupMs: r.msPerStep, maxRssAfterWarmup: r.maxRss };
    }
    // first steps are slower than later ones, so this estimate errs on the long side
    const round = configs.reduce((sum, c) => sum + (result.runs[c]?.warmupMs ?? 0), 0);
    const plan = fitPlan({ reps: o.reps, steps: o.steps }, o.fixed, round, deadline - performance.now());
    if (plan.reps !== o.reps || plan.steps !== o.steps) {
      log(`the ${o.budgetMinutes}-minute budget allows ${plan.reps} repetitions x ${plan.steps} steps (give --reps/--steps to insist, or --budget MIN)`);
    }
    result.plan = plan;
    const { reps, steps } = plan;
    log(`timing ${configs.length} configurations x ${reps} repetitions x ${steps} step${steps === 1 ? '' : 's'}, about ${formatDuration(round * reps * steps)}...`);

    for (const [rep, order] of interleavedOrder(configs, reps).entries()) {
      for (const config of order) {
        // let the other worker's idle ONNX Runtime threads stop spinning before timing
        await sleep(20);
        const r = await run(config, steps);
        result.runs[config]?.samples.push(r.msPerStep);
      }
      log(`  repetition ${rep + 1}/${reps}: ${configs.map((c) => `${c} ${formatMs(result.runs[c]?.samples.at(-1) ?? 0)}`).join(', ')}`);
    }

    if (configs.includes('switch')) {
      const worker = workers.get('lora') as GraphWorker;
      result.costs = await worker.request({ type: 'costs', feedReps: o.quick ? 10 : 50, stackReps: o.quick ? 1 : 3 }, 'costs');
      track('lora', result.costs.maxRss);
    }
    for (const worker of workers.values()) await worker.close({ type: 'close' });
    return result;
  } finally {
    for (const worker of workers.values()) worker.kill();
  }
}
