/**
 * Multiply-accumulates of a UNet graph's Conv, MatMul and Gemm nodes: a measure of a pass's cost
 * that no other work on the machine can disturb (timings on a shared CPU are noisy).
 *
 * Shapes come from one run of the graph with every such node's output (and data input) exposed,
 * at two small latent sides s1 < s2, batch 1 (MACs scale linearly with the batch). Each node's
 * count is a pure power of the latent side (convolutions and projections grow with the pixels,
 * s^2; self-attention products with the pixels squared, s^4; cross-attention, s^2), so the two
 * runs give each node's exponent and any larger side follows exactly, without running a 512 x
 * 512 px attention at full size.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { writeModel } from '../src/engine/onnx/io';
import { attrInt, graphOf, tensorDims, type ModelProto, type NodeProto } from '../src/engine/onnx/proto';
import { uniform } from './speed/unet-feeds';

const COUNTED = new Set(['Conv', 'MatMul', 'Gemm']);

export interface UnetInputs {
  channels: number;
  contextWidth: number;
}

/** node name -> [MACs at side s1, MACs at side s2] */
export type MacTable = Map<string, [number, number]>;

export async function measureMacs(model: ModelProto, inputs: UnetInputs, sides: [number, number]): Promise<MacTable> {
  const graph = graphOf(model);
  const weights = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', tensorDims(t)]));
  const nodes = (graph.node ?? []).filter((n) => COUNTED.has(n.opType ?? '') && (n.domain ?? '') === '');
  const exposed = new Set<string>();
  for (const n of nodes) {
    exposed.add(n.output?.[0] ?? '');
    for (const i of (n.input ?? []).slice(0, 2)) if (!weights.has(i)) exposed.add(i);
  }
  const outputs = new Set((graph.output ?? []).map((o) => o.name));
  const probe: ModelProto = {
    ...model,
    graph: { ...graph, output: [...(graph.output ?? []), ...[...exposed].filter((t) => t && !outputs.has(t)).map((name) => ({ name }))] },
  };
  const dir = await mkdtemp(join(tmpdir(), 'chord-unet-macs-'));
  const table: MacTable = new Map();
  try {
    await writeModel(probe, join(dir, 'probe.onnx'));
    const session = await InferenceSession.create(join(dir, 'probe.onnx'), { graphOptimizationLevel: 'disabled' });
    for (const [k, side] of sides.entries()) {
      const out = await session.run({
        sample: new Tensor('float32', uniform(inputs.channels * side * side, 1, 1), [1, inputs.channels, side, side]),
        timestep: new Tensor('float32', Float32Array.of(601), [1]),
        encoder_hidden_states: new Tensor('float32', uniform(77 * inputs.contextWidth, 2, 1), [1, 77, inputs.contextWidth]),
      });
      const dims = (name: string): readonly number[] => weights.get(name) ?? out[name]?.dims ?? [];
      for (const n of nodes) {
        const entry = table.get(n.name ?? '') ?? [0, 0];
        entry[k] = nodeMacs(n, dims);
        table.set(n.name ?? '', entry);
      }
    }
    await session.release();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return table;
}

function nodeMacs(n: NodeProto, dims: (name: string) => readonly number[]): number {
  const count = (d: readonly number[]): number => d.reduce((a, b) => a * b, 1);
  const out = count(dims(n.output?.[0] ?? ''));
  const a = dims(n.input?.[0] ?? '');
  const w = dims(n.input?.[1] ?? '');
  switch (n.opType) {
    case 'Conv': // every output element: in/group x kh x kw products
      return out * count(w.slice(1));
    case 'MatMul':
      return out * a[a.length - 1];
    default: // Gemm
      return out * (attrInt(n, 'transA', 0) ? a[0] : a[1]);
  }
}

/** Total MACs of the given nodes at latent side `side` and batch `batch`, from the two probes. */
export function macsAt(table: MacTable, sides: [number, number], side: number, batch: number, only?: Set<string>): number {
  let total = 0;
  for (const [name, [m1, m2]] of table) {
    if (only && !only.has(name)) continue;
    if (m1 === 0) continue;
    const exponent = Math.log(m2 / m1) / Math.log(sides[1] / sides[0]);
    total += m2 * (side / sides[1]) ** exponent;
  }
  return total * batch;
}
