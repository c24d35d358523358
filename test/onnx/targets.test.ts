import { describe, expect, it } from 'vitest';
import { analyzeLoraTargets, findLoraTargets, modulePathFromNodeName } from '../../src/engine/onnx/targets';
import { DataType, float32Tensor, intAttr, makeNode, makeValueInfo, type ModelProto, type NodeProto, type TensorProto } from '../../src/engine/onnx/proto';
import { loadFixture } from './helpers';

const T = 'down_blocks.0.attentions.0.transformer_blocks.0';
/** the same module as a node-name scope */
const TN = '/down_blocks.0/attentions.0/transformer_blocks.0';
const conv = (kernel: number, stride = 1) => ({
  kernel: [kernel, kernel],
  strides: [stride, stride],
  pads: kernel === 3 ? [1, 1, 1, 1] : [0, 0, 0, 0],
  dilations: [1, 1],
  group: 1,
});

/** Every Linear and Conv of the toy UNet, in graph order: [path, op, in, out, conv?]. */
const UNET_TARGETS: [string, string, number, number, ReturnType<typeof conv>?][] = [
  ['time_embedding.linear_1', 'Gemm', 4, 8],
  ['time_embedding.linear_2', 'Gemm', 8, 8],
  ['conv_in', 'Conv', 4, 4, conv(3)],
  ['down_blocks.0.resnets.0.conv1', 'Conv', 4, 8, conv(3)],
  ['down_blocks.0.resnets.0.time_emb_proj', 'Gemm', 8, 8],
  ['down_blocks.0.resnets.0.conv2', 'Conv', 8, 8, conv(3)],
  ['down_blocks.0.resnets.0.conv_shortcut', 'Conv', 4, 8, conv(1)],
  ['down_blocks.0.attentions.0.proj_in', 'Conv', 8, 8, conv(1)],
  [`${T}.attn1.to_q`, 'MatMul', 8, 8],
  [`${T}.attn1.to_k`, 'MatMul', 8, 8],
  [`${T}.attn1.to_v`, 'MatMul', 8, 8],
  [`${T}.attn1.to_out.0`, 'MatMul', 8, 8],
  [`${T}.attn2.to_q`, 'MatMul', 8, 8],
  [`${T}.attn2.to_k`, 'MatMul', 6, 8],
  [`${T}.attn2.to_v`, 'MatMul', 6, 8],
  [`${T}.attn2.to_out.0`, 'MatMul', 8, 8],
  [`${T}.ff.net.0.proj`, 'MatMul', 8, 32],
  [`${T}.ff.net.2`, 'MatMul', 16, 8],
  ['down_blocks.0.attentions.0.proj_out', 'Conv', 8, 8, conv(1)],
  ['down_blocks.0.downsamplers.0.conv', 'Conv', 8, 8, conv(3, 2)],
  ['up_blocks.0.upsamplers.0.conv', 'Conv', 8, 8, conv(3)],
  ['up_blocks.0.resnets.0.conv1', 'Conv', 12, 4, conv(3)],
  ['up_blocks.0.resnets.0.time_emb_proj', 'Gemm', 8, 4],
  ['up_blocks.0.resnets.0.conv2', 'Conv', 4, 4, conv(3)],
  ['up_blocks.0.resnets.0.conv_shortcut', 'Conv', 12, 4, conv(1)],
  ['conv_out', 'Conv', 4, 4, conv(3)],
];

function tiny(nodes: NodeProto[], initializers: TensorProto[], inputs: string[], outputs: string[]): ModelProto {
  return {
    irVersion: 7,
    opsetImport: [{ domain: '', version: 14 }],
    graph: {
      name: 'tiny',
      node: nodes,
      initializer: initializers,
      input: inputs.map((n) => makeValueInfo(n, DataType.FLOAT)),
      output: outputs.map((n) => makeValueInfo(n, DataType.FLOAT)),
    },
  };
}

const w = (name: string, dims: number[]) => float32Tensor(name, dims, new Float32Array(dims.reduce((a, b) => a * b, 1)));

describe('modulePathFromNodeName', () => {
  it('turns scopes into a dotted module path and drops the op name', () => {
    expect(modulePathFromNodeName('/down_blocks.0/attentions.0/transformer_blocks.0/attn1/to_q/MatMul')).toBe(`${T}.attn1.to_q`);
    expect(modulePathFromNodeName('/text_model/encoder/layers.0/self_attn/q_proj/MatMul')).toBe('text_model.encoder.layers.0.self_attn.q_proj');
    expect(modulePathFromNodeName('/conv_in/Conv_1')).toBe('conv_in');
  });

  it('collapses a container repeated as its child prefix', () => {
    expect(modulePathFromNodeName(`${TN}/attn1/to_out/to_out.0/MatMul`)).toBe(`${T}.attn1.to_out.0`);
    expect(modulePathFromNodeName('/ff/net/net.2/MatMul')).toBe('ff.net.2');
    // not a repetition: `to` is not a prefix scope of `to_out.0`
    expect(modulePathFromNodeName('/to/to_out.0/MatMul')).toBe('to.to_out.0');
  });

  it('has no path for unscoped names', () => {
    expect(modulePathFromNodeName('MatMul_12')).toBeUndefined();
    expect(modulePathFromNodeName('/MatMul')).toBeUndefined();
  });
});

describe('findLoraTargets', () => {
  it('finds every Linear and Conv of the toy UNet with its op, features and conv geometry', async () => {
    const targets = findLoraTargets(await loadFixture('tiny_unet.onnx'), 'unet');
    expect(targets.map((t) => [t.modulePath, t.op, t.inFeatures, t.outFeatures, t.conv])).toEqual(
      UNET_TARGETS.map(([p, op, i, o, c]) => [p, op, i, o, c]),
    );
    expect(targets.every((t) => t.part === 'unet')).toBe(true);
  });

  it('never targets attention-score MatMuls (two activations)', async () => {
    const model = await loadFixture('tiny_unet.onnx');
    const analysis = analyzeLoraTargets(model, 'unet');
    const matmuls = (model.graph?.node ?? []).filter((n) => n.opType === 'MatMul').map((n) => n.name ?? '');
    const targeted = new Set(analysis.located.map((l) => l.node.name));
    const untargeted = matmuls.filter((n) => !targeted.has(n));
    expect(untargeted).toEqual([`${TN}/attn1/MatMul`, `${TN}/attn1/MatMul_1`, `${TN}/attn2/MatMul`, `${TN}/attn2/MatMul_1`]);
    expect(analysis.skipped).toEqual([]);
  });

  it('sees through fp16 storage: same targets behind Cast nodes and in a pure fp16 graph', async () => {
    const reference = findLoraTargets(await loadFixture('tiny_unet.onnx'), 'unet');
    const cast = analyzeLoraTargets(await loadFixture('tiny_unet_castweights.onnx'), 'unet');
    expect(cast.targets).toEqual(reference);
    expect(cast.located.every((l) => l.weight.chain.length === 1 && l.weight.chain[0].opType === 'Cast')).toBe(true);
    expect(cast.located.every((l) => l.weight.tensor.dataType === DataType.FLOAT16 && l.weight.computeType === DataType.FLOAT)).toBe(true);
    const half = analyzeLoraTargets(await loadFixture('tiny_unet_fp16.onnx'), 'unet');
    expect(half.targets).toEqual(reference);
    expect(half.located.every((l) => l.weight.computeType === DataType.FLOAT16)).toBe(true);
  });

  it('finds the CLIP text encoder layers, a 2-D projection and a weight shared through Identity', async () => {
    const analysis = analyzeLoraTargets(await loadFixture('tiny_text_encoder.onnx'), 'text_encoder');
    const layer = (i: number) => [
      [`text_model.encoder.layers.${i}.self_attn.q_proj`, 8, 8],
      [`text_model.encoder.layers.${i}.self_attn.k_proj`, 8, 8],
      [`text_model.encoder.layers.${i}.self_attn.v_proj`, 8, 8],
      [`text_model.encoder.layers.${i}.self_attn.out_proj`, 8, 8],
      [`text_model.encoder.layers.${i}.mlp.fc1`, 8, 16],
      [`text_model.encoder.layers.${i}.mlp.fc2`, 16, 8],
    ];
    expect(analysis.targets.map((t) => [t.modulePath, t.inFeatures, t.outFeatures])).toEqual([...layer(0), ...layer(1), ['text_projection', 8, 8]]);
    expect(analysis.targets.every((t) => t.op === 'MatMul' && t.part === 'text_encoder')).toBe(true);
    const fc1 = analysis.located.filter((l) => l.target.modulePath.endsWith('mlp.fc1'));
    expect(fc1[0].weight.tensorName).toBe(fc1[1].weight.tensorName); // one initializer, two layers
    expect(fc1[1].weight.chain.map((n) => n.opType)).toEqual(['Identity']);
  });

  it('gives the same targets for an export without constant folding (Transpose before MatMul)', async () => {
    const folded = findLoraTargets(await loadFixture('tiny_text_encoder.onnx'), 'text_encoder');
    const unfolded = analyzeLoraTargets(await loadFixture('tiny_text_encoder_nofold.onnx'), 'text_encoder');
    expect(unfolded.targets).toEqual(folded);
    const q = unfolded.located.find((l) => l.target.modulePath === 'text_model.encoder.layers.0.self_attn.q_proj');
    expect(q?.weight.tensorName).toBe('text_model.encoder.layers.0.self_attn.q_proj.weight');
    expect(q?.weight.transposes).toBe(1);
  });

  it('handles unscoped names, Gemm without transB, grouped convs, weight-first MatMuls and clashes', () => {
    const model = tiny(
      [
        // older exporters: no scope in the node name, but the weight keeps its module name
        makeNode('Gemm', ['x', 'encoder.fc.weight', 'encoder.fc.bias'], ['a'], 'Gemm_3', [intAttr('transB', 1)]),
        makeNode('Gemm', ['a', 'wg'], ['b'], '/head/proj/Gemm'),
        makeNode('MatMul', ['wm', 'b'], ['c'], '/weird/MatMul'),
        makeNode('Conv', ['img', 'dw.weight'], ['d'], '/dw/Conv', [intAttr('group', 4)]),
        makeNode('MatMul', ['b', 'w1'], ['e'], '/twice/MatMul'),
        makeNode('MatMul', ['e', 'w2'], ['f'], '/twice/MatMul_1'),
        makeNode('MatMul', ['f', 'onnx::MatMul_9'], ['g'], 'MatMul_9'),
      ],
      [
        w('encoder.fc.weight', [5, 3]),
        w('encoder.fc.bias', [5]),
        w('wg', [5, 7]),
        w('wm', [2, 7]),
        w('dw.weight', [4, 1, 3, 3]),
        w('w1', [7, 7]),
        w('w2', [7, 7]),
        w('onnx::MatMul_9', [7, 7]),
      ],
      ['x', 'img'],
      ['c', 'd', 'g'],
    );
    const analysis = analyzeLoraTargets(model, 'unet');
    expect(analysis.targets.map((t) => [t.modulePath, t.op, t.inFeatures, t.outFeatures])).toEqual([
      ['encoder.fc', 'Gemm', 3, 5],
      ['head.proj', 'Gemm', 5, 7],
    ]);
    const reasons = Object.fromEntries(analysis.skipped.map((s) => [s.nodeName, s.reason]));
    expect(reasons['/dw/Conv']).toMatch(/grouped/);
    expect(reasons['/twice/MatMul']).toMatch(/several different layers/);
    expect(reasons['/twice/MatMul_1']).toMatch(/several different layers/);
    expect(reasons.MatMul_9).toMatch(/no module path/);
    expect(reasons['/weird/MatMul']).toBeUndefined(); // weight first: not a layer at all
  });
});
