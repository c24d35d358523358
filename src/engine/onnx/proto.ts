/**
 * The ONNX protobuf types (from `onnx-proto`) and the few helpers every pass needs: numbers out of
 * int64 fields, attributes, tensor data (inline, typed fields or external files), value infos.
 *
 * Passes work on the plain `I*Proto` interfaces and never mutate what they were given: a changed
 * node or tensor is a new object, an unchanged one is shared (weights are large and immutable).
 */
import fs from 'node:fs';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { ChordError } from '../errors';
import { halfArrayToFloat } from '../half';

// onnx-proto is CommonJS without named ESM exports: take the namespace off the default export.
export const onnx = onnxProto.onnx;

export type ModelProto = OnnxTypes.IModelProto;
export type GraphProto = OnnxTypes.IGraphProto;
export type NodeProto = OnnxTypes.INodeProto;
export type TensorProto = OnnxTypes.ITensorProto;
export type ValueInfoProto = OnnxTypes.IValueInfoProto;
export type AttributeProto = OnnxTypes.IAttributeProto;

/** TensorProto.DataType values used here. */
export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  BFLOAT16: 16,
} as const;

const AttrType = onnx.AttributeProto.AttributeType;
const EXTERNAL = onnx.TensorProto.DataLocation.EXTERNAL;

/** An int64 proto field decodes as a number or a Long. */
type Int64 = number | { toNumber(): number };

export function toNumber(v: Int64 | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

export function decodeModel(bytes: Uint8Array): ModelProto {
  return onnx.ModelProto.decode(bytes);
}

export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** Version of the default-domain opset the model imports (1 if none is listed, as the spec says). */
export function opsetVersion(model: ModelProto): number {
  const entry = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  return entry ? toNumber(entry.version) : 1;
}

// ---- attributes -------------------------------------------------------------------------------

export function findAttr(node: NodeProto, name: string): AttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

export function attrInt(node: NodeProto, name: string, fallback: number): number {
  const a = findAttr(node, name);
  return a && a.i !== null && a.i !== undefined ? toNumber(a.i) : fallback;
}

export function attrFloat(node: NodeProto, name: string, fallback: number): number {
  const a = findAttr(node, name);
  return a && typeof a.f === 'number' ? a.f : fallback;
}

export function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = findAttr(node, name);
  return a ? (a.ints ?? []).map(toNumber) : undefined;
}

export function attrString(node: NodeProto, name: string): string | undefined {
  const a = findAttr(node, name);
  return a?.s ? Buffer.from(a.s).toString('utf8') : undefined;
}

export function intAttr(name: string, value: number): AttributeProto {
  return { name, type: AttrType.INT, i: value };
}

export function intsAttr(name: string, values: number[]): AttributeProto {
  return { name, type: AttrType.INTS, ints: values };
}

export function tensorAttr(name: string, t: TensorProto): AttributeProto {
  return { name, type: AttrType.TENSOR, t };
}

export function makeNode(
  opType: string,
  inputs: string[],
  outputs: string[],
  name: string,
  attribute: AttributeProto[] = [],
): NodeProto {
  return { opType, input: inputs, output: outputs, name, attribute };
}

// ---- tensors ----------------------------------------------------------------------------------

export function tensorDims(t: TensorProto): number[] {
  return (t.dims ?? []).map(toNumber);
}

export function elementCount(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

const BYTES_PER_ELEMENT: Record<number, number> = {
  [DataType.FLOAT]: 4,
  [DataType.UINT8]: 1,
  [DataType.INT8]: 1,
  [DataType.INT32]: 4,
  [DataType.INT64]: 8,
  [DataType.BOOL]: 1,
  [DataType.FLOAT16]: 2,
  [DataType.DOUBLE]: 8,
  [DataType.BFLOAT16]: 2,
};

export function isExternal(t: TensorProto): boolean {
  return t.dataLocation === EXTERNAL;
}

/** The external_data entries of a tensor as a record (location, offset, length, checksum). */
export function externalInfo(t: TensorProto): Record<string, string> {
  const info: Record<string, string> = {};
  for (const e of t.externalData ?? []) if (e.key) info[e.key] = e.value ?? '';
  return info;
}

/**
 * The little-endian bytes of a tensor, whichever way it is stored. External data is read from
 * `location`, which `readModel` made absolute; a relative one is read relative to `baseDir`.
 */
export function tensorBytes(t: TensorProto, baseDir = '.'): Uint8Array {
  const dims = tensorDims(t);
  const dtype = t.dataType ?? 0;
  const size = BYTES_PER_ELEMENT[dtype];
  if (size === undefined) {
    throw new ChordError('ONNX_GRAPH', `Tensor ${t.name} has data type ${dtype}, which Chord cannot read.`);
  }
  if (isExternal(t)) return readExternal(t, baseDir, elementCount(dims) * size);
  if (t.rawData && t.rawData.length > 0) return t.rawData;
  const n = elementCount(dims);
  const out = new Uint8Array(n * size);
  const view = new DataView(out.buffer);
  // typed-field storage (float_data, int32_data, int64_data, double_data)
  if (dtype === DataType.FLOAT) (t.floatData ?? []).forEach((v, i) => view.setFloat32(i * 4, v, true));
  else if (dtype === DataType.DOUBLE) (t.doubleData ?? []).forEach((v, i) => view.setFloat64(i * 8, v, true));
  else if (dtype === DataType.INT64) (t.int64Data ?? []).forEach((v, i) => view.setBigInt64(i * 8, BigInt(toNumber(v)), true));
  else {
    // int32_data carries INT32, INT8, UINT8, BOOL, and FLOAT16/BFLOAT16 bit patterns
    const vals = t.int32Data ?? [];
    for (let i = 0; i < vals.length; i++) {
      if (size === 4) view.setInt32(i * 4, vals[i], true);
      else if (size === 2) view.setUint16(i * 2, vals[i] & 0xffff, true);
      else view.setUint8(i, vals[i] & 0xff);
    }
  }
  return out;
}

function readExternal(t: TensorProto, baseDir: string, byteLength: number): Uint8Array {
  const info = externalInfo(t);
  const location = info.location ?? '';
  const file = location.startsWith('/') || /^[A-Za-z]:[\\/]/.test(location) ? location : `${baseDir}/${location}`;
  const offset = Number(info.offset ?? 0);
  const length = info.length !== undefined ? Number(info.length) : byteLength;
  const out = new Uint8Array(length);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    throw new ChordError('FILE_NOT_FOUND', `The weights file ${file} of tensor ${t.name} cannot be opened.`, 'Check that the model folder is complete.');
  }
  try {
    let done = 0;
    while (done < length) {
      const n = fs.readSync(fd, out, done, length - done, offset + done);
      if (n === 0) throw new ChordError('MODEL_INVALID', `The weights file ${file} ends before tensor ${t.name}.`, 'The model folder is damaged; download it again.');
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

/** A tensor's values as a fresh float32 array (FLOAT, FLOAT16 and DOUBLE tensors). */
export function tensorFloat32(t: TensorProto, baseDir = '.'): Float32Array {
  const buf = freshBuffer(t, baseDir);
  const dtype = t.dataType ?? 0;
  if (dtype === DataType.FLOAT) return new Float32Array(buf);
  if (dtype === DataType.FLOAT16) return halfArrayToFloat(new Uint16Array(buf));
  if (dtype === DataType.DOUBLE) return Float32Array.from(new Float64Array(buf));
  throw new ChordError('ONNX_GRAPH', `Tensor ${t.name} is not a floating-point tensor.`);
}

/** The raw fp16 bit patterns of a FLOAT16 tensor, as a fresh array. */
export function tensorUint16(t: TensorProto, baseDir = '.'): Uint16Array {
  return new Uint16Array(freshBuffer(t, baseDir));
}

/** A tensor's values as integers (INT64, INT32 tensors; shape constants, axes). */
export function tensorInts(t: TensorProto, baseDir = '.'): number[] {
  const buf = freshBuffer(t, baseDir);
  const dtype = t.dataType ?? 0;
  if (dtype === DataType.INT64) return Array.from(new BigInt64Array(buf), (v) => Number(v));
  if (dtype === DataType.INT32) return Array.from(new Int32Array(buf));
  throw new ChordError('ONNX_GRAPH', `Tensor ${t.name} is not an integer tensor.`);
}

/**
 * The tensor's bytes in an ArrayBuffer nobody else holds (callers may write into it, and typed
 * arrays need an aligned start). Inline data, usually a view into the whole model file, is copied;
 * external data was just read into a fresh buffer and is used as is.
 */
function freshBuffer(t: TensorProto, baseDir: string): ArrayBuffer {
  const bytes = tensorBytes(t, baseDir);
  const own = isExternal(t) && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  if (own) return bytes.buffer as ArrayBuffer;
  // not bytes.slice(): on a Node Buffer that is a view, not a copy
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy.buffer;
}

export function makeTensor(name: string, dataType: number, dims: number[], rawData: Uint8Array): TensorProto {
  return { name, dataType, dims, rawData };
}

export function float32Tensor(name: string, dims: number[], data: Float32Array): TensorProto {
  return makeTensor(name, DataType.FLOAT, dims, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

export function float16Tensor(name: string, dims: number[], bits: Uint16Array): TensorProto {
  return makeTensor(name, DataType.FLOAT16, dims, new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength));
}

export function int64Tensor(name: string, dims: number[], values: number[]): TensorProto {
  const data = BigInt64Array.from(values, (v) => BigInt(v));
  return makeTensor(name, DataType.INT64, dims, new Uint8Array(data.buffer));
}

// ---- value infos ------------------------------------------------------------------------------

/** A dimension: a number, a symbolic name, or undefined when unknown. */
export type Dim = number | string | undefined;

export function makeValueInfo(name: string, elemType: number, dims?: Dim[]): ValueInfoProto {
  const tensorType: OnnxTypes.TypeProto.ITensor = { elemType };
  if (dims) {
    tensorType.shape = {
      dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {})),
    };
  }
  return { name, type: { tensorType } };
}

export function valueInfoElemType(vi: ValueInfoProto): number | undefined {
  const t = vi.type?.tensorType?.elemType;
  return t ? t : undefined;
}

export function valueInfoDims(vi: ValueInfoProto): Dim[] | undefined {
  const shape = vi.type?.tensorType?.shape;
  if (!shape) return undefined;
  return (shape.dim ?? []).map((d) => {
    if (d.dimParam) return d.dimParam;
    if (d.dimValue !== null && d.dimValue !== undefined) return toNumber(d.dimValue);
    return undefined;
  });
}

/** The graph of a model, or an ONNX_GRAPH error for a model without one. */
export function graphOf(model: ModelProto): GraphProto {
  if (!model.graph) throw new ChordError('MODEL_INVALID', 'The ONNX model has no graph.', 'Export the model again.');
  return model.graph;
}

/** Model metadata as a record. */
export function metadata(model: ModelProto): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of model.metadataProps ?? []) if (p.key) out[p.key] = p.value ?? '';
  return out;
}

/** A copy of the model's metadata with `entries` set (replacing same keys). */
export function withMetadata(model: ModelProto, entries: Record<string, string>): OnnxTypes.IStringStringEntryProto[] {
  const kept = (model.metadataProps ?? []).filter((p) => !(p.key && p.key in entries));
  return [...kept, ...Object.entries(entries).map(([key, value]) => ({ key, value }))];
}
