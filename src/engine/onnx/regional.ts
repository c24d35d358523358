/**
 * The regional-attention rewrite (docs/regional.md, "The graph pass"): what regional composition
 * needs inside the UNet, as a pure rewrite of its graph.
 *
 *   attn2 (every layer):  scores + (region_map_l @ token_owner^T - 1) * 1e4
 *       region_map_l [1, Q_l, R+1] is one-hot per latent position at resolution level l (column 0 =
 *       outside every box); token_owner [1, K, R+1] is one-hot per context token (column 0 = the
 *       global prompt). A position sees only the tokens of its own region: bias 0, else -1e4.
 *   attn1 (every layer):  scores + isolation * (s s^T - M M^T)     M = region_map_l[:, :, 1:]
 *       s = M's row sums (1 inside some box): the product is 1 where the query is in box i and the
 *       key in box j != i, and 0 elsewhere (background queries and keys are unrestricted). The
 *       Q x Q term is built here, once per level, from the small map: never fed dense.
 *       `isolation` is a fed scalar (-1e4 on, 0 off). -1e4, never -inf: fp16 overflows to NaN.
 *   LoRA branches (when the graph has them, docs/runtime-lora.md): each branch's low-rank
 *       activation is multiplied by its gate columns times a mask:
 *         spatial layers (attentions, resnets, samplers, conv_in/out) by lora_space_l [1, R, h_l, w_l]
 *         attn2 to_k / to_v by token_gate [1, K, R] (the branch acts on the tokens of its region)
 *       with R the LoRA gate's width. The gate times the mask is one product per level and
 *       layout, from which each branch gathers its columns in place of the plain gate (no node
 *       per branch). Masks of ones give exactly the plain LoRA graph.
 *   group normalisations at the two coarsest resolutions (Reshape, InstanceNormalization,
 *       Reshape back): with `regional.norm` 1 a box's positions are normalised by the mean and
 *       variance per group of the box and the background, the background's by its own, so a
 *       strong box cannot damp another.
 *   optional output `regional.attn_map` [B, Q, K]: the cross-attention probabilities of the
 *       coarsest down/up attention level, averaged over heads and layers (latent re-initialisation).
 *
 * Levels: level 0 is the latent size, level l+1 = ceil(level l / 2) (a stride-2 3x3 conv with
 * padding 1). A node's level comes from its diffusers module path.
 *
 * With one region-free map (every position in column 0, every token owned by column 0), isolation
 * 0, norm 0 and masks of ones, every bias is exactly 0, every mask exactly 1 and every GroupNorm
 * the exporter's: the outputs are bit-equal to the graph without this pass
 * (test/onnx/regional.test.ts).
 */
import { ChordError } from '../errors';
import { LORA_GATE_INPUT } from './branches';
import { inferElemType } from './cuts';
import { claimName, constantTensor, indexGraph, type GraphIndex } from './graph';
import {
  attrFloat,
  DataType,
  float32Tensor,
  graphOf,
  int64Tensor,
  intAttr,
  intsAttr,
  makeNode,
  makeValueInfo,
  opsetVersion,
  tensorDims,
  tensorFloat32,
  toNumber,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './proto';
import { modulePathFromNodeName } from './targets';

export const REGIONAL_REWRITE_VERSION = 'chord-regional/5';
export const REGIONAL_PREFIX = 'regional.';
export const REGIONAL_TOKENS = 'regional.tokens';
export const REGIONAL_ISOLATION = 'regional.isolation';
export const REGIONAL_TOKEN_GATE = 'regional.token_gate';
export const REGIONAL_ATTN_MAP = 'regional.attn_map';
export const REGIONAL_NORM = 'regional.norm';
/** a large negative score that fp16 still holds (its max is 65504) */
export const REGION_BLOCK = 1e4;

export function regionalMapInput(level: number): string {
  return `regional.map.${level}`;
}
export function regionalSpaceInput(level: number): string {
  return `regional.space.${level}`;
}

export interface RegionalRewriteOptions {
  /** add the `regional.attn_map` output */
  attentionMap?: boolean;
  /**
   * The resolution levels whose group normalisations work per region; default: the two coarsest
   * (the mid block's and the one above it). The finest keeps whole-image statistics: per-region
   * statistics there placed fewer characters on the demo model (docs/regional.md).
   */
  normLevels?: readonly number[];
}

/** What the rewrite found; the bind needs it to shape the feeds. */
export interface RegionalInfo {
  /** resolution levels that have a region map input (attention layers) */
  mapLevels: number[];
  /** resolution levels that have a LoRA space mask input */
  spaceLevels: number[];
  /** number of attn1 / attn2 Softmax nodes biased */
  selfAttention: number;
  crossAttention: number;
  /** LoRA branches gated by space / by token */
  spaceGated: number;
  /** group normalisations that can take their statistics per region */
  regionNorms: number;
  tokenGated: number;
  /** level of `regional.attn_map`, when present */
  attentionMapLevel?: number;
}

/** Counts the down blocks: levels run from 0 to that count - 1. */
function downBlockCount(index: GraphIndex): number {
  let n = 0;
  for (const node of index.nodes) {
    const m = /^down_blocks\.(\d+)\./.exec(modulePathFromNodeName(node.name ?? '') ?? '');
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  return n;
}

/** The resolution level a module computes at, from its diffusers path; undefined if not spatial. */
export function moduleLevel(path: string, downBlocks: number): number | undefined {
  let m = /^down_blocks\.(\d+)\.(downsamplers)?/.exec(path);
  if (m) return Number(m[1]) + (m[2] ? 1 : 0);
  if (/^mid_block\./.test(path)) return downBlocks - 1;
  m = /^up_blocks\.(\d+)\.(upsamplers)?/.exec(path);
  // an up block works at the level its mirror down block did; its upsampler's conv runs after
  // the 2x upsample, one level finer
  if (m) return downBlocks - 1 - Number(m[1]) - (m[2] ? 1 : 0);
  if (/^conv_(in|out)$/.test(path)) return 0;
  return undefined;
}

/** attn1 / attn2 of a transformer block, from a Softmax node's module path. */
function attentionKind(path: string): 'self' | 'cross' | undefined {
  if (!/\.transformer_blocks\.\d+\.attn[12]$/.test(path)) return undefined;
  return path.endsWith('attn1') ? 'self' : 'cross';
}

export function addRegionalAttention(model: ModelProto, options: RegionalRewriteOptions = {}): { model: ModelProto; info: RegionalInfo } {
  const graph = graphOf(model);
  const index = indexGraph(graph);
  if (index.inputNames.has(REGIONAL_TOKENS)) {
    throw new ChordError('ONNX_GRAPH', 'This graph already has regional attention inputs.', 'Rewrite the original model file.');
  }
  const opset = opsetVersion(model);
  const downBlocks = downBlockCount(index);
  const normLevels = options.normLevels ?? [downBlocks - 2, downBlocks - 1];
  const b = new Builder(index, opset);

  const before = new Map<NodeProto, NodeProto[]>();
  const replaced = new Map<NodeProto, NodeProto>();
  const info: RegionalInfo = { mapLevels: [], spaceLevels: [], selfAttention: 0, crossAttention: 0, spaceGated: 0, tokenGated: 0, regionNorms: 0 };
  const crossByLevel = new Map<number, string[]>();

  for (const node of index.nodes) {
    if (node.opType !== 'Softmax') continue;
    const path = modulePathFromNodeName(node.name ?? '') ?? '';
    const kind = attentionKind(path);
    if (!kind) continue;
    const level = moduleLevel(path, downBlocks);
    if (level === undefined) continue;
    const scores = node.input?.[0] ?? '';
    const dtype = scoreType(index, scores);
    const bias = kind === 'cross' ? b.crossBias(level, dtype) : b.selfBias(level, dtype);
    const biased = claimName(index, `regional/${path}/biased_scores`);
    before.set(node, [makeNode('Add', [scores, bias], [biased], biased)]);
    replaced.set(node, { ...node, input: [biased, ...(node.input ?? []).slice(1)] });
    if (kind === 'cross') {
      info.crossAttention++;
      if (!/^mid_block\./.test(path)) crossByLevel.set(level, [...(crossByLevel.get(level) ?? []), node.output?.[0] ?? '']);
    } else {
      info.selfAttention++;
    }
  }
  if (info.crossAttention === 0) {
    throw new ChordError('ONNX_GRAPH', 'The UNet has no cross-attention Softmax under a transformer block (attn2).', 'Regional composition needs a UNet exported with diffusers module names.');
  }

  // LoRA branches: `lora/<module path>[/<copy>]/gated` = (x down) * gate[:, slots]. Where the
  // branch gathers its gate columns from a shared view of the gate ([B, R, 1, 1] for convs,
  // [B, 1, R] for rank-3 linears), that Gather reads the view times the mask instead
  // (gate * mask, one Mul per level and layout): no node per branch. Otherwise the branch's
  // activation is multiplied by a mask gathered with its slots (two nodes per branch).
  const after = new Map<NodeProto, NodeProto[]>();
  for (const node of index.nodes) {
    const m = /^lora\/([^/]+)(\/\d+)?\/gated$/.exec(node.name ?? '');
    if (!m || node.opType !== 'Mul') continue;
    const path = m[1];
    const slots = `lora.slots.${path}`;
    const out = node.output?.[0] ?? '';
    const conv = (index.producer.get(node.input?.[0] ?? '')?.opType ?? '') === 'Conv';
    const dtype = scoreType(index, out);
    const token = /\.attn2\.to_[kv]$/.test(path);
    const level = token ? undefined : moduleLevel(path, downBlocks);
    // linear layers outside attentions (time_emb_proj) have no positions: they stay global
    if (!token && (level === undefined || (!conv && !/\.attentions\.\d+\./.test(path)))) continue;
    if (token) info.tokenGated++;
    else info.spaceGated++;
    const gather = index.producer.get(node.input?.[1] ?? '');
    const view = gatherGateView(gather, slots);
    if (gather && view && (view === 'conv') === conv && !(token && conv)) {
      const masked = token ? b.maskedTokenGate(dtype) : b.maskedSpaceGate(level as number, conv, dtype);
      replaced.set(gather, { ...gather, input: [masked, ...(gather.input ?? []).slice(1)] });
      continue;
    }
    const mask = token ? b.tokenGate(dtype, slots, `regional/${node.name}`) : b.spaceGate(level as number, conv, dtype, slots, `regional/${node.name}`);
    const pre = claimName(index, `${out}_pre_region`);
    replaced.set(node, { ...node, output: [pre] });
    after.set(node, [...b.take(), makeNode('Mul', [pre, mask], [out], `regional/${node.name}/masked`)]);
  }

  // group normalisations (Reshape [N, G, -1] -> InstanceNormalization -> Reshape back) at the
  // chosen levels: a box's statistics from the box and the background, the background's from
  // its own positions, when fed on
  for (const node of index.nodes) {
    if (node.opType !== 'InstanceNormalization') continue;
    const path = modulePathFromNodeName(node.name ?? '') ?? '';
    const level = path === 'conv_norm_out' ? 0 : moduleLevel(path, downBlocks);
    const flatten = index.producer.get(node.input?.[0] ?? '');
    const back = index.consumers.get(node.output?.[0] ?? '') ?? [];
    const groups = constantTensor(index, node.input?.[1] ?? '');
    const shift = constantTensor(index, node.input?.[2] ?? '');
    if (level === undefined || !normLevels.includes(level) || flatten?.opType !== 'Reshape' || back.length !== 1 || back[0].opType !== 'Reshape' || !groups || !shift) continue;
    // the exporter's GroupNorm: scale ones and bias zeros per group (the affine part follows)
    if (!tensorFloat32(groups).every((v) => v === 1) || !tensorFloat32(shift).every((v) => v === 0)) continue;
    const out = back[0].output?.[0] ?? '';
    // the channel count, from the affine part's scale [C, 1, 1] that follows
    const affine = (index.consumers.get(out) ?? []).find((c) => c.opType === 'Mul');
    const gamma = (affine?.input ?? []).map((i) => constantTensor(index, i)).find((t) => t !== undefined);
    const channels = gamma ? tensorDims(gamma)[0] : 0;
    const G = tensorDims(groups)[0];
    if (!channels || channels % G !== 0) continue;
    const grouped = node.input?.[0] ?? '';
    const ungrouped = flatten.input ?? [];
    const normed = node.output?.[0] ?? '';
    const pre = claimName(index, `${normed}_pre_region`);
    b.regionNorm(level, { grouped, ungrouped: [ungrouped[0] ?? '', ungrouped[1] ?? ''], normed: pre, out: normed, perGroup: channels / G, epsilon: attrFloat(node, 'epsilon', 1e-5), dtype: scoreType(index, grouped), prefix: `regional/${path}/norm` });
    replaced.set(node, { ...node, output: [pre] });
    after.set(node, b.take());
    info.regionNorms++;
  }

  const outputs: ValueInfoProto[] = [];
  const tail: NodeProto[] = [];
  if (options.attentionMap) {
    const level = Math.max(...crossByLevel.keys());
    if (!Number.isFinite(level)) throw new ChordError('ONNX_GRAPH', 'The UNet has no cross-attention outside its mid block; no attention map to expose.');
    tail.push(...b.attentionMap(crossByLevel.get(level) ?? []));
    outputs.push(makeValueInfo(REGIONAL_ATTN_MAP, DataType.FLOAT, ['batch', `regional_q.${level}`, 'tokens']));
    info.attentionMapLevel = level;
  }
  info.mapLevels = b.mapLevels();
  info.spaceLevels = b.spaceLevels();

  const nodes: NodeProto[] = [...b.head];
  for (const n of graph.node ?? []) {
    nodes.push(...(before.get(n) ?? []));
    nodes.push(replaced.get(n) ?? n);
    nodes.push(...(after.get(n) ?? []));
  }
  nodes.push(...tail);
  return {
    model: {
      ...model,
      graph: {
        ...graph,
        node: nodes,
        input: [...(graph.input ?? []), ...b.inputs],
        output: [...(graph.output ?? []), ...outputs],
        initializer: [...(graph.initializer ?? []), ...b.initializers],
      },
    },
    info,
  };
}

/** The element type of attention scores / branch activations: float32 unless known to be fp16. */
function scoreType(index: GraphIndex, tensor: string): number {
  const t = inferElemType(index, tensor);
  if (t !== undefined) return t;
  // the exporter's scale constant (scores * scale) has the compute type
  const producer = index.producer.get(tensor);
  for (const i of producer?.input ?? []) {
    const c: TensorProto | undefined = constantTensor(index, i);
    if (c?.dataType) return c.dataType;
  }
  return DataType.FLOAT;
}

/**
 * The layout of the shared gate view a branch's gate Gather reads (onnx/branches.ts): 'conv' for
 * [B, R, 1, 1] (axis 1), 'linear' for [B, 1, R] (axis 2); undefined for any other form.
 */
function gatherGateView(gather: NodeProto | undefined, slots: string): 'conv' | 'linear' | undefined {
  if (gather?.opType !== 'Gather' || gather.input?.[1] !== slots) return undefined;
  const axis = (gather.attribute ?? []).find((a) => a.name === 'axis');
  const source = gather.input?.[0] ?? '';
  const axisValue = toNumber(axis?.i);
  const view = GATE_VIEW.exec(source)?.[1];
  if (view === 'conv' && axisValue === 1) return 'conv';
  if (view === 'rank3' && axisValue === 2) return 'linear';
  return undefined;
}

/** the names branches.ts gives its shared gate views (`lora.gate.conv`, `lora.gate.rank3`, + `.fp16`) */
const GATE_VIEW = new RegExp(`^${LORA_GATE_INPUT.replace('.', '\\.')}\\.(conv|rank3)(?:\\.fp16)?$`);

/** Whether a compute type is float16 (else float32); any other type is refused. */
function isHalf(dtype: number): boolean {
  if (dtype !== DataType.FLOAT && dtype !== DataType.FLOAT16) throw new ChordError('ONNX_GRAPH', `Regional attention supports float32 and float16 graphs (got ONNX type ${dtype}).`);
  return dtype === DataType.FLOAT16;
}

type Attributes = Parameters<typeof makeNode>[4];

/** Adds one node of a region normalisation under its own name prefix; returns its output. */
type NormNode = (op: string, inputs: string[], suffix: string, attrs?: Attributes) => string;

/** Collects inputs, constants and the level-wide nodes (built once, shared by all layers). */
class Builder {
  readonly inputs: ValueInfoProto[] = [];
  readonly initializers: TensorProto[] = [];
  /** nodes that read only graph inputs and constants: they go first */
  readonly head: NodeProto[] = [];
  private pending: NodeProto[] = [];
  private readonly memo = new Map<string, string>();
  private readonly maps = new Set<number>();
  private readonly spaces = new Set<number>();

  constructor(
    private readonly index: GraphIndex,
    private readonly opset: number,
  ) {}

  mapLevels(): number[] {
    return [...this.maps].sort((a, b) => a - b);
  }
  spaceLevels(): number[] {
    return [...this.spaces].sort((a, b) => a - b);
  }
  /** per-branch nodes made since the last call */
  take(): NodeProto[] {
    const out = this.pending;
    this.pending = [];
    return out;
  }

  private once(key: string, make: () => string): string {
    const hit = this.memo.get(key);
    if (hit !== undefined) return hit;
    const made = make();
    this.memo.set(key, made);
    return made;
  }

  private name(n: string): string {
    return claimName(this.index, n);
  }

  private node(op: string, inputs: string[], out: string, attrs: Parameters<typeof makeNode>[4] = []): string {
    this.head.push(makeNode(op, inputs, [out], out, attrs));
    return out;
  }

  private constF(key: string, value: number): string {
    return this.once(`f:${key}`, () => {
      const n = this.name(`regional.const.${key}`);
      this.initializers.push(float32Tensor(n, [1], Float32Array.of(value)));
      return n;
    });
  }

  private constI(key: string, values: number[]): string {
    return this.once(`i:${key}`, () => {
      const n = this.name(`regional.const.${key}`);
      this.initializers.push(int64Tensor(n, [values.length], values));
      return n;
    });
  }

  private input(name: string, dims: (string | number)[]): string {
    return this.once(`in:${name}`, () => {
      this.inputs.push(makeValueInfo(this.name(name), DataType.FLOAT, dims));
      return name;
    });
  }

  private map(level: number): string {
    this.maps.add(level);
    return this.input(regionalMapInput(level), [1, `regional_q.${level}`, 'regional_slots']);
  }

  private tokens(): string {
    return this.input(REGIONAL_TOKENS, [1, 'tokens', 'regional_slots']);
  }

  /** a float32 tensor in the compute type, cast once */
  private typed(tensor: string, dtype: number): string {
    if (!isHalf(dtype)) return tensor;
    return this.once(`cast:${tensor}`, () => this.node('Cast', [tensor], this.name(`${tensor}.fp16`), [intAttr('to', DataType.FLOAT16)]));
  }

  /**
   * The inputs and attributes of an op on `x` over `axes`, which it takes as an input from opset
   * `since` on (13 for ReduceSum and Unsqueeze, 18 for ReduceMean) and as an attribute before.
   */
  private withAxes(x: string, axes: number[], since: number, attrs: Attributes = []): [string[], Attributes] {
    return this.opset >= since ? [[x, this.constI(`axis${axes.join('_')}`, axes)], attrs] : [[x], [intsAttr('axes', axes), ...(attrs ?? [])]];
  }

  private transposeLast(x: string, out: string): string {
    return this.node('Transpose', [x], this.name(out), [intsAttr('perm', [0, 2, 1])]);
  }

  /** [1, Q, K]: 0 where the position's region owns the token, -1e4 elsewhere */
  crossBias(level: number, dtype: number): string {
    const bias = this.once(`cross:${level}`, () => {
      const owners = this.once('tokensT', () => this.transposeLast(this.tokens(), 'regional.tokens_t'));
      const allowed = this.node('MatMul', [this.map(level), owners], this.name(`regional.cross_allowed.${level}`));
      const shifted = this.node('Sub', [allowed, this.constF('one', 1)], this.name(`regional.cross_shifted.${level}`));
      return this.node('Mul', [shifted, this.constF('block', REGION_BLOCK)], this.name(`regional.cross_bias.${level}`));
    });
    return this.typed(bias, dtype);
  }

  /** [1, Q, Q]: isolation where query and key are in different boxes, 0 elsewhere */
  selfBias(level: number, dtype: number): string {
    const bias = this.once(`self:${level}`, () => {
      const map = this.map(level);
      const boxes = this.node('Slice', [map, this.constI('one_i', [1]), this.constI('big', [2 ** 30]), this.constI('axis2', [2])], this.name(`regional.boxes.${level}`));
      const [insideInputs, insideAttrs] = this.withAxes(boxes, [2], 13, [intAttr('keepdims', 1)]);
      const inside = this.node('ReduceSum', insideInputs, this.name(`regional.inside.${level}`), insideAttrs);
      // (s - M) M^T = s s^T - M M^T, since M's rows sum to s
      const others = this.node('Sub', [inside, boxes], this.name(`regional.other_boxes.${level}`));
      const boxesT = this.transposeLast(boxes, `regional.boxes_t.${level}`);
      const apart = this.node('MatMul', [others, boxesT], this.name(`regional.apart.${level}`));
      const isolation = this.input(REGIONAL_ISOLATION, [1]);
      return this.node('Mul', [apart, isolation], this.name(`regional.self_bias.${level}`));
    });
    return this.typed(bias, dtype);
  }

  /** the level's LoRA space mask: [1, R, h, w] for convs, [h w, R] for linears, in the compute type */
  private spaceSource(level: number, conv: boolean, dtype: number): string {
    this.spaces.add(level);
    const space = this.input(regionalSpaceInput(level), [1, 'lora_total_rank', `regional_h.${level}`, `regional_w.${level}`]);
    if (conv) return this.typed(space, dtype);
    return this.typed(
      this.once(`spaceLinear:${level}`, () => {
        // [1, R, h, w] -> [R, h w] -> [h w, R]: Flatten, not Reshape(-1), since R may be 0
        const flat = this.node('Flatten', [space], this.name(`regional.space_flat.${level}`), [intAttr('axis', 2)]);
        return this.node('Transpose', [flat], this.name(`regional.space_linear.${level}`), [intsAttr('perm', [1, 0])]);
      }),
      dtype,
    );
  }

  /** the LoRA gate [B, R] in the compute type, as [B, R, 1, 1] (conv) or [B, 1, R] (linear) */
  private gateView(conv: boolean, dtype: number): string {
    const gate = this.typed(LORA_GATE_INPUT, dtype);
    return this.once(`gateView:${conv}:${dtype}`, () => {
      if (conv) return this.node('Reshape', [gate, this.constI('gate_conv', [0, -1, 1, 1])], this.name('regional.gate_conv'));
      const [inputs, attrs] = this.withAxes(gate, [1], 13);
      return this.node('Unsqueeze', inputs, this.name('regional.gate_linear'), attrs);
    });
  }

  /**
   * The LoRA gate times the level's space mask, [B, R, h, w] (conv) or [B, h w, R] (linear): a
   * branch gathers its columns from it in place of the plain gate view (one Mul per level and
   * layout, no node per branch; with masks of ones it is the gate itself, bit for bit).
   */
  maskedSpaceGate(level: number, conv: boolean, dtype: number): string {
    return this.once(`maskedSpace:${level}:${conv}:${dtype}`, () =>
      this.node('Mul', [this.gateView(conv, dtype), this.spaceSource(level, conv, dtype)], this.name(`regional.gate_space.${level}${conv ? '' : '.linear'}`)),
    );
  }

  /** The LoRA gate times the token gate, [B, K, R], for the attn2 to_k / to_v branches (as above). */
  maskedTokenGate(dtype: number): string {
    return this.once(`maskedTokens:${dtype}`, () => {
      const tokenGate = this.typed(this.input(REGIONAL_TOKEN_GATE, [1, 'tokens', 'lora_total_rank']), dtype);
      return this.node('Mul', [this.gateView(false, dtype), tokenGate], this.name('regional.gate_tokens'));
    });
  }

  /** a branch's [1, r, h, w] (conv) or [Q, r] (linear) space mask: its slots' columns */
  spaceGate(level: number, conv: boolean, dtype: number, slots: string, prefix: string): string {
    const source = this.spaceSource(level, conv, dtype);
    const out = claimName(this.index, `${prefix}/space_mask`);
    this.pending.push(makeNode('Gather', [source, slots], [out], out, [intAttr('axis', 1)]));
    return out;
  }

  /**
   * A group normalisation whose statistics come per region, built on the exporter's grouped
   * tensor g [N, G, (C / G) Q] (its Reshape before InstanceNormalization; channel-major within a
   * group): for every slot s of the level's map M [1, Q, S] the mean and variance of each group
   * over the positions of s and of the background (slot 0), for the background over its own,
   * given back to the positions of s. `regional.norm` 0 selects the exporter's normalisation
   * itself (Where), so the graph is then exactly the original. Few nodes (on a small UNet each
   * node's dispatch costs more than its arithmetic); A = M + M[:, :, 0], each column over its
   * count, tiled C / G times along the positions (and / (C / G)), so one product averages a slot
   * over its positions and the group's channels at once:
   *   per slot        g @ A_g [1, (C/G) Q, S]               -> mean, E[g^2]: [N, G, S]
   *   variance        E[g^2] - mean^2 (float32; the statistics of a GroupNorm input, whose mean
   *                   is not large against its spread)
   *   per position    mean, rstd @ M_g^T [1, S, (C/G) Q]     -> (g - mean) * rstd
   */
  regionNorm(level: number, n: { grouped: string; ungrouped: [string, string]; normed: string; out: string; perGroup: number; epsilon: number; dtype: number; prefix: string }): void {
    const { average, spread } = this.groupedMaps(level, n.perGroup);
    const on = this.once('normOn', () => this.node('Cast', [this.input(REGIONAL_NORM, [1])], this.name('regional.norm_on'), [intAttr('to', DataType.BOOL)]));
    const p: NormNode = (op, inputs, suffix, attrs = []) => {
      const out = claimName(this.index, `${n.prefix}/${suffix}`);
      this.pending.push(makeNode(op, inputs, [out], out, attrs));
      return out;
    };
    const half = isHalf(n.dtype);
    // statistics in float32 (squares of fp16 activations summed over a region overflow); the Cast
    // reads the ungrouped input, since a Cast of the grouped tensor changed how ONNX Runtime runs
    // the exporter's own fp16 normalisation (its output moved; test/onnx/regional.test.ts)
    const g = half ? p('Reshape', [p('Cast', [n.ungrouped[0]], 'x_f32', [intAttr('to', DataType.FLOAT)]), n.ungrouped[1]], 'grouped_f32') : n.grouped;
    const mean = p('MatMul', [g, average], 'mean');
    const meanSquare = p('MatMul', [p('Mul', [g, g], 'square'), average], 'mean_square');
    const variance = p('Sub', [meanSquare, p('Mul', [mean, mean], 'square_mean')], 'variance');
    const rstd = p('Pow', [p('Add', [variance, this.constF(`eps.${n.epsilon}`, n.epsilon)], 'variance_eps'), this.constF('minus_half', -0.5)], 'rstd');
    const centred = p('Sub', [g, p('MatMul', [mean, spread], 'mean_pos')], 'centred');
    const byRegion32 = p('Mul', [centred, p('MatMul', [rstd, spread], 'rstd_pos')], 'by_region');
    const byRegion = half ? p('Cast', [byRegion32], 'by_region_f16', [intAttr('to', DataType.FLOAT16)]) : byRegion32;
    this.pending.push(makeNode('Where', [on, byRegion, n.normed], [n.out], `${n.prefix}/out`));
  }

  /**
   * A level's maps for grouped tensors with `perGroup` channels per group, once per (level,
   * perGroup): `average` [1, perGroup Q, S], column s the weights of slot s's statistics
   * (A = M + M[:, :, 0] over its count, tiled and / perGroup), and `spread` [1, S, perGroup Q],
   * M^T tiled (each position's own slot).
   */
  private groupedMaps(level: number, perGroup: number): { average: string; spread: string } {
    const map = this.map(level);
    // a box's statistics come from the box and the background, the background's from itself:
    // A = M + M[:, :, 0] (column 0 becomes 2 M0, which averages like M0), then each column / its count
    const average = this.once(`average:${level}`, () => {
      const background = this.node('Slice', [map, this.constI('zero_i', [0]), this.constI('one_i', [1]), this.constI('axis2', [2])], this.name(`regional.background.${level}`));
      const withBackground = this.node('Add', [map, background], this.name(`regional.with_background.${level}`));
      const [sumInputs, sumAttrs] = this.withAxes(withBackground, [1], 13, [intAttr('keepdims', 1)]);
      const sum = this.node('ReduceSum', sumInputs, this.name(`regional.count_raw.${level}`), sumAttrs);
      const count = this.node('Max', [sum, this.constF('one', 1)], this.name(`regional.count.${level}`));
      return this.node('Div', [withBackground, count], this.name(`regional.map_mean.${level}`));
    });
    const tiledAverage = this.once(`average:${level}:${perGroup}`, () => {
      const tiled = this.node('Tile', [average, this.constI(`tile_rows.${perGroup}`, [1, perGroup, 1])], this.name(`regional.map_mean_tiled.${level}.${perGroup}`));
      return this.node('Mul', [tiled, this.constF(`inv.${perGroup}`, 1 / perGroup)], this.name(`regional.group_average.${level}.${perGroup}`));
    });
    const spread = this.once(`spread:${level}:${perGroup}`, () => {
      const mapT = this.once(`mapT:${level}`, () => this.transposeLast(map, `regional.map_t.${level}`));
      return this.node('Tile', [mapT, this.constI(`tile_columns.${perGroup}`, [1, 1, perGroup])], this.name(`regional.group_spread.${level}.${perGroup}`));
    });
    return { average: tiledAverage, spread };
  }

  /** a to_k / to_v branch's [1, K, r] token mask */
  tokenGate(dtype: number, slots: string, prefix: string): string {
    const gate = this.typed(this.input(REGIONAL_TOKEN_GATE, [1, 'tokens', 'lora_total_rank']), dtype);
    const out = claimName(this.index, `${prefix}/token_mask`);
    this.pending.push(makeNode('Gather', [gate, slots], [out], out, [intAttr('axis', 2)]));
    return out;
  }

  /** `regional.attn_map`: the mean over heads and layers of these Softmax outputs ([B, H, Q, K]) */
  attentionMap(probabilities: string[]): NodeProto[] {
    const nodes: NodeProto[] = [];
    const means = probabilities.map((p, i) => {
      const out = this.name(`regional.attn_map_part.${i}`);
      const f32 = this.name(`regional.attn_map_f32.${i}`);
      nodes.push(makeNode('Cast', [p], [f32], f32, [intAttr('to', DataType.FLOAT)]));
      const [inputs, attrs] = this.withAxes(f32, [1], 18, [intAttr('keepdims', 0)]);
      nodes.push(makeNode('ReduceMean', inputs, [out], out, attrs));
      return out;
    });
    const sum = means.length === 1 ? means[0] : this.name('regional.attn_map_sum');
    if (means.length > 1) nodes.push(makeNode('Sum', means, [sum], sum));
    nodes.push(makeNode('Mul', [sum, this.constF('inv_layers', 1 / means.length)], [REGIONAL_ATTN_MAP], this.name(REGIONAL_ATTN_MAP)));
    return nodes;
  }
}
