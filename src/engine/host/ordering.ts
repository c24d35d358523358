/**
 * The order a composition method takes the LoRAs in (docs/composition.md, "Order"), and the
 * high/low frequency split CMLoRA needs, for LoRAs already loaded on a model: categories from
 * the files' metadata, frequency classes measured by the LoRA profiler (spectral/, cached on disk)
 * only when the rule or the method needs them, and the user's class overrides.
 */
import { ChordError } from '../errors';
import type { LoadedLora, Model } from '../model/model';
import { categoryFromMetadata, LoraProfiler, orderLoras, parseOrder, type OrderInput, type ProfilerOptions } from '../spectral';

export interface Ordering {
  /** as recorded in images: 'freq', 'reverse', 'user', 'category' or 'names' */
  rule: string;
  /** indices into the LoRA stack */
  order: number[];
  /** the high-frequency set H (CMLoRA), when classes were needed */
  highFrequency?: ReadonlySet<number>;
  /** why the rule could not be followed exactly */
  notice?: string;
}

export interface OrderOptions {
  /** the method needs the H/L split (CMLoRA) */
  needsClasses: boolean;
  /** names of the LoRAs to treat as high-frequency, overriding measured classes (all others L) */
  highFrequency?: readonly string[];
  model: Model;
  /** for measuring frequency profiles (cache folder, notices) */
  profiler?: Omit<ProfilerOptions, 'model'>;
  signal?: AbortSignal;
}

export async function resolveOrder(rule: string, loras: readonly LoadedLora[], options: OrderOptions): Promise<Ordering> {
  const names = loras.map((l) => l.name);
  const spec = parseOrder(rule);
  let classOverride: Record<string, 'H' | 'L'> | undefined;
  if (options.highFrequency) {
    for (const n of options.highFrequency) {
      if (!names.includes(n)) throw new ChordError('BAD_ARGUMENT', `"${n}" is named as high-frequency but is not one of the LoRAs (${names.join(', ')}).`);
    }
    classOverride = Object.fromEntries(names.map((n) => [n, options.highFrequency?.includes(n) ? 'H' : 'L']));
  }
  const needsProfiles = !classOverride && (options.needsClasses || spec.rule === 'freq' || spec.rule === 'reverse');
  const inputs: OrderInput[] = loras.map((l) => ({ name: l.name, category: categoryFromMetadata(l.metadata) }));
  if (needsProfiles && loras.length > 0) {
    const profiler = await LoraProfiler.open(options.model.folder.dir, { ...options.profiler, model: options.model });
    try {
      for (const [k, l] of loras.entries()) {
        const p = await profiler.profile(l.path, options.signal);
        inputs[k].profile = { dH: p.dH, class: p.class };
      }
    } finally {
      await profiler.close();
      // the profiler loaded each LoRA alone: the stack is made current again (from memory)
      await options.model.useLoras(loras.map((l) => l.path));
    }
  }
  const ordering = orderLoras(inputs, spec, { classOverride });
  const high = ordering.high ? new Set(ordering.high) : undefined;
  return {
    rule: ordering.rule === 'explicit' ? 'names' : ordering.rule,
    order: ordering.order,
    highFrequency: options.needsClasses || high ? high : undefined,
    notice: ordering.notice,
  };
}
