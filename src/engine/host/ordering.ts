/**
 * The order a composition method takes the LoRAs in (docs/composition.md, "Order"), from a rule
 * the user gives: 'user' (as listed), 'reverse' (frequency order reversed), 'freq' (the
 * high-frequency set H by dH, largest first, then the low set L), 'category' (character,
 * clothing, style, background, object), or LoRA names separated by commas.
 */
import { ChordError } from '../errors';
import type { LoadedLora, Model } from '../model/model';
import { LORA_CATEGORIES, type LoraCategory } from '../png/record';

export interface Ordering {
  /** as recorded in images: 'user', 'reverse', 'freq', 'category' or 'names' */
  rule: string;
  /** indices into the LoRA stack */
  order: number[];
  /** the high-frequency set H (CMLoRA), when classes were needed */
  highFrequency?: ReadonlySet<number>;
}

/** The category a LoRA file declares (`chord.category` metadata), if any. */
export function loraCategory(lora: Pick<LoadedLora, 'metadata'>): LoraCategory | undefined {
  const c = (lora.metadata['chord.category'] ?? '').trim().toLowerCase();
  return (LORA_CATEGORIES as readonly string[]).includes(c) ? (c as LoraCategory) : undefined;
}

/** Indices sorted by category (stable; LoRAs without a category keep their place after the known ones). */
export function categoryOrder(categories: readonly (LoraCategory | undefined)[]): number[] {
  const rank = (c: LoraCategory | undefined) => (c === undefined ? LORA_CATEGORIES.length : LORA_CATEGORIES.indexOf(c));
  return categories.map((c, i) => ({ i, r: rank(c) })).sort((a, b) => a.r - b.r || a.i - b.i).map((x) => x.i);
}

/** Explicit names, each LoRA exactly once. */
export function namedOrder(text: string, names: readonly string[]): number[] {
  const given = text.split(',').map((n) => n.trim()).filter(Boolean);
  const order: number[] = [];
  for (const n of given) {
    const k = names.indexOf(n);
    if (k < 0) throw new ChordError('BAD_ARGUMENT', `The order names "${n}", which is not one of the LoRAs (${names.join(', ')}).`, 'Name each LoRA once, by its file name without extension.');
    if (order.includes(k)) throw new ChordError('BAD_ARGUMENT', `The order names "${n}" twice.`, 'Name each LoRA once.');
    order.push(k);
  }
  if (order.length !== names.length) {
    const missing = names.filter((_, k) => !order.includes(k));
    throw new ChordError('BAD_ARGUMENT', `The order leaves out ${missing.join(', ')}.`, 'Name every LoRA once, or use freq, reverse, user or category.');
  }
  return order;
}

export interface OrderOptions {
  /** the method needs the H/L split (CMLoRA) */
  needsClasses: boolean;
  /** names of the LoRAs to treat as high-frequency, overriding measured classes */
  highFrequency?: readonly string[];
  model: Model;
}

export async function resolveOrder(rule: string, loras: readonly LoadedLora[], options: OrderOptions): Promise<Ordering> {
  const names = loras.map((l) => l.name);
  const r = rule.trim();
  let ordering: Ordering;
  if (r === 'user') ordering = { rule: 'user', order: names.map((_, k) => k) };
  else if (r === 'category') ordering = { rule: 'category', order: categoryOrder(loras.map(loraCategory)) };
  else if (r === 'freq' || r === 'reverse') ordering = await frequencyOrdering(r, loras, options.model);
  else ordering = { rule: 'names', order: namedOrder(r, names) };
  if (options.highFrequency) {
    const high = new Set<number>();
    for (const n of options.highFrequency) {
      const k = names.indexOf(n);
      if (k < 0) throw new ChordError('BAD_ARGUMENT', `"${n}" is named as high-frequency but is not one of the LoRAs (${names.join(', ')}).`);
      high.add(k);
    }
    ordering.highFrequency = high;
  }
  if (options.needsClasses && !ordering.highFrequency) {
    ordering.highFrequency = (await frequencyOrdering('freq', loras, options.model)).highFrequency;
  }
  return ordering;
}

/** Frequency order and the H/L split, from each LoRA's measured frequency profile. */
async function frequencyOrdering(rule: 'freq' | 'reverse', _loras: readonly LoadedLora[], _model: Model): Promise<Ordering> {
  throw new ChordError('BAD_ARGUMENT', `The ${rule} order needs frequency profiles, which this build does not measure yet.`, 'Use --order user, category or a list of names.');
}
