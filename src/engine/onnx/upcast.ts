/**
 * fp16 -> fp32 for CPU (docs/runtime-lora.md, section 3; the result is cached by model/derived-graphs.ts):
 * ONNX Runtime's CPU provider has few float16 kernels, so an fp16 UNet is converted to a float32
 * graph with the same structure. Best effort, and deliberately simple:
 *   - float16 initializers and Constant / ConstantOfShape values become float32;
 *   - Cast(to=FLOAT16) becomes Cast(to=FLOAT) (a no-op cast), and `dtype` attributes of the
 *     generator ops (RandomNormal, EyeLike, ...) follow;
 *   - graph inputs, outputs and value_info of type float16 become float32, so the caller feeds
 *     and reads float32;
 *   - If/Loop/Scan bodies are converted the same way.
 * Limits: ops from other domains (com.microsoft fused kernels) that require float16 inputs, and
 * graphs that rely on fp16 rounding or overflow, are not handled; bfloat16 is left as it is.
 */
import { halfArrayToFloat } from '../half';
import {
  DataType,
  float32Tensor,
  graphOf,
  intAttr,
  tensorDims,
  tensorUint16,
  toNumber,
  withMetadata,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './proto';

/** Ops whose `dtype` attribute names an output element type. */
const DTYPE_OPS = new Set(['RandomNormal', 'RandomNormalLike', 'RandomUniform', 'RandomUniformLike', 'EyeLike', 'Multinomial', 'Bernoulli']);

export const UPCAST_METADATA_KEY = 'chord.upcast';

export function upcastToFloat32(model: ModelProto): ModelProto {
  return {
    ...model,
    graph: upcastGraph(graphOf(model)),
    metadataProps: withMetadata(model, { [UPCAST_METADATA_KEY]: 'float16->float32' }),
  };
}

function upcastGraph(graph: GraphProto): GraphProto {
  return {
    ...graph,
    initializer: (graph.initializer ?? []).map(upcastTensor),
    node: (graph.node ?? []).map(upcastNode),
    input: (graph.input ?? []).map(upcastValueInfo),
    output: (graph.output ?? []).map(upcastValueInfo),
    valueInfo: (graph.valueInfo ?? []).map(upcastValueInfo),
  };
}

function upcastTensor(t: TensorProto): TensorProto {
  if (t.dataType !== DataType.FLOAT16) return t;
  const values = halfArrayToFloat(tensorUint16(t));
  const out = float32Tensor(t.name ?? '', tensorDims(t), values);
  if (!t.name) out.name = null;
  return out;
}

function upcastNode(node: NodeProto): NodeProto {
  const attrs = node.attribute ?? [];
  const isDefault = (node.domain ?? '') === '';
  let changed = false;
  const attribute = attrs.map((a): AttributeProto => {
    if (isDefault && a.name === 'to' && node.opType === 'Cast' && toNumber(a.i) === DataType.FLOAT16) {
      changed = true;
      return intAttr('to', DataType.FLOAT);
    }
    if (isDefault && a.name === 'dtype' && DTYPE_OPS.has(node.opType ?? '') && toNumber(a.i) === DataType.FLOAT16) {
      changed = true;
      return intAttr('dtype', DataType.FLOAT);
    }
    if (a.t && a.t.dataType === DataType.FLOAT16) {
      changed = true;
      return { ...a, t: upcastTensor(a.t) };
    }
    if (a.g || (a.graphs && a.graphs.length > 0)) {
      changed = true;
      return { ...a, g: a.g ? upcastGraph(a.g) : a.g, graphs: (a.graphs ?? []).map(upcastGraph) };
    }
    return a;
  });
  return changed ? { ...node, attribute } : node;
}

function upcastValueInfo(vi: ValueInfoProto): ValueInfoProto {
  const tt = vi.type?.tensorType;
  if (!tt || tt.elemType !== DataType.FLOAT16) return vi;
  return { ...vi, type: { ...vi.type, tensorType: { ...tt, elemType: DataType.FLOAT } } };
}
