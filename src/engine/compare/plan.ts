/**
 * What a compare grid holds: its rows (LoRA orderings) and columns (composition methods), from
 * the `--orders` and `--methods` lists. Pure: no files, no engine; LoRA names are only needed to
 * turn permutations into order strings, after the first image told them.
 */
import { ChordError } from '../errors';
import { METHOD_NAMES } from '../pipeline/methods';

/** The order rules a row may name; `all` expands to every permutation. */
export const COMPARE_ORDER_RULES = ['freq', 'reverse', 'user', 'category'] as const;
/** Every permutation is a row: 4! = 24 is the most a grid holds. */
export const MAX_PERMUTED_LORAS = 4;

/** One row: an order rule, or one permutation of the LoRAs (indices into the stack). */
export type CompareRow = { kind: 'rule'; rule: string } | { kind: 'permutation'; order: number[] };

export interface ComparePlan {
  rows: CompareRow[];
  methods: string[];
}

/** n!, for the error message. */
function factorial(n: number): number {
  return n <= 1 ? 1 : n * factorial(n - 1);
}

/** All orderings of 0..n-1, the identity first, then in lexicographic order. */
export function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  const out: number[][] = [];
  for (const rest of permutations(n - 1)) {
    // insert n-1 everywhere, then sort: lexicographic order whatever the insertion order
    for (let i = 0; i <= rest.length; i++) out.push([...rest.slice(0, i), n - 1, ...rest.slice(i)]);
  }
  return out.sort((a, b) => {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
    return 0;
  });
}

function splitList(text: string): string[] {
  return text.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '');
}

/**
 * The grid's rows and columns. `orders`: comma list of freq, reverse, user, category, all
 * (default freq,reverse,user); `methods`: comma list of method names (default cmlora).
 */
export function planCompare(loraCount: number, orders = 'freq,reverse,user', methods = 'cmlora'): ComparePlan {
  if (loraCount < 2) {
    throw new ChordError('BAD_ARGUMENT', `chord compare needs at least 2 LoRAs to order (got ${loraCount}).`, 'Give --lora FILE at least twice.');
  }
  const rows: CompareRow[] = [];
  const orderItems = splitList(orders);
  if (orderItems.length === 0) throw new ChordError('BAD_ARGUMENT', '--orders is empty.', `Use all or a comma list of ${COMPARE_ORDER_RULES.join(', ')}.`);
  for (const item of orderItems) {
    if (item === 'all') {
      if (loraCount > MAX_PERMUTED_LORAS) {
        throw new ChordError(
          'BAD_ARGUMENT',
          `--orders all with ${loraCount} LoRAs would make ${factorial(loraCount)} rows (every permutation); all works up to ${MAX_PERMUTED_LORAS} LoRAs (${factorial(MAX_PERMUTED_LORAS)} rows).`,
          'List the orders instead, e.g. --orders freq,reverse,user.',
        );
      }
      for (const order of permutations(loraCount)) rows.push({ kind: 'permutation', order });
    } else if ((COMPARE_ORDER_RULES as readonly string[]).includes(item)) {
      rows.push({ kind: 'rule', rule: item });
    } else {
      throw new ChordError('BAD_ARGUMENT', `Unknown order "${item}" in --orders.`, `Use all or a comma list of ${COMPARE_ORDER_RULES.join(', ')}.`);
    }
  }
  const methodItems = splitList(methods);
  if (methodItems.length === 0) throw new ChordError('BAD_ARGUMENT', '--methods is empty.', `Use a comma list of ${comparableMethods().join(', ')}.`);
  for (const m of methodItems) {
    if (m === 'regional') {
      throw new ChordError('BAD_ARGUMENT', 'The regional method needs regions, which chord compare does not take.', `Use a comma list of ${comparableMethods().join(', ')}.`);
    }
    if (!METHOD_NAMES.includes(m)) throw new ChordError('BAD_ARGUMENT', `Unknown method "${m}" in --methods.`, `Use a comma list of ${comparableMethods().join(', ')}.`);
  }
  return { rows, methods: methodItems };
}

function comparableMethods(): string[] {
  return METHOD_NAMES.filter((m) => m !== 'regional');
}

/** The GenerateRequest `order` of a row; a permutation needs the LoRA names in stack order. */
export function rowOrder(row: CompareRow, names: readonly string[] | undefined): string {
  if (row.kind === 'rule') return row.rule;
  const identity = row.order.every((k, i) => k === i);
  // before the first image nobody has told the names; the identity permutation is the user order
  if (!names) {
    if (identity) return 'user';
    throw new ChordError('RUNTIME', 'A permuted order was asked for before the LoRA names were known.');
  }
  return row.order.map((k) => names[k]).join(',');
}

/**
 * The row's label: the rule's name, or the permutation's LoRA names in order. A rule row is not
 * labelled with an order because each method resolves the rule itself (Merge ignores it).
 */
export function rowLabel(row: CompareRow, names: readonly string[]): string {
  return row.kind === 'rule' ? row.rule : row.order.map((k) => names[k]).join(', ');
}
