/**
 * Background speckle of LoRA samples (detectors/speckle.ts): the faint texture a VAE decoder can
 * draw on flat grey where a sampled latent carries a little residual noise. Samples the LoRAs
 * whose concepts have no texture of their own (characters, clothing, objects) on their trigger
 * words, through the engine, and prints the mean score per LoRA and overall. Lower is flatter;
 * the ground-truth renders score 0 on their flat backgrounds.
 *
 *   npx tsx bench/speckle.ts [--model models/glyph-sd] [--seeds 12] [--steps 20]
 */
import { join } from 'node:path';
import { chordCacheDir, Merge, openModel, resolveSettings, txt2img } from '../src/engine';
import { backgroundSpeckle } from './detectors/speckle';
import { cliOption as opt } from './cli-options';
import { CONCEPT_CATEGORY, CONCEPT_NAMES, CONCEPT_TRIGGER } from './detectors/world';

const MODEL = opt('model', 'models/glyph-sd');
const SEEDS = Number(opt('seeds', '12'));
const STEPS = Number(opt('steps', '20'));
/** concepts with no texture of their own: styles and backgrounds left out */
const UNTEXTURED = CONCEPT_NAMES.filter((c) => !['style', 'background'].includes(CONCEPT_CATEGORY[c]));

async function main(): Promise<void> {
  const model = await openModel(MODEL, { cacheDir: chordCacheDir() });
  let total = 0;
  let count = 0;
  const rows: string[] = [];
  for (const concept of UNTEXTURED) {
    const trigger = CONCEPT_TRIGGER[concept];
    await model.useLoras([join(MODEL, 'loras', `${concept}.safetensors`)]);
    let t = 0;
    let c = 0;
    for (let seed = 0; seed < SEEDS; seed++) {
      const settings = resolveSettings({ prompt: trigger, seed, steps: STEPS, sampler: 'ddim', cfg: 5 }, model.folder);
      const r = await txt2img(model, settings, { method: new Merge([1]) });
      const s = backgroundSpeckle({ data: r.rgb, width: r.width, height: r.height });
      t += s.total;
      c += s.count;
    }
    rows.push(`${concept} ${(t / c).toFixed(2)}`);
    total += t;
    count += c;
  }
  await model.release();
  console.log(`background speckle on ${MODEL} (DDIM ${STEPS} steps, CFG 5, seeds 0..${SEEDS - 1}): ${(total / count).toFixed(3)}`);
  console.log(`  ${rows.join(', ')}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
