/**
 * Child process holding ONE UNet session (the original graph or the LoRA-rewritten one) and
 * timing configurations on it when the parent asks (protocol.ts). One session serves the bare
 * ONNX Runtime loop and the engine's path, so their difference is only the engine's own work.
 */
import { readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { env, InferenceSession, type Tensor } from 'onnxruntime-node';
import { isChordError } from '../../src/engine/errors';
import { derivedGraph } from '../../src/engine/model/derived-graphs';
import { LORA_CPU_PASS } from '../../src/engine/model/passes';
import { branchInputs, LoraStack } from '../../src/engine/model/lora-stack';
import { type Feed, feedTensor, ModelSession } from '../../src/engine/model/session';
import { median } from './stats';
import type { Costs, GraphConfig, GraphReply, GraphRequest, Memory, OpenRequest } from './protocol';
import { baseFeeds, CFG_BATCH, EngineSteps, isKohyaLayer, LATENT_DOWNSCALE, randomLoras, unetShapes } from './unet-feeds';

const SEED = 1234;

function memory(): Memory {
  return { rss: process.memoryUsage().rss, maxRss: process.resourceUsage().maxRSS * 1024 };
}

function send(reply: GraphReply): void {
  process.send?.(reply);
}

let sessionsCreated = 0;

/** The session options the engine uses on the CPU (model/session.ts createSession). */
async function createCpuSession(path: string, threads: number | undefined): Promise<InferenceSession> {
  env.logLevel = 'fatal';
  sessionsCreated++;
  return InferenceSession.create(path, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    ...(threads ? { intraOpNumThreads: threads } : {}),
  });
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) {
    if (name.endsWith('.json')) continue;
    const s = await stat(join(dir, name));
    if (s.isFile()) total += s.size;
  }
  return total;
}

/** What one configuration does per step. */
type Stepper = () => Promise<void>;

interface State {
  session: ModelSession;
  steppers: Partial<Record<GraphConfig, Stepper>>;
  costs?: (feedReps: number, stackReps: number) => Costs;
}

async function open(req: OpenRequest): Promise<State> {
  const unetDir = dirname(req.unetPath);
  let graphPath = req.unetPath;
  let rewriteMs = 0;
  let rewriteCached = false;
  if (req.kind === 'lora') {
    // the engine's own rewrite for CPU sessions: addLoraBranches on findLoraTargets (conv branches
    // summed in FusedConv), cached in Chord's cache folder
    const startedAt = Date.now();
    const t = performance.now();
    const derived = await derivedGraph(req.unetPath, 'unet', [LORA_CPU_PASS], req.cacheDir);
    rewriteMs = performance.now() - t;
    // passes.json is written last by a rewrite; older than this call: the graph came from the cache
    rewriteCached = (await stat(join(dirname(derived.path), 'passes.json'))).mtimeMs < startedAt;
    graphPath = derived.path;
  }
  const t = performance.now();
  const raw = await createCpuSession(graphPath, req.threads);
  const sessionMs = performance.now() - t;
  const session = new ModelSession(raw, `${req.kind} unet`, 'cpu');
  const shapes = await unetShapes(session, unetDir, req.size / LATENT_DOWNSCALE);
  const base = baseFeeds(session, shapes, SEED);
  const info = (name: string) => {
    const i = session.inputs.get(name);
    if (!i) throw new Error(`the graph has no input "${name}"`);
    return i;
  };
  const bareTensors = (feeds: Record<string, Feed>): Record<string, Tensor> => {
    const out: Record<string, Tensor> = {};
    for (const [name, feed] of Object.entries(feeds)) out[name] = feedTensor(feed, info(name), session.label);
    return out;
  };
  const output = session.outputNames[0];
  const bare = (tensors: Record<string, Tensor>): Stepper => async () => {
    const result = await raw.run(tensors, [output]);
    result[output].dispose();
  };

  const steppers: State['steppers'] = {};
  let costs: State['costs'];
  let branches = 0;
  let rank = 0;
  let kohyaLayers = 0;
  if (req.kind === 'original') {
    steppers.bare = bare(bareTensors(base));
    const engine = new EngineSteps(session, shapes, SEED);
    steppers.engine = () => engine.step({});
  } else {
    const found = branchInputs(session.inputs, session.label);
    if (!found || found.length === 0) throw new Error('the rewritten graph has no LoRA inputs');
    branches = found.length;
    const kohyaBranches = found.filter((b) => isKohyaLayer(b.modulePath));
    kohyaLayers = kohyaBranches.length;
    // standard kohya LoRAs (the case the target is for), and LoCon-style ones on every layer
    const loras = randomLoras(kohyaBranches, req.loraCount, req.loraRank, SEED);
    const locon = randomLoras(found, req.loraCount, req.loraRank, SEED);
    // A: the LoRAs in order; B: the same LoRAs in another order, i.e. other down/up/slots arrays
    const stackA = new LoraStack('unet', found, loras);
    const stackB = new LoraStack('unet', found, [...loras.slice(1), loras[0]]);
    rank = stackA.totalRank;
    const weightsA = loras.map((_, k) => 0.6 + 0.1 * k);
    const weightsB = loras.map((_, k) => (k === 0 ? 1 : 0));
    steppers.rank0 = bare(bareTensors({ ...base, ...new LoraStack('unet', found, []).feeds([], CFG_BATCH) }));
    steppers.kohya = bare(bareTensors({ ...base, ...stackA.feeds(weightsA, CFG_BATCH) }));
    steppers.locon = bare(bareTensors({ ...base, ...new LoraStack('unet', found, locon).feeds(weightsA, CFG_BATCH) }));
    // the engine builds the LoRA feeds of every pass (Model.loraFeeds), switching or not
    const steady = new EngineSteps(session, shapes, SEED);
    steppers.steady = () => steady.step(stackA.feeds(weightsA, CFG_BATCH));
    const switching = new EngineSteps(session, shapes, SEED);
    let flip = false;
    let sameSession = true;
    steppers.switch = () => {
      flip = !flip;
      // another LoRA active (gate) and other down/up arrays at every step, on the same session
      sameSession &&= switching.session === session;
      return switching.step(flip ? stackB.feeds(weightsB, CFG_BATCH) : stackA.feeds(weightsA, CFG_BATCH));
    };
    costs = (feedReps, stackReps) => {
      // a switch is: build the pass's feeds (gate + the other stack's down/up) and wrap them as
      // tensors, which ModelSession.run does for every input
      const feedTimes: number[] = [];
      for (let r = 0; r < feedReps; r++) {
        const t0 = performance.now();
        const feeds = (r % 2 === 0 ? stackB : stackA).feeds(r % 2 === 0 ? weightsB : weightsA, CFG_BATCH);
        for (const [name, feed] of Object.entries(feeds)) feedTensor(feed, info(name), session.label);
        feedTimes.push(performance.now() - t0);
      }
      const stackTimes: number[] = [];
      for (let r = 0; r < stackReps; r++) {
        const t0 = performance.now();
        new LoraStack('unet', found, r % 2 === 0 ? [...loras].reverse() : loras);
        stackTimes.push(performance.now() - t0);
      }
      return { type: 'costs', feedsMs: median(feedTimes), stackMs: median(stackTimes), sessionsCreated, sameSession, ...memory() };
    };
  }
  send({
    type: 'opened',
    graphPath,
    rewriteMs,
    rewriteCached,
    sessionMs,
    contextWidth: shapes.contextWidth,
    latent: shapes.latent,
    weightBytes: await folderBytes(unetDir),
    ...(req.kind === 'lora' ? { branches, rank, kohyaLayers } : {}),
    ...memory(),
  });
  return { session, steppers, costs };
}

let state: State | undefined;

async function handle(req: GraphRequest): Promise<void> {
  switch (req.type) {
    case 'open':
      state = await open(req);
      return;
    case 'run': {
      const step = state?.steppers[req.config];
      if (!step) throw new Error(`configuration ${req.config} is not available in this worker`);
      const t = performance.now();
      for (let i = 0; i < req.steps; i++) await step();
      send({ type: 'ran', config: req.config, msPerStep: (performance.now() - t) / req.steps, ...memory() });
      return;
    }
    case 'costs':
      if (!state?.costs) throw new Error('LoRA costs are measured by the LoRA worker');
      send(state.costs(req.feedReps, req.stackReps));
      return;
    case 'close':
      await state?.session.release();
      process.exit(0);
  }
}

// the parent is gone (Ctrl-C, a crash): nobody will ask for anything again
process.on('disconnect', () => process.exit(1));

process.on('message', (req: GraphRequest) => {
  handle(req).catch((e: unknown) => {
    const message = isChordError(e) ? e.userText() : e instanceof Error ? e.message : String(e);
    send({ type: 'error', message });
  });
});
