/**
 * The run-time LoRA rewrite (docs/runtime-lora.md, section 2): every target layer P gets a
 * low-rank branch whose weights are graph inputs with a rank r_P of its own,
 *
 *   linear / Gemm:  y = Gemm((x @ down) * g_P, up, C = W(x))    down [in, r_P], up [r_P, out]
 *                   (positions flattened to rows around the Gemm: one pass over the output)
 *   conv:           y = W(x) + Conv1x1(Conv_W'(x, down) * g_P, up)
 *                                                               down [r_P, in, kh, kw], up [out, r_P, 1, 1]
 *   g_P = Gather(lora.gate, lora.slots.P, axis = rank axis)     slots [r_P] int32
 *
 * One gate input `lora.gate` [batch, R] (float32) is shared by all branches: the engine lays the
 * ranks of every active LoRA side by side on it (concatenation = summation), so user weight,
 * on/off and per-batch-item selection are all changes of this small input. A layer carries only
 * the ranks of the LoRAs that touch it, and its slots say which gate columns those are; a layer
 * no active LoRA touches runs at r_P = 0, which gives exactly the original outputs (ONNX Runtime's
 * CPU MatMul and Conv fill zero-sized reductions with zeros; checked in
 * test/onnx/branches.test.ts). So an attention-only LoRA adds no arithmetic to the resnet convs.
 *
 * The branch is added to the layer's own output, so a following bias Add is untouched
 * (y = xW + b + delta(x)); the layer keeps its output name, so consumers and graph outputs need no
 * rewiring. Branch inputs take the layer's compute type (fp16 models get fp16 down/up; the gate
 * stays float32 and is cast once inside the graph).
 */
import type { LoraTarget } from '../lora/types';
import { ChordError } from '../errors';
import { claimName, indexGraph, type GraphIndex } from './graph';
import {
  DataType,
  graphOf,
  int64Tensor,
  intAttr,
  intsAttr,
  makeNode,
  makeValueInfo,
  metadata,
  opsetVersion,
  tensorAttr,
  toNumber,
  withMetadata,
  type Dim,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './proto';
import { inferRanks } from './ranks';
import { locateRequested, type LocatedTarget } from './targets';

/** Bump when the rewritten graph changes shape; part of the rewrite cache key. */
export const LORA_REWRITE_VERSION = 'chord-lora-branches/3';
/** metadata_props keys written by the rewrite */
export const REWRITE_METADATA_KEY = 'chord.rewrite';
export const TARGETS_METADATA_KEY = 'chord.lora.targets';

export const LORA_GATE_INPUT = 'lora.gate';
/** ONNX Runtime's contrib operator domain (FusedConv) */
const MS_DOMAIN = 'com.microsoft';
/** the gate's width: every rank of every active LoRA, side by side */
export const LORA_TOTAL_RANK_DIM = 'lora_total_rank';
export const LORA_BATCH_DIM = 'lora_batch';

export function loraDownInput(modulePath: string): string {
  return `lora.down.${modulePath}`;
}

export function loraUpInput(modulePath: string): string {
  return `lora.up.${modulePath}`;
}

/** The gate columns of a layer's ranks (int32 [r_P]). */
export function loraSlotsInput(modulePath: string): string {
  return `lora.slots.${modulePath}`;
}

/** The symbolic rank of one layer: each layer's rank is free to differ from the others'. */
export function loraRankDim(modulePath: string): string {
  return `lora_rank.${modulePath}`;
}

export interface LoraBranchOptions {
  /**
   * Shape the gate for every linear branch at run time from the input's rank (Shape ops) instead
   * of from the rank inferred at rewrite time. Used automatically where a rank cannot be inferred;
   * forcing it is for tests.
   */
  rankAgnosticGate?: boolean;
  /**
   * How a conv branch joins the layer's output. 'add' (default): a 1x1 up conv, then `Add`, which
   * every execution provider runs. 'fused': the up conv is ONNX Runtime's `com.microsoft.FusedConv`
   * with the layer's output as its sum input `Z`, so the branch accumulates into that output (in
   * place where the memory planner allows) and an idle conv branch adds no pass over it. Only the
   * CPU and CUDA providers have that kernel; Chord uses it for CPU sessions.
   */
  convSum?: 'add' | 'fused';
}

/** The shape of one LoRA graph input, as the engine must feed it. */
export interface LoraInputSpec {
  name: string;
  modulePath: string;
  role: 'down' | 'up' | 'slots' | 'gate';
  /** ONNX element type: 1 float32, 10 float16, 6 int32 (slots) */
  elemType: number;
  dims: Dim[];
}

export function addLoraBranches(model: ModelProto, targets: LoraTarget[], options: LoraBranchOptions = {}): ModelProto {
  const graph = graphOf(model);
  if (metadata(model)[REWRITE_METADATA_KEY]) {
    throw new ChordError('ONNX_GRAPH', 'This graph already has LoRA branches.', 'Rewrite the original model file.');
  }
  const index = indexGraph(graph);
  const located = locateRequested(index, targets);
  const ranks = options.rankAgnosticGate ? new Map<string, number>() : inferRanks(index, opsetVersion(model));
  const fusedConv = options.convSum === 'fused' && located.some((l) => l.target.op === 'Conv');
  const b = new BranchBuilder(index, opsetVersion(model) >= 11, fusedConv);

  const after = new Map<NodeProto, NodeProto[]>();
  const replaced = new Map<NodeProto, NodeProto>();
  const copies = new Map<string, number>();
  for (const l of located) {
    const k = copies.get(l.target.modulePath) ?? 0;
    copies.set(l.target.modulePath, k + 1);
    const prefix = `lora/${l.target.modulePath}${k > 0 ? `/${k}` : ''}`;
    const { node, branch } = b.branch(l, prefix, ranks);
    replaced.set(l.node, node);
    after.set(l.node, branch);
  }

  const nodes: NodeProto[] = [...b.head];
  for (const n of graph.node ?? []) {
    nodes.push(replaced.get(n) ?? n);
    nodes.push(...(after.get(n) ?? []));
  }
  return {
    ...model,
    graph: {
      ...graph,
      node: nodes,
      input: [...(graph.input ?? []), ...b.inputs],
      initializer: [...(graph.initializer ?? []), ...b.initializers],
    },
    opsetImport: fusedConv && !(model.opsetImport ?? []).some((o) => o.domain === MS_DOMAIN)
      ? [...(model.opsetImport ?? []), { domain: MS_DOMAIN, version: 1 }]
      : model.opsetImport,
    metadataProps: withMetadata(model, {
      [REWRITE_METADATA_KEY]: LORA_REWRITE_VERSION,
      [TARGETS_METADATA_KEY]: JSON.stringify(targets),
    }),
  };
}

/** The targets a rewritten graph carries branches for (from its metadata). */
export function rewrittenTargets(model: ModelProto): LoraTarget[] {
  const raw = metadata(model)[TARGETS_METADATA_KEY];
  if (!raw) return [];
  return JSON.parse(raw) as LoraTarget[];
}

const ROLE_PREFIXES = [
  ['down', loraDownInput('')],
  ['up', loraUpInput('')],
  ['slots', loraSlotsInput('')],
] as const;

/** The LoRA inputs of a rewritten graph: the gate, then down/up/slots per target, in graph order. */
export function loraInputSpecs(model: ModelProto): LoraInputSpec[] {
  const out: LoraInputSpec[] = [];
  for (const vi of graphOf(model).input ?? []) {
    const name = vi.name ?? '';
    const prefixed = ROLE_PREFIXES.find(([, prefix]) => name.startsWith(prefix));
    const role = name === LORA_GATE_INPUT ? 'gate' : prefixed?.[0];
    if (!role) continue;
    out.push({
      name,
      modulePath: prefixed ? name.slice(prefixed[1].length) : '',
      role,
      elemType: vi.type?.tensorType?.elemType ?? 0,
      dims: (vi.type?.tensorType?.shape?.dim ?? []).map((d) => d.dimParam || (d.dimValue !== null && d.dimValue !== undefined ? toNumber(d.dimValue) : undefined)),
    });
  }
  return out;
}

/** One layer's gate: the columns of a shared gate view that its slots name, along the rank axis. */
function gatherSlots(gateView: string, slots: string, out: string, rankAxis: number): NodeProto {
  return makeNode('Gather', [gateView, slots], [out], out, [intAttr('axis', rankAxis)]);
}

/** Collects the new inputs, constants and nodes; shares gate views between branches. */
class BranchBuilder {
  readonly inputs: ValueInfoProto[] = [];
  readonly initializers: TensorProto[] = [];
  /** gate casts and reshapes: they read only graph inputs and constants, so they go first */
  readonly head: NodeProto[] = [];
  private readonly gates = new Map<string, string>();
  private readonly consts = new Map<string, string>();
  private readonly declared = new Set<string>();

  constructor(
    private readonly index: GraphIndex,
    /** Flatten takes a negative axis from opset 11 on */
    private readonly flattenAnyAxis: boolean,
    private readonly fusedConv: boolean,
  ) {
    this.inputs.push(makeValueInfo(claimName(index, LORA_GATE_INPUT), DataType.FLOAT, [LORA_BATCH_DIM, LORA_TOTAL_RANK_DIM]));
  }

  branch(l: LocatedTarget, prefix: string, ranks: Map<string, number>): { node: NodeProto; branch: NodeProto[] } {
    const { target, node, weight } = l;
    const dtype = weight.computeType;
    if (dtype !== DataType.FLOAT && dtype !== DataType.FLOAT16) {
      throw new ChordError('ONNX_GRAPH', `The layer ${target.modulePath} computes in ONNX type ${dtype}; LoRA branches need float32 or float16.`);
    }
    const down = loraDownInput(target.modulePath);
    const up = loraUpInput(target.modulePath);
    const slots = loraSlotsInput(target.modulePath);
    this.declareInputs(target, dtype, down, up, slots);

    const x = node.input?.[0] ?? '';
    const y = node.output?.[0] ?? '';
    const name = (suffix: string): string => claimName(this.index, `${prefix}/${suffix}`);
    const base = name('base');
    const rewired: NodeProto = { ...node, output: [base, ...(node.output ?? []).slice(1)] };
    const branch: NodeProto[] = [];
    const d = name('down');
    const gated = name('gated');
    const layerGate = name('gate');
    if (target.op === 'Conv') {
      const c = target.conv;
      if (!c) throw new ChordError('ONNX_GRAPH', `The Conv target ${target.modulePath} has no convolution attributes.`);
      // the down conv sees exactly the receptive field of the original (same kernel, strides,
      // pads, dilations); the up conv is 1x1
      branch.push(
        makeNode('Conv', [x, down], [d], d, [
          intsAttr('kernel_shape', c.kernel),
          intsAttr('strides', c.strides),
          intsAttr('pads', c.pads),
          intsAttr('dilations', c.dilations),
        ]),
      );
      // [batch, R, 1, 1] -> this layer's columns [batch, r_P, 1, 1]
      branch.push(gatherSlots(this.gateView(dtype, 'conv'), slots, layerGate, 1));
    } else {
      branch.push(makeNode('MatMul', [x, down], [d], d));
      const rank = target.op === 'Gemm' ? 2 : ranks.get(x);
      if (rank !== undefined && rank >= 2) {
        // [batch, 1.., R] -> [batch, 1.., r_P]: the rank axis is the last one
        branch.push(gatherSlots(this.gateView(dtype, rank), slots, layerGate, rank - 1));
      } else {
        const picked = name('gate_columns');
        branch.push(gatherSlots(this.gateOfType(dtype), slots, picked, 1));
        this.dynamicGate(picked, x, prefix, layerGate, branch);
      }
    }
    branch.push(makeNode('Mul', [d, layerGate], [gated], gated));
    if (target.op === 'Conv' && this.fusedConv) {
      // y = Conv1x1(gated, up) + base; no bias, no activation
      branch.push({ ...makeNode('FusedConv', [gated, up, '', base], [y], name('add')), domain: MS_DOMAIN });
    } else if (target.op === 'Conv') {
      const u = name('up');
      branch.push(makeNode('Conv', [gated, up], [u], u));
      branch.push(makeNode('Add', [base, u], [y], name('add')));
    } else if (target.op === 'Gemm') {
      // 2-D already: Gemm's C input is the layer's output
      branch.push(makeNode('Gemm', [gated, up, base], [y], name('add')));
    } else if (this.flattenAnyAxis) {
      // [.., r] @ [r, out] + base as one Gemm over the flattened positions: the layer's output is
      // Gemm's C, so at r_P = 0 the branch costs one copy of the output (which ONNX Runtime may
      // do in place) instead of a zero-filled product plus an Add over it
      const g2 = name('gated_2d');
      const b2 = name('base_2d');
      const y2 = name('sum_2d');
      const shape = name('shape');
      branch.push(
        makeNode('Flatten', [gated], [g2], g2, [intAttr('axis', -1)]),
        makeNode('Flatten', [base], [b2], b2, [intAttr('axis', -1)]),
        makeNode('Gemm', [g2, up, b2], [y2], name('add')),
        makeNode('Shape', [base], [shape], shape),
        makeNode('Reshape', [y2, shape], [y], name('reshape')),
      );
    } else {
      // opset < 11: no negative Flatten axis, so the version-2 form
      const u = name('up');
      branch.push(makeNode('MatMul', [gated, up], [u], u));
      branch.push(makeNode('Add', [base, u], [y], name('add')));
    }
    return { node: rewired, branch };
  }

  private declareInputs(target: LoraTarget, dtype: number, down: string, up: string, slots: string): void {
    if (this.declared.has(target.modulePath)) return;
    this.declared.add(target.modulePath);
    const R = loraRankDim(target.modulePath);
    if (target.op === 'Conv' && target.conv) {
      const [kh, kw] = target.conv.kernel;
      this.inputs.push(makeValueInfo(claimName(this.index, down), dtype, [R, target.inFeatures, kh, kw]));
      this.inputs.push(makeValueInfo(claimName(this.index, up), dtype, [target.outFeatures, R, 1, 1]));
    } else {
      this.inputs.push(makeValueInfo(claimName(this.index, down), dtype, [target.inFeatures, R]));
      this.inputs.push(makeValueInfo(claimName(this.index, up), dtype, [R, target.outFeatures]));
    }
    this.inputs.push(makeValueInfo(claimName(this.index, slots), DataType.INT32, [R]));
  }

  /** The gate in the branch's type: float32 as fed, or cast once to float16. */
  private gateOfType(dtype: number): string {
    if (dtype === DataType.FLOAT) return LORA_GATE_INPUT;
    return this.memo(this.gates, 'fp16', () => {
      const out = claimName(this.index, `${LORA_GATE_INPUT}.fp16`);
      this.head.push(makeNode('Cast', [LORA_GATE_INPUT], [out], out, [intAttr('to', DataType.FLOAT16)]));
      return out;
    });
  }

  /**
   * [batch, R] reshaped to broadcast against the branch activation: [batch, 1.., R] for a linear
   * input of rank k, [batch, R, 1, 1] for conv; shared by all branches of that layout, each of
   * which gathers its own columns from it. Reshape's 0 copies the batch size and -1 infers R
   * (0 when R = 0: the other dims are non-zero, so the inference is not ambiguous).
   */
  private gateView(dtype: number, layout: number | 'conv'): string {
    const src = this.gateOfType(dtype);
    if (layout === 2) return src;
    const suffix = dtype === DataType.FLOAT16 ? '.fp16' : '';
    return this.memo(this.gates, `${layout}${suffix}`, () => {
      const shape =
        layout === 'conv' ? this.constant('gate_shape_conv', [0, -1, 1, 1]) : this.constant(`gate_shape_rank${layout}`, [0, ...Array<number>(layout - 2).fill(1), -1]);
      const out = claimName(this.index, layout === 'conv' ? `${LORA_GATE_INPUT}.conv${suffix}` : `${LORA_GATE_INPUT}.rank${layout}${suffix}`);
      this.head.push(makeNode('Reshape', [src, shape], [out], out));
      return out;
    });
  }

  /** Rank-agnostic view of a [batch, r] gate: shape [0, 1 x (rank(x) - 2), -1] computed from x at run time. */
  private dynamicGate(src: string, x: string, prefix: string, gate: string, branch: NodeProto[]): void {
    const name = (s: string): string => claimName(this.index, `${prefix}/${s}`);
    const shape = name('x_shape');
    const rank = name('x_rank');
    const onesLen = name('ones_len');
    const ones = name('ones');
    const gateShape = name('gate_shape');
    branch.push(
      makeNode('Shape', [x], [shape], shape),
      makeNode('Shape', [shape], [rank], rank),
      makeNode('Sub', [rank, this.constant('two', [2])], [onesLen], onesLen),
      makeNode('ConstantOfShape', [onesLen], [ones], ones, [tensorAttr('value', int64Tensor('', [1], [1]))]),
      makeNode('Concat', [this.constant('zero', [0]), ones, this.constant('minus_one', [-1])], [gateShape], gateShape, [intAttr('axis', 0)]),
      makeNode('Reshape', [src, gateShape], [gate], gate),
    );
  }

  private constant(key: string, values: number[]): string {
    return this.memo(this.consts, key, () => {
      const name = claimName(this.index, `lora.const.${key}`);
      this.initializers.push(int64Tensor(name, [values.length], values));
      return name;
    });
  }

  private memo(map: Map<string, string>, key: string, make: () => string): string {
    const hit = map.get(key);
    if (hit) return hit;
    const made = make();
    map.set(key, made);
    return made;
  }
}
