/**
 * Where the idle (rank-0) LoRA branches spend their time: one ONNX Runtime profile of the
 * LoRA-rewritten UNet with no LoRA fed, summing the kernel time of the nodes the rewrite added
 * (names under `lora/`; the layer's own node, which writes `lora/<P>/base`, excepted) by operator
 * and by role. The companion of row b of `npm run bench:speed` (docs/performance.md).
 *
 *   npx tsx bench/profile-branches.ts --sd15 models/recipe/work/sd15-random [--form cpu|plain] [--steps 4] [--size 256]
 *
 * `--form cpu` (default) is the graph the engine makes for CPU sessions (conv branches summed in
 * FusedConv), `plain` the one every provider runs. The first step is not counted.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { env, InferenceSession, type Tensor } from 'onnxruntime-node';
import { chordCacheDir } from '../src/engine';
import { derivedGraph } from '../src/engine/model/derived-graphs';
import { LORA_CPU_PASS, LORA_PASS } from '../src/engine/model/passes';
import { branchInputs, LoraStack } from '../src/engine/model/lora-stack';
import { feedTensor, ModelSession } from '../src/engine/model/session';
import { cliOption as opt } from './cli-options';
import { baseFeeds, CFG_BATCH, LATENT_DOWNSCALE, unetShapes } from './speed/unet-feeds';

const UNET_DIR = opt('sd15', '');
const FORM = opt('form', 'cpu');
const STEPS = Number(opt('steps', '4'));
const SIZE = Number(opt('size', '256'));

interface ProfileEvent {
  cat: string;
  name: string;
  dur: number;
  args: { op_name: string };
}

async function main(): Promise<void> {
  if (!UNET_DIR) throw new Error('Give the UNet folder: --sd15 models/recipe/work/sd15-random (make it with models/recipe/recipe.py sd15-random).');
  if (FORM !== 'cpu' && FORM !== 'plain') throw new Error(`--form is cpu or plain, not ${FORM}`);
  env.logLevel = 'fatal';
  const source = join(UNET_DIR, 'unet', 'model.onnx');
  const derived = await derivedGraph(source, 'unet', [FORM === 'cpu' ? LORA_CPU_PASS : LORA_PASS], chordCacheDir());
  const profDir = mkdtempSync(join(tmpdir(), 'chord-profile-'));
  try {
    const raw = await InferenceSession.create(derived.path, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      enableProfiling: true,
      profileFilePrefix: join(profDir, 'unet'),
    });
    const session = new ModelSession(raw, 'rewritten unet', 'cpu');
    const shapes = await unetShapes(session, dirname(source), SIZE / LATENT_DOWNSCALE);
    const found = branchInputs(session.inputs, session.label) ?? [];
    const feeds = { ...baseFeeds(session, shapes, 1), ...new LoraStack('unet', found, []).feeds([], CFG_BATCH) };
    const tensors: Record<string, Tensor> = {};
    for (const [name, feed] of Object.entries(feeds)) {
      const info = session.inputs.get(name);
      if (info) tensors[name] = feedTensor(feed, info, session.label);
    }
    const stepMs: number[] = [];
    for (let i = 0; i <= STEPS; i++) {
      const t = performance.now();
      await raw.run(tensors);
      stepMs.push(performance.now() - t);
    }
    const firstStepEnd = stepMs[0];
    raw.endProfiling();
    const file = readdirSync(profDir).map((n) => join(profDir, n)).find((p) => p.endsWith('.json'));
    if (!file) throw new Error('ONNX Runtime wrote no profile');
    const events = (JSON.parse(readFileSync(file, 'utf8')) as ProfileEvent[]).filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
    // the profile holds every run; keep the last STEPS by dropping the first run's share of nodes
    const perRun = events.length / (STEPS + 1);
    const counted = events.slice(Math.round(perRun));
    const byOp = new Map<string, number>();
    let branchUs = 0;
    let allUs = 0;
    for (const e of counted) {
      allUs += e.dur;
      const node = e.name.slice(0, -'_kernel_time'.length);
      const role = node.split('/').pop() ?? '';
      // the layer's own node, and what the optimiser made of it (`base_nchwc`), are not the branch
      if (!node.startsWith('lora/') || role === 'base' || (role.startsWith('base_') && role !== 'base_2d')) continue;
      const key = `${e.args.op_name} (${role})`;
      byOp.set(key, (byOp.get(key) ?? 0) + e.dur);
      branchUs += e.dur;
    }
    const ms = (us: number): string => (us / STEPS / 1000).toFixed(1);
    const steps = stepMs.slice(1).sort((a, b) => a - b);
    console.log(`${FORM} form of ${derived.path}: ${found.length} branches, rank 0, ${SIZE}x${SIZE}, ${STEPS} steps after one untimed (${firstStepEnd.toFixed(0)} ms)`);
    console.log(`step median ${steps[steps.length >> 1].toFixed(0)} ms; kernels ${ms(allUs)} ms/step, of which branch nodes ${ms(branchUs)} ms/step`);
    for (const [key, us] of [...byOp].sort((a, b) => b[1] - a[1])) console.log(`  ${key.padEnd(28)} ${ms(us)} ms/step`);
  } finally {
    rmSync(profDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
