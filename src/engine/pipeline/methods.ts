/**
 * The composition-method registry: name + options -> method. The engine, the CLI, the app's
 * request validation and the image-record reader all go through it, so an image records its
 * method and options and can be made again from them.
 */
import { ChordError } from '../errors';
import type { LoraWeights } from '../model/model';
import { Cmlora } from './cmlora';
import type { CompositionMethod } from './composition';
import { Composite } from './composite';
import { Merge } from './merge';
import { Regional, RegionalPasses, type RegionSpec } from './regional';
import { SpectralComposite } from './spectral-composite';
import { Switch } from './switch';

export type MethodOptionValue = number | string | boolean;
export type MethodOptions = Record<string, MethodOptionValue>;

export interface MethodOptionSpec {
  name: string;
  kind: 'int' | 'number' | 'boolean';
  /** int and number only */
  min?: number;
  max?: number;
  default: number | boolean;
  description: string;
  /**
   * An option added after images were made with the method: the value those images' records
   * mean by leaving it out, so that `--from` remakes them as they were.
   */
  unrecorded?: number | boolean;
}

/**
 * A named set of a method's options, for people who want an outcome rather than switches (the
 * app's preset buttons, `--method-preset`). Options it leaves out take their defaults.
 */
export interface MethodPreset {
  name: string;
  label: string;
  description: string;
  options: Readonly<Record<string, number | boolean>>;
}

/** How a method orders LoRAs when the request names no order. */
export type DefaultOrder = 'user' | 'category' | 'freq';

/** What the engine knows about the LoRAs when it makes a method. */
export interface MethodContext {
  /** user weight of each LoRA, in stack order */
  weights: LoraWeights;
  /** Merge: the weights while the prompts are encoded, when a tag gave the text encoder others */
  textEncoderWeights?: LoraWeights;
  /** the order to take them in (indices into the stack) */
  order: readonly number[];
  /** CMLoRA: indices of the high-frequency set H (the rest of `order` is L) */
  highFrequency?: ReadonlySet<number>;
  /** regional methods: the regions, and per LoRA the region it is bound to (-1: global) */
  regions?: readonly RegionSpec[];
  loraRegion?: readonly number[];
}

export interface MethodDefinition {
  name: string;
  label: string;
  summary: string;
  options: readonly MethodOptionSpec[];
  defaultOrder: DefaultOrder;
  /** needs each LoRA's frequency class (H or L) */
  needsFrequencyClasses: boolean;
  /** at least this many LoRAs */
  minLoras: number;
  /** UNet evaluations (of one CFG row pair) per step, for N LoRAs, as a formula for people */
  cost: string;
  /** takes regions (docs/regional.md); the others refuse them */
  regional?: boolean;
  /** Chord's own, not from a paper: measured in docs/composition.md, may change */
  experimental?: boolean;
  presets?: readonly MethodPreset[];
  create(context: MethodContext, options: Readonly<Record<string, number | boolean>>): CompositionMethod;
}

const MAX_INTERVAL = 1000;

export const METHODS: readonly MethodDefinition[] = [
  {
    name: 'merge',
    label: 'Merge',
    summary: 'all LoRAs at once, their weight deltas summed',
    options: [],
    defaultOrder: 'user',
    needsFrequencyClasses: false,
    minLoras: 0,
    cost: '1',
    create: (c) => new Merge(c.weights, c.textEncoderWeights),
  },
  {
    name: 'switch',
    label: 'Switch',
    summary: 'one LoRA per step, the next one every tau steps',
    options: [{ name: 'tau', kind: 'int', min: 1, max: MAX_INTERVAL, default: 5, description: 'steps between switches' }],
    defaultOrder: 'category',
    needsFrequencyClasses: false,
    minLoras: 1,
    cost: '1',
    create: (c, o) => new Switch(c.weights, c.order, o.tau as number),
  },
  {
    name: 'composite',
    label: 'Composite',
    summary: "each LoRA alone every step, their noise predictions averaged",
    options: [],
    defaultOrder: 'user',
    needsFrequencyClasses: false,
    minLoras: 1,
    cost: 'N',
    create: (c) => new Composite(c.weights, c.order),
  },
  {
    name: 'cmlora',
    label: 'CMLoRA',
    summary: 'frequency-ordered composite with a dominant LoRA and cached shallow passes',
    options: [
      { name: 'c1', kind: 'int', min: 1, max: MAX_INTERVAL, default: 2, description: 'refresh interval in the first 37.5% and last 12.5% of steps' },
      { name: 'c2', kind: 'int', min: 1, max: MAX_INTERVAL, default: 3, description: 'refresh interval in between' },
      { name: 'cache', kind: 'boolean', default: true, description: 'shallow passes from cached deep features' },
    ],
    defaultOrder: 'freq',
    needsFrequencyClasses: true,
    minLoras: 1,
    cost: 'about 0.38 N + 0.62 / c',
    create: (c, o) => {
      // the set of the first LoRA in the order leads (phase 1), the other set enters in phase 2:
      // with the freq order that is H then L, as the paper runs it; with reverse, L then H
      const high = (k: number) => c.highFrequency?.has(k) ?? false;
      const leadsHigh = c.order.length === 0 || high(c.order[0]);
      const first = c.order.filter((k) => high(k) === leadsHigh);
      const second = c.order.filter((k) => high(k) !== leadsHigh);
      return new Cmlora(c.weights, first, second, { c1: o.c1 as number, c2: o.c2 as number, cache: o.cache as boolean });
    },
  },
  {
    name: 'spectral',
    label: 'Spectral composite',
    summary: 'experimental: each LoRA alone every step, blended per frequency band by its measured class',
    options: [
      { name: 'mix', kind: 'number', min: 0, max: 1, default: 0.25, description: "weight of a LoRA in the other set's band, relative to 1" },
      { name: 'cutoff', kind: 'number', min: 0.01, max: 1, default: 0.08, description: "low band's Gaussian sigma, as a fraction of the latent side" },
    ],
    defaultOrder: 'freq',
    needsFrequencyClasses: true,
    minLoras: 1,
    cost: 'N',
    experimental: true,
    create: (c, o) => new SpectralComposite(c.weights, c.order, c.highFrequency ?? new Set(), { mix: o.mix as number, cutoff: o.cutoff as number }),
  },
  {
    name: 'regional',
    label: 'Regional',
    summary: 'each region its own prompt and LoRAs, kept in its box by attention masks, in one pass',
    options: [
      { name: 'isolation', kind: 'boolean', default: true, description: 'boxes do not attend to each other in self-attention' },
      { name: 'gate', kind: 'boolean', default: true, description: "a region's LoRA layers act only inside its box" },
      { name: 'reinit', kind: 'boolean', default: true, description: 'move the initial noise where each region is attended most into its box' },
      { name: 'norm', kind: 'boolean', default: true, description: 'group normalisation takes its statistics per region, so one box cannot damp another', unrecorded: false },
      { name: 'warmup', kind: 'int', min: 0, max: MAX_INTERVAL, default: 0, description: 'the first N steps as per-region passes (R + 1 evaluations each, R when the boxes cover the image): places characters more often, at more cost (4, with isolation and reinit off, nearly as often as regional-passes)', unrecorded: 0 },
    ],
    defaultOrder: 'user',
    needsFrequencyClasses: false,
    minLoras: 0,
    cost: '1 (plus one pass per image with reinit; up to R + 1 in the warm-up steps)',
    regional: true,
    // measured on the demo model's two-character scenes without a global LoRA (docs/regional.md)
    presets: [
      {
        name: 'one-pass',
        label: 'One pass a step',
        description: 'the defaults: one UNet pass a step, about 1.3x Merge per image (both characters in place in 49% of the demo scenes)',
        options: {},
      },
      {
        name: 'placement',
        label: 'Placement first',
        description: 'a warm-up of 4 per-region steps, then one pass a step, no isolation or re-initialisation: both characters in place in 78-81% of the demo scenes, for 1.4-1.5x Merge per image',
        options: { warmup: 4, isolation: false, reinit: false },
      },
    ],
    create: (c, o) =>
      new Regional(c.weights, regionOf(c), c.regions ?? [], { isolation: o.isolation as boolean, gate: o.gate as boolean, reinit: o.reinit as boolean, norm: o.norm as boolean, warmup: o.warmup as number }),
  },
  {
    name: 'regional-passes',
    label: 'Regional passes',
    summary: 'one UNet pass per region and one for the global prompt, combined by the boxes (for comparison)',
    options: [],
    defaultOrder: 'user',
    needsFrequencyClasses: false,
    minLoras: 0,
    cost: 'R + 1 for R regions (R when the boxes cover the image)',
    regional: true,
    create: (c) => new RegionalPasses(c.weights, regionOf(c), c.regions ?? []),
  },
];

/** Per LoRA its region (-1: global); LoRAs not listed are global. */
function regionOf(c: MethodContext): number[] {
  return c.weights.map((_, k) => c.loraRegion?.[k] ?? -1);
}

export const METHOD_NAMES: readonly string[] = METHODS.map((m) => m.name);

export function findMethod(name: string): MethodDefinition {
  const found = METHODS.find((m) => m.name === name.trim().toLowerCase());
  if (!found) throw new ChordError('BAD_ARGUMENT', `Unknown composition method "${name}".`, `Choose one of: ${METHOD_NAMES.join(', ')}.`);
  return found;
}

/**
 * A record's method options, each option added since it was made given the value it had then
 * (`unrecorded`), so that a remake is the image that was made. Unknown methods: as recorded.
 */
export function recordedMethodOptions(method: string, recorded: Readonly<Record<string, number | boolean>>): Record<string, number | boolean> {
  const out = { ...recorded };
  const definition = METHODS.find((m) => m.name === method);
  for (const spec of definition?.options ?? []) if (!(spec.name in out) && spec.unrecorded !== undefined) out[spec.name] = spec.unrecorded;
  return out;
}

/**
 * A method's options, checked and completed with defaults: unknown names, wrong types and values
 * out of range fail with one line naming the option.
 */
export function resolveMethodOptions(definition: MethodDefinition, given: Readonly<Record<string, unknown>> = {}): Record<string, number | boolean> {
  const out: Record<string, number | boolean> = {};
  for (const key of Object.keys(given)) {
    if (!definition.options.some((o) => o.name === key)) {
      const known = definition.options.map((o) => o.name);
      throw new ChordError('BAD_ARGUMENT', `The ${definition.label} method has no option "${key}".`, known.length ? `Its options: ${known.join(', ')}.` : `${definition.label} takes no options.`);
    }
  }
  for (const spec of definition.options) {
    const value = given[spec.name] ?? spec.default;
    if (spec.kind === 'boolean') {
      if (typeof value !== 'boolean') throw new ChordError('BAD_ARGUMENT', `${definition.label} option ${spec.name} must be true or false (got ${JSON.stringify(value)}).`);
      out[spec.name] = value;
      continue;
    }
    const whole = spec.kind === 'int';
    if (typeof value !== 'number' || !Number.isFinite(value) || (whole && !Number.isInteger(value)) || value < (spec.min ?? -Infinity) || value > (spec.max ?? Infinity)) {
      throw new ChordError('BAD_ARGUMENT', `${definition.label} option ${spec.name} (${spec.description}) must be a ${whole ? 'whole number' : 'number'} from ${spec.min} to ${spec.max} (got ${JSON.stringify(value)}).`);
    }
    out[spec.name] = value;
  }
  return out;
}

/** A preset's options, resolved (every option of the method set); an unknown name says which exist. */
export function presetOptions(definition: MethodDefinition, name: string): Record<string, number | boolean> {
  const presets = definition.presets ?? [];
  const preset = presets.find((p) => p.name === name.trim().toLowerCase());
  if (!preset) {
    throw new ChordError(
      'BAD_ARGUMENT',
      `The ${definition.label} method has no preset "${name}".`,
      presets.length ? `Its presets: ${presets.map((p) => p.name).join(', ')}.` : `${definition.label} has no presets.`,
    );
  }
  return resolveMethodOptions(definition, preset.options);
}

/** What a host shows of the registry (CLI help, the app's method selector). */
export function describeMethods(): {
  name: string;
  label: string;
  summary: string;
  cost: string;
  defaultOrder: DefaultOrder;
  experimental: boolean;
  regional: boolean;
  options: MethodOptionSpec[];
  presets: MethodPreset[];
}[] {
  return METHODS.map((m) => ({
    name: m.name,
    label: m.label,
    summary: m.summary,
    cost: m.cost,
    defaultOrder: m.defaultOrder,
    experimental: m.experimental ?? false,
    regional: m.regional ?? false,
    options: [...m.options],
    // every option set, so that choosing a preset also resets what it leaves at the default
    presets: (m.presets ?? []).map((p) => ({ ...p, options: resolveMethodOptions(m, p.options) })),
  }));
}
