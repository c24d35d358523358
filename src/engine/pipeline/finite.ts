/**
 * Stop a generation as soon as a step's numbers turn NaN or infinite. Once one value is NaN, the
 * scheduler and the VAE spread it over the whole image, which then decodes to black: better to
 * say which step broke and why it may have happened than to write that image.
 */
import { ChordError } from '../errors';
import { firstNonFinite, nonFiniteName } from '../tensor';

/** Throws a ChordError naming the 1-based `step` when any value of `arrays` is not finite. */
export function assertFiniteStep(step: number, total: number, what: 'noise prediction' | 'latent', ...arrays: readonly Float32Array[]): void {
  for (const a of arrays) {
    const bad = firstNonFinite(a);
    if (bad < 0) continue;
    throw new ChordError(
      'RUNTIME',
      `Step ${step} of ${total} gave a ${what} with ${nonFiniteName(a[bad])} values; stopped instead of writing a black image.`,
      'The model or a LoRA overflowed (common with fp16 models or high LoRA weights): try lower LoRA weights, fewer LoRAs, a lower CFG scale, or --provider cpu.',
    );
  }
}

/** Throws a ChordError when the VAE decoder's output holds NaN or infinity (it would save black). */
export function assertFiniteImage(image: Float32Array): void {
  const bad = firstNonFinite(image);
  if (bad < 0) return;
  throw new ChordError(
    'RUNTIME',
    `The VAE decoder gave ${nonFiniteName(image[bad])} values; stopped instead of writing a black image.`,
    "An fp16 VAE overflows easily (SD 1.5's does at larger sizes): use a model with an fp32 VAE, or try --provider cpu, which runs fp16 graphs in float32.",
  );
}
