/**
 * The ComposLoRA-style evaluation set on the glyph world: every composition is one character plus
 * N - 1 LoRAs from distinct other categories (clothing, style, background, object; two LoRAs
 * each), N = 2..5. All of them: 24, 72, 96 and 48 compositions, as in the testbed.
 */
import { CONCEPT_CATEGORY, CONCEPT_NAMES, type ConceptName } from '../detectors/world';

const OTHER_CATEGORIES = ['clothing', 'style', 'background', 'object'] as const;

function subsets<T>(items: readonly T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [first, ...rest] = items;
  return [...subsets(rest, k - 1).map((s) => [first, ...s]), ...subsets(rest, k)];
}

function product<T>(lists: readonly (readonly T[])[]): T[][] {
  return lists.reduce<T[][]>((acc, list) => acc.flatMap((a) => list.map((x) => [...a, x])), [[]]);
}

/** Every composition of size n, in a fixed order (character, then categories in the order above). */
export function compositions(n: number): ConceptName[][] {
  const characters = CONCEPT_NAMES.filter((c) => CONCEPT_CATEGORY[c] === 'character');
  const byCategory = (cat: string) => CONCEPT_NAMES.filter((c) => CONCEPT_CATEGORY[c] === cat);
  const out: ConceptName[][] = [];
  for (const character of characters) {
    for (const cats of subsets(OTHER_CATEGORIES, n - 1)) {
      for (const picks of product(cats.map(byCategory))) out.push([character, ...picks]);
    }
  }
  return out;
}

/** `count` compositions of size n spread evenly over the whole list (all of them when count >= the list). */
export function sample(n: number, count: number): ConceptName[][] {
  const all = compositions(n);
  if (count >= all.length) return all;
  return Array.from({ length: count }, (_, i) => all[Math.floor((i * all.length) / count)]);
}
