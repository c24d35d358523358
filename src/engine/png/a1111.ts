/**
 * The A1111 "infotext": the `parameters` text chunk that AUTOMATIC1111's web UI writes and that
 * most SD tools (Forge, ComfyUI loaders, Civitai, prompt readers) understand:
 *
 *   <prompt, may span lines>
 *   Negative prompt: <may span lines>          (absent when empty)
 *   Steps: 20, Sampler: Euler a, Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 512x512, ...
 *
 * Re-implemented from A1111's documented behaviour (processing.create_infotext and
 * infotext_utils.parse_generation_parameters); see docs/image-metadata.md.
 */
import type { ChordImageRecord } from './record';

/** A1111 display names of samplers, by Chord sampler id. */
const SAMPLER_NAMES: Record<string, string> = {
  'euler-a': 'Euler a',
  euler: 'Euler',
  heun: 'Heun',
  lms: 'LMS',
  dpm2: 'DPM2',
  'dpm2-a': 'DPM2 a',
  'dpmpp-2m': 'DPM++ 2M',
  'dpmpp-2m-sde': 'DPM++ 2M SDE',
  'dpmpp-sde': 'DPM++ SDE',
  'dpmpp-2s-a': 'DPM++ 2S a',
  ddim: 'DDIM',
  pndm: 'PLMS',
  unipc: 'UniPC',
  lcm: 'LCM',
};

const normaliseSamplerId = (id: string): string => id.trim().toLowerCase().replaceAll('_', '-');

/** 'euler-a' / 'euler_a' -> 'Euler a'. Unknown ids are written as they are. */
export function a1111SamplerName(samplerId: string): string {
  return SAMPLER_NAMES[normaliseSamplerId(samplerId)] ?? samplerId;
}

/**
 * The reverse, for settings imported from an A1111 image: 'DPM++ 2M' -> 'dpmpp-2m'. Also takes the
 * pre-1.9 names that carried the schedule ('DPM++ 2M Karras'). undefined when Chord has no match.
 */
export function samplerFromA1111(name: string): { sampler: string; karras: boolean } | undefined {
  let base = name.trim();
  let karras = false;
  if (base.endsWith(' Karras')) {
    base = base.slice(0, -' Karras'.length);
    karras = true;
  }
  for (const [id, display] of Object.entries(SAMPLER_NAMES)) {
    if (display === base) return { sampler: id, karras };
  }
  return undefined;
}

/**
 * A1111's quoting of a value: left bare unless it holds a comma, colon or newline, then written
 * as a JSON string (Python's json.dumps(ensure_ascii=False), which JSON.stringify matches).
 */
export function quoteA1111(value: string | number): string {
  const text = String(value);
  return /[,:\n]/.test(text) ? JSON.stringify(text) : text;
}

/** The inverse of quoteA1111 for one value; a value that is not valid JSON stays as written. */
export function unquoteA1111(value: string): string {
  if (value.length < 2 || !value.startsWith('"') || !value.endsWith('"')) return value;
  try {
    const parsed: unknown = JSON.parse(value);
    return typeof parsed === 'string' ? parsed : value;
  } catch {
    return value;
  }
}

/** A1111 strips ':' and ',' from names in "Lora hashes"; '<' '>' would also break a prompt tag. */
const loraAlias = (name: string): string => name.replace(/[:,<>]/g, '');

export interface A1111FormatOptions {
  /**
   * Append `<lora:name:weight>` tags to the prompt line, as an A1111 user would have typed them,
   * so that pasting the text into A1111 or Forge loads the same LoRAs (as a plain merge) and
   * Civitai can pair weights with "Lora hashes". Default true.
   */
  loraTags?: boolean;
}

/** The `parameters` text for an image. Exact key order and spelling of A1111 1.10. */
export function formatA1111Parameters(record: ChordImageRecord, options: A1111FormatOptions = {}): string {
  let prompt = record.prompt;
  if (options.loraTags ?? true) {
    // a LoRA the user typed as a tag is already in the prompt as typed; the others are appended
    const typed = new Set(parseLoraTags(prompt).map((t) => t.name));
    const tags = record.loras
      .filter((l) => !l.promptTag && !typed.has(loraAlias(l.name)) && !typed.has(l.name))
      .map((l) => `<lora:${loraAlias(l.name)}:${l.textEncoderWeight !== undefined ? `${l.textEncoderWeight}:` : ''}${l.weight}>`);
    if (tags.length > 0) prompt = [prompt, ...tags].filter((s) => s !== '').join(' ');
  }
  // A1111's "TI hashes": name: first 12 hex digits of the file's sha256
  const tiHashes = (record.embeddings ?? []).map((e) => `${loraAlias(e.name)}: ${e.fileHash.slice(0, 12)}`).join(', ');

  // A1111's short hash (sshs_model_hash or addnet hash), never the whole-file sha256. An older
  // record without one leaves the LoRA out, as A1111 does for a LoRA without a short hash.
  const loraHashes = record.loras
    .filter((l) => l.a1111Hash !== undefined)
    .map((l) => `${loraAlias(l.name)}: ${l.a1111Hash}`)
    .join(', ');
  const params: [string, string | number | undefined][] = [
    ['Steps', record.steps],
    ['Sampler', a1111SamplerName(record.sampler)],
    // Not 'Automatic': A1111 resolves that per sampler (DPM++ 2M -> Karras), which would misstate
    // Chord's schedule. 'Uniform' is A1111's name for the model's own discrete timesteps.
    ['Schedule type', record.karras ? 'Karras' : 'Uniform'],
    ['CFG scale', record.cfg],
    ['Seed', record.seed],
    ['Size', `${record.width}x${record.height}`],
    ['Model hash', record.model.hash.slice(0, 10)],
    ['Model', record.model.name],
    ['Lora hashes', loraHashes === '' ? undefined : loraHashes],
    ['TI hashes', tiHashes === '' ? undefined : tiHashes],
    ['Composition', compositionText(record)],
    ['Version', `chord ${record.engineVersion}`],
  ];
  const settings = params
    .filter((p): p is [string, string | number] => p[1] !== undefined)
    .map(([key, value]) => `${key}: ${quoteA1111(value)}`)
    .join(', ');
  const negative = record.negativePrompt ? `\nNegative prompt: ${record.negativePrompt}` : '';
  return `${prompt}${negative}\n${settings}`.trim();
}

/**
 * Chord's composition method for people reading the text in another tool, e.g.
 * `cmlora (c1 2, c2 3, cache true; order zorb, hat)`; absent for Merge, which is what every tool does.
 */
function compositionText(record: ChordImageRecord): string | undefined {
  if (record.method === 'merge') return undefined;
  const options = Object.entries(record.methodOptions).map(([k, v]) => `${k} ${v}`);
  const order = record.ordering.order.map((k) => loraAlias(record.loras[k]?.name ?? String(k)));
  const details = [options.join(', '), order.length ? `order ${order.join(', ')}` : ''].filter(Boolean).join('; ');
  return details ? `${record.method} (${details})` : record.method;
}

/** Parsed `parameters` text. Typed fields are undefined when absent or not a number. */
export interface A1111Parameters {
  prompt: string;
  negativePrompt: string;
  steps?: number;
  sampler?: string;
  scheduleType?: string;
  cfgScale?: number;
  seed?: number;
  width?: number;
  height?: number;
  modelHash?: string;
  model?: string;
  /** from "Lora hashes": short file hashes by LoRA name */
  loraHashes: { name: string; hash: string }[];
  /** from "TI hashes": short file hashes of the textual-inversion embeddings used, by name */
  tiHashes: { name: string; hash: string }[];
  /** `<lora:name:weight>` tags found in the prompt (the prompt keeps them) */
  loraTags: { name: string; weight: number }[];
  version?: string;
  /** every other `key: value` pair of the settings line, unquoted, in order (also a Steps, CFG
   * scale, Seed or Size that is not a number, so nothing written is lost) */
  extra: Record<string, string>;
}

/** One `key: value` pair of the settings line; value quoted JSON-style or up to the next comma. */
const PARAM = /\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)/g;

const toInt = (s: string): number | undefined => (/^-?\d+$/.test(s.trim()) ? Number(s) : undefined);
const toFloat = (s: string): number | undefined => {
  const n = Number(s);
  return s.trim() !== '' && Number.isFinite(n) ? n : undefined;
};

function parseLoraTags(prompt: string): { name: string; weight: number }[] {
  // <lora:name>, <lora:name:0.8>, <lora:name:0.8:0.6> (text-encoder and UNet weights: keep the first)
  const tags: { name: string; weight: number }[] = [];
  for (const m of prompt.matchAll(/<lora:([^:>]+)(?::([^:>]*))?(?::[^>]*)?>/g)) {
    const weight = m[2] === undefined ? undefined : toFloat(m[2]);
    tags.push({ name: m[1].trim(), weight: weight ?? 1 });
  }
  return tags;
}

/**
 * Reads a `parameters` text as A1111 does: the last line holds the settings when it has at least
 * three `key: value` pairs; lines before it are the prompt, then from `Negative prompt:` on the
 * negative prompt. Never throws: text that is not an infotext becomes the prompt.
 */
export function parseA1111Parameters(text: string): A1111Parameters {
  const lines = text.replace(/\r\n?/g, '\n').trim().split('\n');
  let settingsLine = lines.pop() ?? '';
  if ([...settingsLine.matchAll(PARAM)].length < 3) {
    lines.push(settingsLine);
    settingsLine = '';
  }

  const prompt: string[] = [];
  const negative: string[] = [];
  let inNegative = false;
  for (const raw of lines) {
    let line = raw.trim();
    if (line.startsWith('Negative prompt:')) {
      inNegative = true;
      line = line.slice('Negative prompt:'.length).trim();
    }
    (inNegative ? negative : prompt).push(line);
  }

  const out: A1111Parameters = {
    prompt: prompt.join('\n'),
    negativePrompt: negative.join('\n'),
    loraHashes: [],
    tiHashes: [],
    loraTags: [],
    extra: {},
  };
  out.loraTags = parseLoraTags(out.prompt);

  for (const m of settingsLine.matchAll(PARAM)) {
    const key = m[1];
    const value = unquoteA1111(m[2]);
    switch (key) {
      case 'Steps':
        out.steps = toInt(value);
        if (out.steps === undefined) out.extra[key] = value;
        break;
      case 'Sampler':
        out.sampler = value;
        break;
      case 'Schedule type':
        out.scheduleType = value;
        break;
      case 'CFG scale':
        out.cfgScale = toFloat(value);
        if (out.cfgScale === undefined) out.extra[key] = value;
        break;
      case 'Seed':
        out.seed = toInt(value);
        if (out.seed === undefined) out.extra[key] = value;
        break;
      case 'Size': {
        const size = /^(\d+)x(\d+)$/.exec(value);
        if (size) {
          out.width = Number(size[1]);
          out.height = Number(size[2]);
        } else out.extra[key] = value;
        break;
      }
      case 'Model hash':
        out.modelHash = value;
        break;
      case 'Model':
        out.model = value;
        break;
      case 'Version':
        out.version = value;
        break;
      case 'Lora hashes':
      case 'TI hashes':
        // "name: hash, name2: hash2" (A1111 removes ':' and ',' from the names)
        for (const item of value.split(',')) {
          const colon = item.indexOf(':');
          if (colon > 0) (key === 'TI hashes' ? out.tiHashes : out.loraHashes).push({ name: item.slice(0, colon).trim(), hash: item.slice(colon + 1).trim() });
        }
        break;
      default:
        out.extra[key] = value;
    }
  }
  return out;
}
