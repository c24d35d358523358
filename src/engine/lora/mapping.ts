/**
 * Resolving a parsed LoRA against the layers a model graph can take (`LoraTarget`s), checking
 * shapes, and producing `LoraModule`s (additive low-rank branches) and `LoraDelta`s (weights to
 * merge: LoHa, LoKr, DoRA, full diffs).
 *
 * Name matching: kohya's underscore names are ambiguous when split (`transformer_blocks`,
 * `to_out_0`, `proj_in`), so a name is matched as a whole against the underscore form of each
 * known module path. Dotted names are matched exactly first. UNet names in the original SD 1.5
 * (LDM) layout are translated first (`ldm.ts`). A file made for another base model is refused
 * with LORA_WRONG_BASE before anything is applied; a file that fits nothing with LORA_NO_MATCH.
 */
import { basename } from 'node:path';
import { ChordError } from '../errors';
import { sd15LdmToDiffusers } from './ldm';
import { lohaDelta, lokrDelta, loraDense, foldLoraMid, type Matrix, type TensorData } from './lycoris';
import type { LoraEntry, ParsedLora } from './parse';
import type { LoraDelta, LoraModule, LoraTarget, ModelPart } from './types';

export interface LoraMatchReport {
  /** modules in the file (entries with weights) */
  total: number;
  matched: number;
  /** file stems that fit no target of this model */
  unmatched: string[];
  /** tensors skipped as unsupported or unknown, with why */
  ignored: Array<{ key: string; reason: string }>;
  byPart: Record<ModelPart, { matched: number; total: number }>;
  /** matched modules that become merged weight deltas (LoHa, LoKr, DoRA, full) */
  baked: number;
  /** matched DoRA modules (exact only with the base weight, see `doraExactDelta`) */
  dora: number;
  notes: string[];
  /** one line, e.g. "matched 120 of 192 modules (unet 100/160, text_encoder 20/32)" */
  summary: string;
}

export interface MappedLora {
  modules: LoraModule[];
  deltas: LoraDelta[];
  report: LoraMatchReport;
}

const underscore = (path: string): string => path.replace(/\./g, '_');

class TargetIndex {
  private readonly exact = new Map<string, LoraTarget>();
  /** null marks an underscore form shared by two module paths: it cannot identify either */
  private readonly under = new Map<string, LoraTarget | null>();

  constructor(targets: readonly LoraTarget[]) {
    for (const t of targets) {
      this.exact.set(`${t.part}\u0000${t.modulePath}`, t);
      const u = `${t.part}\u0000${underscore(t.modulePath)}`;
      this.under.set(u, this.under.has(u) ? null : t);
    }
  }

  resolve(part: ModelPart, name: string, dotted: boolean): LoraTarget | undefined {
    if (dotted) {
      const t = this.exact.get(`${part}\u0000${name}`);
      if (t) return t;
    }
    const u = dotted ? underscore(name) : name;
    const direct = this.under.get(`${part}\u0000${u}`);
    if (direct) return direct;
    if (part === 'unet') {
      const ldm = sd15LdmToDiffusers(u);
      if (ldm) return this.under.get(`${part}\u0000${ldm}`) ?? undefined;
    }
    return undefined;
  }
}

/** What the file says a module's weight looks like: [out, cols = in * kh * kw]. */
interface FileDims {
  out: number;
  cols: number;
  in?: number;
  kernel?: number[];
}

const numel = (t: TensorData): number => t.data.length;
const colsOf = (t: TensorData): number => (t.shape[0] ? numel(t) / t.shape[0] : 0);
const prod = (a: number[]): number => a.reduce((x, y) => x * y, 1);

function fileDims(e: LoraEntry): FileDims {
  const t = e.tensors;
  switch (e.algorithm) {
    case 'lora': {
      const down = t.mid && t.down ? { shape: [t.mid.shape[0], t.down.shape[1], ...t.mid.shape.slice(2)] } : t.down;
      const up = t.up as TensorData;
      const d = down as { shape: number[] };
      const kernel = d.shape.length === 4 ? d.shape.slice(2) : undefined;
      return { out: up.shape[0], cols: d.shape[1] * (kernel ? prod(kernel) : 1), in: d.shape[1], kernel };
    }
    case 'loha': {
      const w1a = t.hada_w1_a as TensorData;
      const w1b = t.hada_w1_b as TensorData;
      if (t.hada_t1) {
        const kernel = t.hada_t1.shape.slice(2);
        return { out: w1a.shape[1] ?? 0, cols: (w1b.shape[1] ?? 0) * prod(kernel), in: w1b.shape[1], kernel };
      }
      return { out: w1a.shape[0], cols: colsOf(w1b) };
    }
    case 'lokr': {
      const a = t.lokr_w1 ? t.lokr_w1.shape[0] : (t.lokr_w1_a as TensorData).shape[0];
      const b = t.lokr_w1 ? colsOf(t.lokr_w1) : colsOf(t.lokr_w1_b as TensorData);
      let c: number;
      let dk: number;
      let kernel: number[] | undefined;
      if (t.lokr_w2) {
        c = t.lokr_w2.shape[0];
        dk = colsOf(t.lokr_w2);
        if (t.lokr_w2.shape.length === 4) kernel = t.lokr_w2.shape.slice(2);
      } else if (t.lokr_t2) {
        c = (t.lokr_w2_a as TensorData).shape[1] ?? 0;
        kernel = t.lokr_t2.shape.slice(2);
        dk = ((t.lokr_w2_b as TensorData).shape[1] ?? 0) * prod(kernel);
      } else {
        c = (t.lokr_w2_a as TensorData).shape[0];
        dk = colsOf(t.lokr_w2_b as TensorData);
      }
      return { out: a * c, cols: b * dk, kernel };
    }
    case 'diff': {
      const d = t.diff as TensorData;
      const kernel = d.shape.length === 4 ? d.shape.slice(2) : undefined;
      return { out: d.shape[0], cols: colsOf(d), in: d.shape[1], kernel };
    }
  }
}

function targetKernel(t: LoraTarget): [number, number] {
  return t.op === 'Conv' ? (t.conv?.kernel ?? [1, 1]) : [1, 1];
}

function fits(d: FileDims, t: LoraTarget): boolean {
  const [kh, kw] = targetKernel(t);
  if (d.out !== t.outFeatures || d.cols !== t.inFeatures * kh * kw) return false;
  if (d.in !== undefined && d.in !== t.inFeatures) return false;
  if (d.kernel && (d.kernel[0] !== kh || d.kernel[1] !== kw)) return false;
  return true;
}

function describeDims(inF: number | undefined, cols: number, out: number, kernel: number[] | undefined): string {
  const k = kernel && (kernel[0] !== 1 || kernel[1] !== 1) ? ` (${kernel.join('x')} kernel)` : '';
  const i = inF ?? (kernel ? cols / prod(kernel) : cols);
  return `${i} -> ${out}${k}`;
}

interface Mismatch {
  entry: LoraEntry;
  target: LoraTarget;
  dims: FileDims;
}

type BaseGuess = { base: 'SDXL' | 'SD 2.x'; reason: string };

/** The model's cross-attention width (attn2.to_k input), or the text encoder width. */
function contextWidth(targets: readonly LoraTarget[]): number | undefined {
  const k = targets.find((t) => t.part === 'unet' && /attn2\.to_k$/.test(t.modulePath));
  if (k) return k.inFeatures;
  return targets.find((t) => t.part === 'text_encoder' && /q_proj$/.test(t.modulePath))?.inFeatures;
}

function describeModel(targets: readonly LoraTarget[]): string {
  const w = contextWidth(targets);
  if (w === undefined || w === 768) return 'SD 1.5-like';
  if (w === 1024) return 'SD 2.x-like';
  if (w === 2048) return 'SDXL-like';
  return `SD 1.5-like (context width ${w})`;
}

/** Name a known base from a mismatched width (SDXL: context 2048 / TE2 1280; SD 2.x: 1024). */
function guessFromMismatch(m: Mismatch): BaseGuess | undefined {
  const got = m.dims.in ?? m.dims.cols;
  const isContext = m.target.part === 'unet' && /attn2\.to_[kv]$/.test(m.target.modulePath);
  const isText = m.target.part === 'text_encoder';
  if ((isContext && got === 2048) || (isText && got === 1280)) {
    return { base: 'SDXL', reason: `${m.entry.stem} takes ${got} inputs where this model's ${m.target.modulePath} takes ${m.target.inFeatures}` };
  }
  if ((isContext || isText) && got === 1024) {
    return { base: 'SD 2.x', reason: `${m.entry.stem} takes ${got} inputs where this model's ${m.target.modulePath} takes ${m.target.inFeatures}` };
  }
  return undefined;
}

/** Scale of a plain LoRA module: alpha / rank, or PEFT's alpha / r(_pattern), or alpha / sqrt(r). */
function loraScale(e: LoraEntry, rank: number): number {
  const alpha = e.alpha ?? rank;
  const r = e.scaleRank ?? rank;
  return alpha / (e.rsLora ? Math.sqrt(r) : r);
}

function doraAxis(e: LoraEntry, mag: TensorData, out: number, inF: number): 'out' | 'in' {
  const n = numel(mag);
  // PEFT keeps the magnitude per output channel ([out] or [1, out, 1, 1] for conv)
  if (e.style === 'peft' && n === out) return 'out';
  if (n === out && (mag.shape[0] === out || mag.shape.length === 1)) return 'out';
  if (n === inF) return 'in';
  throw new ChordError('LORA_INVALID', `DoRA module ${e.stem} has a magnitude of shape [${mag.shape.join(', ')}], which fits neither ${out} outputs nor ${inF} inputs.`);
}

function checkedRank(e: LoraEntry, down: TensorData, up: TensorData): number {
  const r = down.shape[0];
  if (!(r > 0) || up.shape[1] !== r) {
    throw new ChordError('LORA_INVALID', `LoRA module ${e.stem}: lora_down [${down.shape.join(', ')}] and lora_up [${up.shape.join(', ')}] disagree on the rank.`, 'The file is damaged.');
  }
  if (down.shape.length !== 2 && down.shape.length !== 4) throw new ChordError('LORA_INVALID', `LoRA module ${e.stem}: lora_down must be 2-D or 4-D.`);
  if (up.shape.length === 4 && (up.shape[2] !== 1 || up.shape[3] !== 1)) {
    throw new ChordError('LORA_INVALID', `LoRA module ${e.stem}: lora_up with a ${up.shape[2]}x${up.shape[3]} kernel is not supported.`);
  }
  if (up.shape.length !== 2 && up.shape.length !== 4) throw new ChordError('LORA_INVALID', `LoRA module ${e.stem}: lora_up must be 2-D or 4-D.`);
  return r;
}

function build(e: LoraEntry, t: LoraTarget): { module?: LoraModule; delta?: LoraDelta } {
  const conv = t.op === 'Conv';
  const kind = conv ? 'conv' : 'linear';
  const [kh, kw] = targetKernel(t);
  const weightShape = conv ? [t.outFeatures, t.inFeatures, kh, kw] : [t.outFeatures, t.inFeatures];
  const mag = e.tensors.dora;
  const asDelta = (type: string, m: Matrix): LoraDelta => {
    const delta: LoraDelta = { part: t.part, modulePath: t.modulePath, kind, type, delta: m.data, shape: weightShape };
    if (mag) delta.dora = { magnitude: mag.data, axis: doraAxis(e, mag, t.outFeatures, t.inFeatures) };
    return delta;
  };
  const tt = e.tensors;
  switch (e.algorithm) {
    case 'lora': {
      const up = tt.up as TensorData;
      const down = tt.mid ? foldLoraMid(tt.down as TensorData, tt.mid, e.stem) : (tt.down as TensorData);
      const rank = checkedRank(e, down, up);
      const scale = loraScale(e, rank);
      if (mag) return { delta: asDelta('dora', loraDense(up, down, scale, e.stem)) };
      const module: LoraModule = {
        part: t.part,
        modulePath: t.modulePath,
        kind,
        rank,
        // keeps scale = alpha / rank true also for PEFT rank_pattern / rsLoRA scales
        alpha: scale * rank,
        scale,
        down: down.data,
        downShape: conv ? [rank, t.inFeatures, kh, kw] : [rank, t.inFeatures],
        up: up.data,
        upShape: conv ? [t.outFeatures, rank, 1, 1] : [t.outFeatures, rank],
      };
      return { module };
    }
    case 'loha': {
      const m = lohaDelta(
        { w1a: tt.hada_w1_a as TensorData, w1b: tt.hada_w1_b as TensorData, w2a: tt.hada_w2_a as TensorData, w2b: tt.hada_w2_b as TensorData, t1: tt.hada_t1, t2: tt.hada_t2 },
        e.alpha,
        e.stem,
      );
      return { delta: asDelta(mag ? 'dora' : 'loha', m) };
    }
    case 'lokr': {
      const m = lokrDelta({ w1: tt.lokr_w1, w1a: tt.lokr_w1_a, w1b: tt.lokr_w1_b, w2: tt.lokr_w2, w2a: tt.lokr_w2_a, w2b: tt.lokr_w2_b, t2: tt.lokr_t2 }, e.alpha, e.stem);
      return { delta: asDelta(mag ? 'dora' : 'lokr', m) };
    }
    case 'diff': {
      const d = tt.diff as TensorData;
      return { delta: asDelta(mag ? 'dora' : 'diff', { rows: d.shape[0], cols: colsOf(d), data: d.data }) };
    }
  }
}

/** Resolve, check and convert every module of `parsed` for a model with these targets. */
export function mapLoraToTargets(parsed: ParsedLora, targets: readonly LoraTarget[]): MappedLora {
  const file = basename(parsed.source);
  const index = new TargetIndex(targets);
  const modelIs = describeModel(targets);
  const modelIsSdxl = contextWidth(targets) === 2048;
  const wrongBase = (g: BaseGuess): ChordError =>
    new ChordError(
      'LORA_WRONG_BASE',
      `${file} looks like an ${g.base} LoRA; this model is ${modelIs} (${g.reason}).`,
      `Use a LoRA trained for this model's family.`,
    );

  // LoRAs for SDXL's text encoders can never fit an SD 1.x/2.x model
  const sdxlTe = parsed.entries.find((e) => e.sdxlTextEncoder !== undefined);
  if (sdxlTe && !modelIsSdxl) {
    throw wrongBase({ base: 'SDXL', reason: `it has keys for SDXL's text encoder ${sdxlTe.sdxlTextEncoder}, e.g. ${sdxlTe.stem}` });
  }

  const matches: Array<{ entry: LoraEntry; target: LoraTarget }> = [];
  const unmatched: LoraEntry[] = [];
  const mismatches: Mismatch[] = [];
  const seen = new Map<LoraTarget, LoraEntry>();
  for (const entry of parsed.entries) {
    const target = entry.foreign ? undefined : index.resolve(entry.part, entry.name, entry.dotted);
    if (!target) {
      unmatched.push(entry);
      continue;
    }
    const dims = fileDims(entry);
    if (!fits(dims, target)) {
      mismatches.push({ entry, target, dims });
      continue;
    }
    const prev = seen.get(target);
    if (prev) {
      throw new ChordError('LORA_INVALID', `${file} has two entries for ${target.modulePath}: ${prev.stem} and ${entry.stem}.`, 'The file is malformed; re-export it.');
    }
    seen.set(target, entry);
    matches.push({ entry, target });
  }

  // SDXL attentions hold 2 or 10 transformer blocks, SD 1.5's one: an unmatched block N >= 1 whose
  // block 0 exists in this model is an SDXL layout.
  for (const e of unmatched) {
    if (e.part !== 'unet' || e.foreign) continue;
    const u = e.dotted ? underscore(e.name) : e.name;
    const m = /transformer_blocks_(\d+)_/.exec(u);
    if (m && Number(m[1]) >= 1 && index.resolve('unet', u.replace(/transformer_blocks_\d+_/, 'transformer_blocks_0_'), false)) {
      throw wrongBase({ base: 'SDXL', reason: `${e.stem} addresses transformer block ${m[1]}, and this model has one per attention` });
    }
  }
  for (const m of mismatches) {
    const g = guessFromMismatch(m);
    if (g) throw wrongBase(g);
  }
  if (mismatches.length > 0) {
    const m = mismatches[0];
    const [kh, kw] = targetKernel(m.target);
    const want = describeDims(m.target.inFeatures, m.target.inFeatures * kh * kw, m.target.outFeatures, [kh, kw]);
    const got = describeDims(m.dims.in, m.dims.cols, m.dims.out, m.dims.kernel);
    const more = mismatches.length > 1 ? ` (${mismatches.length - 1} more modules do not fit either)` : '';
    throw new ChordError(
      'LORA_WRONG_BASE',
      `${file} does not fit this model: ${m.target.modulePath} is ${want} here but ${got} in the file (${m.entry.stem})${more}.`,
      'The LoRA was made for a different base model.',
    );
  }
  if (matches.length === 0) {
    const foreign = parsed.entries.find((e) => e.foreign);
    if (foreign) throw wrongBase0(file, foreign.foreign as string, modelIs);
    const examples = unmatched.slice(0, 2).map((e) => e.stem).join(', ');
    throw new ChordError(
      'LORA_NO_MATCH',
      `${file} matches none of this model's layers (0 of ${parsed.entries.length} modules; e.g. ${examples}).`,
      'It is probably a LoRA for another kind of model.',
    );
  }

  const modules: LoraModule[] = [];
  const deltas: LoraDelta[] = [];
  for (const { entry, target } of matches) {
    const r = build(entry, target);
    if (r.module) modules.push(r.module);
    if (r.delta) {
      const expected = r.delta.shape.reduce((a, b) => a * b, 1);
      if (r.delta.delta.length !== expected) {
        throw new ChordError('LORA_INVALID', `${file}: module ${entry.stem} gives ${r.delta.delta.length} values for a [${r.delta.shape.join(', ')}] weight.`);
      }
      deltas.push(r.delta);
    }
  }

  const byPart: Record<ModelPart, { matched: number; total: number }> = {
    unet: { matched: 0, total: 0 },
    text_encoder: { matched: 0, total: 0 },
  };
  for (const e of parsed.entries) byPart[e.part].total++;
  for (const { entry } of matches) byPart[entry.part].matched++;
  const dora = deltas.filter((d) => d.dora).length;
  const notes: string[] = [];
  if (deltas.length > 0) notes.push(`${deltas.length} modules (${[...new Set(deltas.map((d) => d.type))].join(', ')}) have no low-rank form and are merged into the weights.`);
  if (dora > 0) notes.push(`${dora} DoRA modules depend on the base weights; they are exact only when merged with them.`);
  if (parsed.ignored.length > 0) notes.push(`${parsed.ignored.length} tensors were skipped (${[...new Set(parsed.ignored.map((i) => i.reason))].join('; ')}).`);
  const parts = (Object.keys(byPart) as ModelPart[]).filter((p) => byPart[p].total > 0).map((p) => `${p} ${byPart[p].matched}/${byPart[p].total}`);
  const report: LoraMatchReport = {
    total: parsed.entries.length,
    matched: matches.length,
    unmatched: unmatched.map((e) => e.stem).sort(),
    ignored: parsed.ignored,
    byPart,
    baked: deltas.length,
    dora,
    notes,
    summary: `matched ${matches.length} of ${parsed.entries.length} modules (${parts.join(', ')})`,
  };
  return { modules, deltas, report };
}

function wrongBase0(file: string, family: string, modelIs: string): ChordError {
  return new ChordError('LORA_WRONG_BASE', `${file} looks like a LoRA for ${family}; this model is ${modelIs}.`, `Use a LoRA trained for this model's family.`);
}
