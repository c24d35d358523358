/**
 * Reading LoRA tensor names. A LoRA file is a flat list of tensors; each module's tensors share a
 * stem and differ in a role suffix:
 *   kohya / LyCORIS  lora_unet_<path_with_underscores>.lora_down.weight  (.lora_up, .alpha, .hada_w1_a, ...)
 *   PEFT             [base_model.model.][unet.|text_encoder.]<dotted.path>.lora_A.weight  (.lora_B)
 *   diffusers        [unet.|text_encoder.]<dotted.path>.lora.down.weight  (.lora.up, .alpha)
 *                    ... .lora_linear_layer.down.weight (LoRACompatibleLinear era)
 *   attn processors  <dotted>.attn1.processor.to_q_lora.down.weight  (to_out_lora = to_out.0)
 * This module only classifies names; it never reads tensor data.
 */
import type { ModelPart } from './types';

export type TensorRole =
  | 'down'
  | 'up'
  | 'mid'
  | 'alpha'
  | 'dora'
  | 'hada_w1_a'
  | 'hada_w1_b'
  | 'hada_w2_a'
  | 'hada_w2_b'
  | 'hada_t1'
  | 'hada_t2'
  | 'lokr_w1'
  | 'lokr_w1_a'
  | 'lokr_w1_b'
  | 'lokr_w2'
  | 'lokr_w2_a'
  | 'lokr_w2_b'
  | 'lokr_t2'
  | 'diff';

/** How the file spells module names and low-rank pairs. */
export type LoraKeyStyle = 'kohya' | 'peft' | 'diffusers' | 'attn-procs';

export interface ModuleKey {
  /** the stem shared by the module's tensors, as written in the file */
  stem: string;
  part: ModelPart;
  /** the module name inside its part as the file spells it (underscore form for kohya, else dotted) */
  name: string;
  dotted: boolean;
  style: LoraKeyStyle;
  /** SDXL text encoder 1 or 2 (`lora_te1_`, `lora_te2_`, `text_encoder_2.`); absent for SD 1.x/2.x */
  sdxlTextEncoder?: 1 | 2;
  /** a model family that is not SD 1.x/2.x/XL (SD3 `lora_te3_`, DiT `transformer.`) */
  foreign?: string;
}

export interface ParsedKey extends ModuleKey {
  key: string;
  role: TensorRole;
}

export interface IgnoredKey {
  key: string;
  reason: string;
}

/** Role suffixes, longest first where one is a suffix of another. */
const ROLE_SUFFIXES: ReadonlyArray<readonly [string, TensorRole, LoraKeyStyle | undefined]> = [
  ['.lora_down.weight', 'down', undefined],
  ['.lora_up.weight', 'up', undefined],
  ['.lora_mid.weight', 'mid', undefined],
  ['.lora_A.default.weight', 'down', 'peft'],
  ['.lora_B.default.weight', 'up', 'peft'],
  ['.lora_A.weight', 'down', 'peft'],
  ['.lora_B.weight', 'up', 'peft'],
  ['.lora_linear_layer.down.weight', 'down', 'diffusers'],
  ['.lora_linear_layer.up.weight', 'up', 'diffusers'],
  ['.lora.down.weight', 'down', 'diffusers'],
  ['.lora.up.weight', 'up', 'diffusers'],
  ['.lora_magnitude_vector.default.weight', 'dora', 'peft'],
  ['.lora_magnitude_vector.weight', 'dora', 'peft'],
  ['.lora_magnitude_vector', 'dora', 'peft'],
  ['.dora_scale', 'dora', undefined],
  ['.hada_w1_a', 'hada_w1_a', undefined],
  ['.hada_w1_b', 'hada_w1_b', undefined],
  ['.hada_w2_a', 'hada_w2_a', undefined],
  ['.hada_w2_b', 'hada_w2_b', undefined],
  ['.hada_t1', 'hada_t1', undefined],
  ['.hada_t2', 'hada_t2', undefined],
  ['.lokr_w1_a', 'lokr_w1_a', undefined],
  ['.lokr_w1_b', 'lokr_w1_b', undefined],
  ['.lokr_w1', 'lokr_w1', undefined],
  ['.lokr_w2_a', 'lokr_w2_a', undefined],
  ['.lokr_w2_b', 'lokr_w2_b', undefined],
  ['.lokr_w2', 'lokr_w2', undefined],
  ['.lokr_t2', 'lokr_t2', undefined],
  ['.diff', 'diff', undefined],
  ['.alpha', 'alpha', undefined],
];

/** Recognised but unsupported kinds, so the report can say why a key was skipped. */
const IGNORED_PATTERNS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\.(diff_b|bias)$/, 'bias update (not supported)'],
  [/\.(oft_blocks|oft_diag|oft_R|boft_R|boft_s)(\.weight)?$/, 'OFT/BOFT (not supported)'],
  [/\.(a1|a2|b1|b2)\.weight$/, 'GLoRA (not supported)'],
  [/\.on_input$|\.weight$/, 'IA3 or unknown weight (not supported)'],
  [/\.(w_norm|b_norm)$/, 'norm layer update (not supported)'],
  [/^(bundle_emb|emb_params)|\.string_to_param\./, 'bundled embedding (not supported)'],
  [/\.scale$/, 'LyCORIS scale (ignored)'],
];

// Attention-processor era (diffusers < 0.19): `<block>.attn1.processor.to_q_lora.down.weight`
const ATTN_PROC = /^(.*)\.processor\.(to_q|to_k|to_v|to_out)_lora\.(down|up)\.weight$/;

interface Located {
  part: ModelPart;
  name: string;
  dotted: boolean;
  sdxlTextEncoder?: 1 | 2;
  foreign?: string;
  kohya: boolean;
}

/** Where a stem points: which model part, and the module name inside it. */
function locate(stem: string): Located | undefined {
  const kohya = /^lora_(unet|te|te1|te2|te3)_(.+)$/.exec(stem);
  if (kohya) {
    const [, prefix, name] = kohya;
    if (prefix === 'unet') return { part: 'unet', name, dotted: false, kohya: true };
    if (prefix === 'te') return { part: 'text_encoder', name, dotted: false, kohya: true };
    if (prefix === 'te3') return { part: 'text_encoder', name, dotted: false, kohya: true, foreign: 'SD3 (T5 text encoder)' };
    return { part: 'text_encoder', name, dotted: false, kohya: true, sdxlTextEncoder: prefix === 'te1' ? 1 : 2 };
  }
  if (stem.startsWith('lora_')) return undefined; // other kohya prefixes (lora_transformer_, ...) handled by caller
  let s = stem;
  while (s.startsWith('base_model.model.')) s = s.slice('base_model.model.'.length);
  if (s.startsWith('unet.')) return { part: 'unet', name: s.slice(5), dotted: true, kohya: false };
  if (s.startsWith('text_encoder_2.')) {
    return { part: 'text_encoder', name: s.slice(15), dotted: true, kohya: false, sdxlTextEncoder: 2 };
  }
  if (s.startsWith('text_encoder.')) return { part: 'text_encoder', name: s.slice(13), dotted: true, kohya: false };
  if (s.startsWith('model.diffusion_model.')) return { part: 'unet', name: s.slice(22), dotted: true, kohya: false };
  if (s.startsWith('diffusion_model.')) return { part: 'unet', name: s.slice(16), dotted: true, kohya: false };
  if (s.startsWith('transformer.')) return { part: 'unet', name: s.slice(12), dotted: true, kohya: false, foreign: 'a DiT model (SD3/Flux)' };
  if (s.startsWith('text_model.')) return { part: 'text_encoder', name: s, dotted: true, kohya: false };
  return { part: 'unet', name: s, dotted: true, kohya: false };
}

/** Classify one tensor name; `undefined` = not a LoRA tensor this reader understands. */
export function parseLoraKey(key: string): ParsedKey | undefined {
  let stem: string | undefined;
  let role: TensorRole | undefined;
  let style: LoraKeyStyle | undefined;
  const proc = ATTN_PROC.exec(key);
  if (proc) {
    const [, block, proj, which] = proc;
    stem = `${block}.${proj === 'to_out' ? 'to_out.0' : proj}`;
    role = which === 'down' ? 'down' : 'up';
    style = 'attn-procs';
  } else {
    for (const [suffix, r, st] of ROLE_SUFFIXES) {
      if (key.endsWith(suffix) && key.length > suffix.length) {
        stem = key.slice(0, -suffix.length);
        role = r;
        style = st;
        break;
      }
    }
  }
  if (stem === undefined || role === undefined) return undefined;
  const loc = locate(stem);
  if (!loc) return undefined;
  const keyStyle: LoraKeyStyle = loc.kohya ? 'kohya' : (style ?? 'diffusers');
  const out: ParsedKey = { key, stem, role, part: loc.part, name: loc.name, dotted: loc.dotted, style: keyStyle };
  if (loc.sdxlTextEncoder) out.sdxlTextEncoder = loc.sdxlTextEncoder;
  if (loc.foreign) out.foreign = loc.foreign;
  return out;
}

/** Why a key that `parseLoraKey` did not take is skipped. */
export function ignoredReason(key: string): string {
  if (/^lora_transformer_/.test(key)) return 'DiT transformer LoRA (not an SD model)';
  for (const [re, reason] of IGNORED_PATTERNS) if (re.test(key)) return reason;
  return 'unknown tensor';
}

/** A module's tensors, grouped by stem: role -> tensor name. */
export interface KeyGroup extends ModuleKey {
  tensors: Partial<Record<TensorRole, string>>;
}

/**
 * Group tensor names into modules. Styles may mix within a file (e.g. PEFT pairs with a kohya-style
 * `.alpha`), so grouping is by (part, name), not by the raw stem.
 */
export function groupLoraKeys(names: Iterable<string>): { groups: KeyGroup[]; ignored: IgnoredKey[] } {
  const groups = new Map<string, KeyGroup>();
  const ignored: IgnoredKey[] = [];
  for (const key of names) {
    const p = parseLoraKey(key);
    if (!p) {
      ignored.push({ key, reason: ignoredReason(key) });
      continue;
    }
    const id = `${p.part}${p.sdxlTextEncoder ?? ''}\u0000${p.dotted ? 'd' : 'u'}\u0000${p.name}`;
    let g = groups.get(id);
    if (!g) {
      g = { stem: p.stem, part: p.part, name: p.name, dotted: p.dotted, style: p.style, tensors: {} };
      if (p.sdxlTextEncoder) g.sdxlTextEncoder = p.sdxlTextEncoder;
      if (p.foreign) g.foreign = p.foreign;
      groups.set(id, g);
    }
    // `.alpha` / `.dora_scale` say nothing about the style; the weight tensors do
    if (p.role !== 'alpha' && p.role !== 'dora') g.style = p.style;
    if (g.tensors[p.role] !== undefined) {
      ignored.push({ key, reason: `duplicate ${p.role} for ${g.stem}` });
      continue;
    }
    g.tensors[p.role] = key;
  }
  return { groups: [...groups.values()], ignored };
}

/** The algorithm a group's roles describe. */
export type LoraAlgorithm = 'lora' | 'loha' | 'lokr' | 'diff' | 'incomplete';

export function groupAlgorithm(g: KeyGroup): LoraAlgorithm {
  const roles = Object.keys(g.tensors) as TensorRole[];
  if (roles.some((r) => r.startsWith('hada_'))) return 'loha';
  if (roles.some((r) => r.startsWith('lokr_'))) return 'lokr';
  if (g.tensors.down !== undefined || g.tensors.up !== undefined) return 'lora';
  if (g.tensors.diff !== undefined) return 'diff';
  return 'incomplete';
}
