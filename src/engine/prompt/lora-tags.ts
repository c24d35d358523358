/**
 * `<lora:name>`, `<lora:name:w>`, `<lora:name:w_te:w_unet>` (also `te=`/`unet=` by name) typed in a
 * prompt, as A1111's extra-networks syntax: the tags are cut out of the text before tokenizing and
 * become LoRAs of the stack. Other extra-network types (`<hypernet:...>`) are refused, so they do
 * not reach the text encoder as literal text unnoticed.
 */
import { ChordError } from '../errors';

export interface LoraTag {
  /** file stem or alias, as typed */
  name: string;
  textEncoderWeight: number;
  unetWeight: number;
  /** the tag as typed, for messages */
  source: string;
}

const EXTRA_NETWORK = /<(\w+):([^>]+)>/g;
const LORA_TYPES = new Set(['lora', 'lyco']);

function weightOf(text: string, tag: string): number {
  const n = Number(text.trim());
  if (text.trim() === '' || !Number.isFinite(n)) {
    throw new ChordError('BAD_ARGUMENT', `The weight "${text}" in ${tag} is not a number.`, 'Write it as <lora:name:0.8>.');
  }
  return n;
}

/** The prompt without its LoRA tags (removed as A1111 does, surrounding text untouched) and the tags in order. */
export function extractLoraTags(prompt: string): { prompt: string; tags: LoraTag[] } {
  const tags: LoraTag[] = [];
  const text = prompt.replace(EXTRA_NETWORK, (source: string, type: string, args: string) => {
    if (!LORA_TYPES.has(type.toLowerCase())) {
      throw new ChordError('BAD_ARGUMENT', `The prompt tag ${source} is a "${type}" network, which Chord does not support.`, 'Chord reads <lora:name:weight> tags; remove this one.');
    }
    const [name, ...rest] = args.split(':');
    if (name.trim() === '') throw new ChordError('BAD_ARGUMENT', `The prompt tag ${source} names no LoRA.`, 'Write it as <lora:name:0.8>.');
    const positional: string[] = [];
    const named = new Map<string, string>();
    for (const arg of rest) {
      const eq = /^\s*(\w+)\s*=(.*)$/.exec(arg);
      if (eq) named.set(eq[1], eq[2]);
      else positional.push(arg);
    }
    for (const key of named.keys()) {
      if (key !== 'te' && key !== 'unet') {
        throw new ChordError('BAD_ARGUMENT', `The prompt tag ${source} has the setting "${key}", which Chord does not support.`, 'Use <lora:name:w>, <lora:name:w_te:w_unet> or te=/unet=.');
      }
    }
    if (positional.length > 2) throw new ChordError('BAD_ARGUMENT', `The prompt tag ${source} has more than two weights.`, 'Use <lora:name:w> or <lora:name:w_te:w_unet>.');
    const te = named.has('te') ? weightOf(named.get('te') as string, source) : positional[0] !== undefined ? weightOf(positional[0], source) : 1;
    const unet = named.has('unet') ? weightOf(named.get('unet') as string, source) : positional[1] !== undefined ? weightOf(positional[1], source) : te;
    tags.push({ name: name.trim(), textEncoderWeight: te, unetWeight: unet, source });
    return '';
  });
  return { prompt: text, tags };
}
