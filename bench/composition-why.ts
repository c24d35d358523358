/**
 * Why Composite-style methods score low on the demo world: how much the per-LoRA noise
 * predictions of one step agree. For a few compositions, Composite's N predictions (each LoRA
 * alone) are recorded at the first, middle and last step: the mean pairwise cosine similarity of
 * the conditional predictions and of the guidance directions c - u, and how much of their length
 * survives averaging (|mean| / mean |eps_k|; 1 when they agree, 1/sqrt(N) when they are unrelated).
 *
 *   npx tsx bench/composition-why.ts [--per-n 2] [--steps 20] [--sampler ddim] [--cfg 5] [--no-doc]
 */
import { join } from 'node:path';
import { chordCacheDir, openModel, resolveSettings, txt2img } from '../src/engine';
import { Composite } from '../src/engine/pipeline/composite';
import type { CompositionMethod, MethodStep, UnetCall } from '../src/engine/pipeline/composition';
import { cliOption as opt } from './cli-options';
import { writeDocSection } from './doc-section';
import { CONCEPT_TRIGGER } from './detectors/world';
import { sample } from './quality/set';

const MODEL = opt('model', 'models/glyph-sd');
const PER_N = Number(opt('per-n', '2'));
const STEPS = Number(opt('steps', '20'));
const SAMPLER = opt('sampler', 'ddim');
const CFG = Number(opt('cfg', '5'));
const DOC = 'docs/composition.md';

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i], 0);
const norm = (a: Float32Array) => Math.sqrt(dot(a, a));
const cosine = (a: Float32Array, b: Float32Array) => dot(a, b) / (norm(a) * norm(b));
const minus = (a: Float32Array, b: Float32Array) => a.map((v, i) => v - b[i]);

/** Mean pairwise cosine and the share of length that survives averaging. */
export function agreement(parts: readonly Float32Array[]): { cosine: number; kept: number } {
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < parts.length; i++) for (let j = i + 1; j < parts.length; j++, pairs++) sum += cosine(parts[i], parts[j]);
  const mean = parts[0].map((_, k) => parts.reduce((s, p) => s + p[k], 0) / parts.length);
  return { cosine: sum / pairs, kept: norm(mean) / (parts.reduce((s, p) => s + norm(p), 0) / parts.length) };
}

/** Composite, recording each step's per-LoRA predictions. */
class Recording implements CompositionMethod {
  readonly name = 'composite';
  readonly options = {};
  readonly wantsCachedPasses = false;
  readonly steps: { cond: Float32Array[]; guidance: Float32Array[] }[] = [];
  constructor(private readonly inner: Composite) {}
  get order() {
    return this.inner.order;
  }
  promptWeights() {
    return this.inner.promptWeights();
  }
  begin(): void {}
  async predict(step: number, total: number, unet: UnetCall): Promise<MethodStep> {
    const recorder: UnetCall = async (request) => {
      const out = await unet(request);
      this.steps[step] = { cond: out.predictions.map((p) => p.cond), guidance: out.predictions.map((p) => minus(p.cond, p.uncond)) };
      return out;
    };
    return this.inner.predict(step, total, recorder);
  }
}

async function main(): Promise<void> {
  const model = await openModel(MODEL, { cacheDir: chordCacheDir() });
  const rows: string[] = [];
  for (const n of [2, 3, 4, 5]) {
    for (const set of sample(n, PER_N)) {
      await model.useLoras(set.map((c) => join(MODEL, 'loras', `${c}.safetensors`)));
      const method = new Recording(new Composite(set.map(() => 1), set.map((_, k) => k)));
      const settings = resolveSettings({ prompt: set.map((c) => CONCEPT_TRIGGER[c]).join(' '), seed: 0, steps: STEPS, sampler: SAMPLER, cfg: CFG }, model.folder);
      await txt2img(model, settings, { method });
      const at = [0, Math.floor(STEPS / 2), STEPS - 1];
      const cells = at.map((i) => {
        const c = agreement(method.steps[i].cond);
        const g = agreement(method.steps[i].guidance);
        return `${c.cosine.toFixed(2)} / ${g.cosine.toFixed(2)} / ${g.kept.toFixed(2)}`;
      });
      const row = `| ${set.join(' + ')} | ${(1 / Math.sqrt(n)).toFixed(2)} | ${cells.join(' | ')} |`;
      rows.push(row);
      console.log(row);
    }
  }
  await model.release();
  const command = `npx tsx bench/composition-why.ts --per-n ${PER_N} --steps ${STEPS} --sampler ${SAMPLER} --cfg ${CFG}`;
  const lines = [
    `Made by \`${command}\` (seed 0). Each cell: cosine of the conditional predictions / cosine of the guidance directions c - u / length of the averaged guidance over the mean length (1 when the LoRAs agree; 1/sqrt(N), given in the second column, when they are unrelated).`,
    '',
    `| composition | 1/sqrt(N) | step 1 | step ${Math.floor(STEPS / 2) + 1} | step ${STEPS} |`,
    '|---|---|---|---|---|',
    ...rows,
  ];
  if (process.argv.includes('--no-doc')) return;
  writeDocSection(DOC, 'why', lines);
  console.log(`wrote ${DOC}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
