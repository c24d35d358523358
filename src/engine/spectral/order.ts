/**
 * The order in which a composition method uses its LoRAs, and the high/low frequency split
 * CMLoRA needs (docs/spectral.md). Pure functions over names, measured profiles and categories.
 *
 *   freq      H by dH (largest first), then L by dH (largest first)
 *   reverse   freq reversed (L first, smallest dH first)
 *   user      as given
 *   category  Switch's default: character, clothing, style, background, object; ties as given
 *   A,B,C     an explicit list of LoRA names, every name exactly once
 */
import { ChordError } from '../errors';
import type { LoraCategory } from '../png/record';
import type { FrequencyClass } from './spectrum';

export const ORDER_RULES = ['freq', 'reverse', 'user', 'category'] as const;
export type OrderRuleName = (typeof ORDER_RULES)[number];

/** A parsed `--order` value. */
export type OrderSpec = { rule: OrderRuleName } | { rule: 'explicit'; names: string[] };

/** Switch's default order (algorithms: character first, then clothing, style, background, object). */
export const CATEGORY_ORDER: readonly LoraCategory[] = ['character', 'clothing', 'style', 'background', 'object'];

export interface OrderInput {
  name: string;
  /** the measured profile; needed by freq and reverse (unless the class is overridden) */
  profile?: { dH: number; class: FrequencyClass };
  /** from the file's metadata or a user setting */
  category?: LoraCategory;
}

export interface OrderOptions {
  /** the user's class for a LoRA, by name; wins over the measured class */
  classOverride?: Readonly<Record<string, FrequencyClass>>;
}

export interface LoraOrdering {
  rule: OrderRuleName | 'explicit';
  /** indices into the input, in the order the method uses them */
  order: number[];
  /** the same as names */
  names: string[];
  /** per input LoRA, its class (override, else measured); null when some LoRA has neither */
  classes: FrequencyClass[] | null;
  /**
   * indices of class H, in their sequence in `order` (for `freq`: dH descending); null with
   * `classes`. For `reverse` they come after L in `order`; a method that runs H first reads
   * `high` and `low`, one that follows the order reads `order`.
   */
  high: number[] | null;
  /** indices of class L, in their sequence in `order`; null with `classes` */
  low: number[] | null;
  /** why the rule could not be followed exactly (e.g. a LoRA without a category), for the user */
  notice?: string;
}

/** Parses an order: a rule name, or a comma-separated list of LoRA names (rule names win). */
export function parseOrder(text: string): OrderSpec {
  const t = text.trim();
  const rule = ORDER_RULES.find((r) => r === t.toLowerCase());
  if (rule) return { rule };
  const names = t.split(',').map((n) => n.trim());
  if (t === '' || names.some((n) => n === '')) {
    throw new ChordError('BAD_ARGUMENT', `"${text}" is not an order.`, `Use one of ${ORDER_RULES.join(', ')}, or LoRA names separated by commas (NAME,NAME,...).`);
  }
  return { rule: 'explicit', names };
}

/** Category of a LoRA file from its metadata (`chord.category`); undefined when absent or not one of the five. */
export function categoryFromMetadata(metadata: Readonly<Record<string, string>>): LoraCategory | undefined {
  const v = metadata['chord.category']?.trim().toLowerCase();
  return CATEGORY_ORDER.find((c) => c === v);
}

function classesOf(loras: readonly OrderInput[], options: OrderOptions): FrequencyClass[] | null {
  const out: FrequencyClass[] = [];
  for (const l of loras) {
    const c = options.classOverride?.[l.name] ?? l.profile?.class;
    if (c === undefined) return null;
    out.push(c);
  }
  return out;
}

function checkOverride(loras: readonly OrderInput[], options: OrderOptions): void {
  const known = new Set(loras.map((l) => l.name));
  for (const [name, c] of Object.entries(options.classOverride ?? {})) {
    if (c !== 'H' && c !== 'L') throw new ChordError('BAD_ARGUMENT', `The class of ${name} must be H or L (got ${String(c)}).`);
    if (!known.has(name)) throw new ChordError('BAD_ARGUMENT', `A class is set for ${name}, which is not among the LoRAs (${[...known].join(', ')}).`);
  }
}

/** H by dH descending, then L by dH descending; a LoRA known only by an override goes last in its set. */
function frequencyOrder(loras: readonly OrderInput[], classes: FrequencyClass[]): number[] {
  const byDh = (a: number, b: number): number => {
    const da = loras[a].profile?.dH;
    const db = loras[b].profile?.dH;
    if (da === undefined || db === undefined) return da === db ? a - b : da === undefined ? 1 : -1;
    return db - da || a - b;
  };
  const indices = loras.map((_, i) => i);
  return [...indices.filter((i) => classes[i] === 'H').sort(byDh), ...indices.filter((i) => classes[i] === 'L').sort(byDh)];
}

function explicitOrder(loras: readonly OrderInput[], names: readonly string[]): number[] {
  const known = loras.map((l) => l.name);
  const list = known.join(', ');
  const twice = known.find((n, i) => known.indexOf(n) !== i);
  if (twice !== undefined) throw new ChordError('BAD_ARGUMENT', `Two LoRAs are named ${twice}, so an order by name is ambiguous.`, 'Rename one of the files, or use freq, reverse or user.');
  const seen = new Set<string>();
  const order: number[] = [];
  for (const n of names) {
    const i = known.indexOf(n);
    if (i < 0) throw new ChordError('BAD_ARGUMENT', `The order names ${n}, which is not one of the LoRAs (${list}).`, 'Name every LoRA once, separated by commas.');
    if (seen.has(n)) throw new ChordError('BAD_ARGUMENT', `The order names ${n} twice.`, `Name every LoRA once (${list}).`);
    seen.add(n);
    order.push(i);
  }
  const missing = known.filter((n) => !seen.has(n));
  if (missing.length > 0) throw new ChordError('BAD_ARGUMENT', `The order leaves out ${missing.join(', ')}.`, `Name every LoRA once (${list}).`);
  return order;
}

/**
 * The order of `loras` under `spec` and their H/L split. freq and reverse need every LoRA's class
 * (measured or overridden); category needs every LoRA's category, and otherwise keeps the order
 * as given and says why in `notice` (nothing is guessed).
 */
export function orderLoras(loras: readonly OrderInput[], spec: OrderSpec | string, options: OrderOptions = {}): LoraOrdering {
  const s = typeof spec === 'string' ? parseOrder(spec) : spec;
  checkOverride(loras, options);
  const classes = classesOf(loras, options);
  const asGiven = loras.map((_, i) => i);
  let order: number[];
  let notice: string | undefined;
  switch (s.rule) {
    case 'freq':
    case 'reverse': {
      if (!classes) {
        const missing = loras.filter((l) => !l.profile && !options.classOverride?.[l.name]).map((l) => l.name);
        throw new ChordError('BAD_ARGUMENT', `The ${s.rule} order needs the frequency profile of ${missing.join(', ')}.`, 'Run `chord lora profile` on those files, or set their class (H or L).');
      }
      order = frequencyOrder(loras, classes);
      if (s.rule === 'reverse') order.reverse();
      break;
    }
    case 'user':
      order = asGiven;
      break;
    case 'category': {
      const unknown = loras.filter((l) => l.category === undefined).map((l) => l.name);
      if (unknown.length > 0) {
        order = asGiven;
        notice = `No category for ${unknown.join(', ')}: the LoRAs keep the order they were given in.`;
      } else {
        const rank = (i: number) => CATEGORY_ORDER.indexOf(loras[i].category as LoraCategory);
        order = [...asGiven].sort((a, b) => rank(a) - rank(b) || a - b);
      }
      break;
    }
    case 'explicit':
      order = explicitOrder(loras, s.names);
      break;
  }
  const result: LoraOrdering = {
    rule: s.rule,
    order,
    names: order.map((i) => loras[i].name),
    classes,
    high: classes ? order.filter((i) => classes[i] === 'H') : null,
    low: classes ? order.filter((i) => classes[i] === 'L') : null,
  };
  if (notice) result.notice = notice;
  return result;
}
