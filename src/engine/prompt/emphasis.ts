/**
 * A1111's prompt emphasis syntax, parsed into (text, weight) pieces:
 *
 *   (text)        weight x 1.1         ((text))   x 1.21
 *   [text]        weight / 1.1         (text:1.3) x 1.3 (the number replaces the 1.1 of that bracket)
 *   \( \) \[ \]   literal brackets     \\         a literal backslash
 *   BREAK         starts a new 75-token window (a word of its own, upper case)
 *
 * Brackets nest and multiply. Unbalanced brackets behave as in A1111: a `)` or `]` with no open
 * bracket is plain text, and a bracket still open at the end applies to everything after it. A
 * `:1.3)` with no open `(` is plain text. Neighbouring pieces of equal weight are merged, so
 * `a (b:1.0) c` is the single piece `a b c`, tokenized exactly as the plain prompt.
 *
 * One deliberate difference: A1111 marks BREAK with the weight -1, so a BREAK inside brackets gets
 * multiplied and turns into the literal word "BREAK"; here BREAK starts a new window wherever it is.
 */

export const ROUND_MULTIPLIER = 1.1;
export const SQUARE_MULTIPLIER = 1 / 1.1;

export type PromptPiece = { kind: 'text'; text: string; weight: number } | { kind: 'break' };

/**
 * The lexical units, tried left to right: escapes, brackets, an explicit weight closing a round
 * bracket, a run of plain text, a lone colon, a lone backslash.
 */
const TOKEN = /\\\(|\\\)|\\\[|\\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|\]|[^\\()[\]:]+|:/g;
const BREAK_WORD = /\s*\bBREAK\b\s*/;

/** Parses a prompt into weighted text pieces and window breaks. Never throws. */
export function parseEmphasis(prompt: string): PromptPiece[] {
  // working list: pieces whose weight the closing brackets multiply
  const out: PromptPiece[] = [];
  const round: number[] = [];
  const square: number[] = [];
  const multiplyFrom = (start: number, by: number) => {
    for (let i = start; i < out.length; i++) {
      const p = out[i];
      if (p.kind === 'text') p.weight *= by;
    }
  };
  const plain = (text: string) => {
    text.split(BREAK_WORD).forEach((part, i) => {
      if (i > 0) out.push({ kind: 'break' });
      out.push({ kind: 'text', text: part, weight: 1 });
    });
  };

  for (const m of prompt.matchAll(TOKEN)) {
    const token = m[0];
    const explicit = m[1];
    if (token.startsWith('\\')) {
      out.push({ kind: 'text', text: token.slice(1), weight: 1 });
    } else if (token === '(') {
      round.push(out.length);
    } else if (token === '[') {
      square.push(out.length);
    } else if (explicit !== undefined && round.length > 0 && Number.isFinite(Number(explicit))) {
      multiplyFrom(round.pop() as number, Number(explicit));
    } else if (token === ')' && round.length > 0) {
      multiplyFrom(round.pop() as number, ROUND_MULTIPLIER);
    } else if (token === ']' && square.length > 0) {
      multiplyFrom(square.pop() as number, SQUARE_MULTIPLIER);
    } else {
      plain(token);
    }
  }
  // brackets left open apply to the end of the prompt
  for (const start of round) multiplyFrom(start, ROUND_MULTIPLIER);
  for (const start of square) multiplyFrom(start, SQUARE_MULTIPLIER);
  return mergeEqualWeights(out);
}

function mergeEqualWeights(pieces: PromptPiece[]): PromptPiece[] {
  const merged: PromptPiece[] = [];
  for (const p of pieces) {
    const last = merged[merged.length - 1];
    if (p.kind === 'text' && last?.kind === 'text' && last.weight === p.weight) last.text += p.text;
    else merged.push(p.kind === 'text' ? { ...p } : p);
  }
  if (merged.length === 0) merged.push({ kind: 'text', text: '', weight: 1 });
  return merged;
}
