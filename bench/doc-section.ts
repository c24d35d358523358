/** The generated parts of the docs: what a bench writes between `<!-- name:begin -->` and `<!-- name:end -->`. */
import { readFileSync, writeFileSync } from 'node:fs';

/** Replaces the lines between the `name` markers of `file` (which must have them) with `lines`. */
export function writeDocSection(file: string, name: string, lines: readonly string[]): void {
  const doc = readFileSync(file, 'utf8');
  const re = new RegExp(`<!-- ${name}:begin -->[\\s\\S]*<!-- ${name}:end -->`);
  if (!re.test(doc)) throw new Error(`${file} has no ${name} markers`);
  writeFileSync(file, doc.replace(re, [`<!-- ${name}:begin -->`, ...lines, `<!-- ${name}:end -->`].join('\n')));
}
