/**
 * Tensor ranks (number of dimensions) across a graph, propagated forward from the graph inputs,
 * initializers and constants. TorchScript exports carry no value_info, and a LoRA branch needs
 * the rank of a Linear's input to give the [batch, R] gate the right broadcast shape.
 *
 * Conservative: an op without a rule here, or a rule missing a fact it needs, leaves its outputs
 * unknown (and the caller falls back to a rank-agnostic formulation). A wrong rank would be
 * worse than none.
 */
import { attrInt, attrInts, tensorDims, tensorInts, type NodeProto } from './proto';
import { constantTensor, type GraphIndex } from './graph';

/** Same rank as the first input. */
const SAME_AS_FIRST = new Set([
  'Abs', 'Acos', 'Asin', 'Atan', 'AveragePool', 'BatchNormalization', 'Cast', 'CastLike', 'Ceil',
  'Celu', 'Clip', 'Conv', 'ConvTranspose', 'Cos', 'CumSum', 'DepthToSpace', 'Dropout', 'Elu',
  'Erf', 'Exp', 'Floor', 'Gelu', 'GlobalAveragePool', 'GlobalMaxPool', 'GroupNormalization',
  'HardSigmoid', 'HardSwish', 'Identity', 'InstanceNormalization', 'IsInf', 'IsNaN',
  'LayerNormalization', 'LeakyRelu', 'Log', 'LogSoftmax', 'LpNormalization', 'LRN', 'MaxPool',
  'MeanVarianceNormalization', 'Mish', 'Neg', 'Not', 'Pad', 'Reciprocal', 'Relu', 'Resize',
  'Round', 'Selu', 'Shrink', 'Sigmoid', 'Sign', 'Sin', 'Sinh', 'Slice', 'Softmax', 'Softplus',
  'Softsign', 'SpaceToDepth', 'Split', 'Sqrt', 'Tan', 'Tanh', 'ThresholdedRelu', 'Tile',
  'Transpose', 'Trilu', 'Upsample', 'ReverseSequence', 'ScatterElements', 'ScatterND', 'TopK',
]);

/** Numpy-style broadcasting: the largest input rank. */
const BROADCAST = new Set([
  'Add', 'And', 'BitShift', 'Div', 'Equal', 'Greater', 'GreaterOrEqual', 'Less', 'LessOrEqual',
  'Max', 'Mean', 'Min', 'Mod', 'Mul', 'Or', 'Pow', 'PRelu', 'Sub', 'Sum', 'Where', 'Xor',
]);

const REDUCE = new Set([
  'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceMax', 'ReduceMean',
  'ReduceMin', 'ReduceProd', 'ReduceSum', 'ReduceSumSquare',
]);

/** Known ranks by tensor name. Tensors missing from the map have an unknown rank. */
export function inferRanks(index: GraphIndex, opset: number): Map<string, number> {
  const rank = new Map<string, number>();
  /** lengths of known 1-D integer tensors (shapes fed to Reshape, Expand, ConstantOfShape) */
  const length = new Map<string, number>();

  for (const [name, vi] of index.valueInfo) {
    const dims = vi.type?.tensorType?.shape?.dim;
    if (dims) rank.set(name, dims.length);
  }
  for (const [name, t] of [...index.initializers, ...index.constants]) {
    const dims = tensorDims(t);
    rank.set(name, dims.length);
    if (dims.length === 1) length.set(name, dims[0]);
  }

  /** The integer values of a constant input (axes), or undefined. */
  const constInts = (name: string | undefined): number[] | undefined => {
    if (!name) return undefined;
    const t = constantTensor(index, name);
    return t ? tensorInts(t) : undefined;
  };

  for (const node of index.nodes) {
    if ((node.domain ?? '') !== '' && node.domain !== 'ai.onnx') continue;
    const ins = node.input ?? [];
    const outs = node.output ?? [];
    const r = (i: number): number | undefined => (ins[i] ? rank.get(ins[i]) : undefined);
    const set = (value: number | undefined, which: number[] = [0]): void => {
      if (value === undefined || value < 0) return;
      for (const w of which) if (outs[w] && !rank.has(outs[w])) rank.set(outs[w], value);
    };
    const op = node.opType ?? '';
    const allOutputs = outs.map((_, i) => i);

    if (op === 'Constant') continue; // already known
    if (SAME_AS_FIRST.has(op)) {
      set(r(0), op === 'Split' || op === 'TopK' ? allOutputs : [0]);
      const len = length.get(ins[0] ?? '');
      if ((op === 'Cast' || op === 'Identity') && len !== undefined && outs[0]) length.set(outs[0], len);
    } else if (BROADCAST.has(op)) {
      const known = ins.map((_, i) => r(i));
      if (known.every((k) => k !== undefined)) set(Math.max(...(known as number[])));
      if (op === 'Mul' || op === 'Add' || op === 'Sub' || op === 'Div') propagateLength(node, rank, length);
    } else if (op === 'MatMul') {
      const a = r(0);
      const b = r(1);
      if (a !== undefined && b !== undefined) {
        set(a === 1 && b === 1 ? 0 : a === 1 ? b - 1 : b === 1 ? a - 1 : Math.max(a, b));
      }
    } else if (op === 'Gemm' || op === 'Flatten' || op === 'NonZero') {
      set(2);
    } else if (op === 'Shape') {
      set(1);
      const a = r(0);
      if (a !== undefined && outs[0]) {
        const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + a : v, 0), a);
        const start = clamp(attrInt(node, 'start', 0));
        const end = clamp(attrInt(node, 'end', a));
        length.set(outs[0], Math.max(end - start, 0));
      }
    } else if (op === 'Size') {
      set(0);
    } else if (op === 'Range') {
      set(1);
    } else if (op === 'Reshape' || op === 'ConstantOfShape') {
      const n = op === 'Reshape' ? length.get(ins[1] ?? '') : length.get(ins[0] ?? '');
      set(n);
    } else if (op === 'Expand') {
      const a = r(0);
      const n = length.get(ins[1] ?? '');
      if (a !== undefined && n !== undefined) set(Math.max(a, n));
    } else if (op === 'Concat') {
      const a = ins.map((_, i) => r(i)).find((k) => k !== undefined);
      set(a);
      if (a === 1 && outs[0]) {
        const lens = ins.map((i) => length.get(i));
        if (lens.every((l) => l !== undefined)) length.set(outs[0], (lens as number[]).reduce((x, y) => x + y, 0));
      }
    } else if (op === 'Unsqueeze' || op === 'Squeeze') {
      const axes = opset >= 13 ? constInts(ins[1]) : attrInts(node, 'axes');
      const a = r(0);
      if (a !== undefined && axes !== undefined && !(op === 'Squeeze' && axes.length === 0)) {
        set(op === 'Unsqueeze' ? a + axes.length : a - axes.length);
        if (op === 'Unsqueeze' && a === 0 && axes.length === 1 && outs[0]) length.set(outs[0], 1);
      }
    } else if (op === 'Gather') {
      const a = r(0);
      const b = r(1);
      if (a !== undefined && b !== undefined) {
        set(a + b - 1);
        if (a === 1 && b === 1 && outs[0]) {
          const idx = length.get(ins[1] ?? '');
          if (idx !== undefined) length.set(outs[0], idx);
        }
      }
    } else if (op === 'GatherElements') {
      set(r(1));
    } else if (REDUCE.has(op) || op === 'ArgMax' || op === 'ArgMin') {
      const a = r(0);
      if (a === undefined) continue;
      if (attrInt(node, 'keepdims', 1) === 1) {
        set(a);
        continue;
      }
      if (op === 'ArgMax' || op === 'ArgMin') {
        set(a - 1);
        continue;
      }
      // axes moved from an attribute to an input: ReduceSum at opset 13, the others at 18
      const axesFromInput = opset >= 18 || (op === 'ReduceSum' && opset >= 13) ? (ins[1] ?? '') : undefined;
      const axes = axesFromInput !== undefined ? constInts(axesFromInput) : attrInts(node, 'axes');
      if (axes !== undefined) set(a - axes.length);
      else if (axesFromInput === '' || (axesFromInput === undefined && !attrInts(node, 'axes'))) set(0); // no axes: all
    }
  }
  return rank;
}

/** Elementwise ops on 1-D shape tensors keep their length (e.g. Mul of a shape by a scalar). */
function propagateLength(node: NodeProto, rank: Map<string, number>, length: Map<string, number>): void {
  const out = node.output?.[0];
  if (!out || rank.get(out) !== 1) return;
  const lens = (node.input ?? []).map((i) => (rank.get(i) === 0 ? 1 : length.get(i)));
  const known = lens.filter((l): l is number => l !== undefined);
  if (known.length > 0 && known.length === lens.length) {
    const longest = Math.max(...known);
    if (known.every((l) => l === longest || l === 1)) length.set(out, longest);
  }
}
