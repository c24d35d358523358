import { describe, expect, it } from 'vitest';
import { addLoraBranches, loraInputSpecs } from '../../src/engine/onnx/branches';
import { exposeTensor, extractSubgraph, scopeOutputs } from '../../src/engine/onnx/cuts';
import { DataType } from '../../src/engine/onnx/proto';
import { findLoraTargets } from '../../src/engine/onnx/targets';
import { branchFeeds, f32, loadFixture, randomLora, runModel, unetFeeds } from './helpers';

/** In the toy UNet, the feature entering the (last) up block is the downsampler's output. */
const DEEP = '/down_blocks.0/downsamplers.0/conv/Conv_output_0';
const CONV_IN = '/conv_in/Conv_output_0';
const UNET_INPUTS = ['sample', 'timestep', 'encoder_hidden_states'];

describe('exposeTensor', () => {
  it('adds an intermediate tensor as an extra output without changing the others', async () => {
    const model = await loadFixture('tiny_unet.onnx');
    const exposed = exposeTensor(model, DEEP);
    expect(exposed.graph?.output?.map((o) => o.name)).toEqual(['out_sample', DEEP]);
    expect(exposed.graph?.output?.[1].type?.tensorType?.elemType).toBe(DataType.FLOAT);
    const full = await runModel(model, unetFeeds(3));
    const both = await runModel(exposed, unetFeeds(3));
    expect(Array.from(both.out_sample.data)).toEqual(Array.from(full.out_sample.data));
    expect(both[DEEP].dims).toEqual([2, 8, 4, 4]);
    expect(model.graph?.output).toHaveLength(1);
  });

  it('rejects a tensor the graph does not have', async () => {
    const model = await loadFixture('tiny_unet.onnx');
    expect(() => exposeTensor(model, '/nope')).toThrow(/no tensor named/);
  });
});

describe('scopeOutputs', () => {
  it('finds what a block hands to the next one, by module path', async () => {
    const model = await loadFixture('tiny_unet.onnx');
    // the deep feature, plus SiLU(temb) which the exporter computes once and shares
    expect(scopeOutputs(model, 'down_blocks.0', 'up_blocks.0')).toEqual(['/down_blocks.0/resnets.0/Mul_1_output_0', DEEP]);
    expect(scopeOutputs(model, 'down_blocks.0.downsamplers.0')).toEqual([DEEP]);
    expect(scopeOutputs(model, 'conv_in')).toEqual([CONV_IN]);
    expect(scopeOutputs(model, 'conv_out')).toEqual(['out_sample']);
  });
});

describe('extractSubgraph', () => {
  it('a shallow pass from the cached deep feature equals the full pass', async () => {
    const model = await loadFixture('tiny_unet.onnx');
    const full = await runModel(exposeTensor(model, DEEP), unetFeeds(4));
    const shallow = extractSubgraph(model, [...UNET_INPUTS, DEEP], ['out_sample']);
    // the down block's transformer is gone, the skip from conv_in is still computed
    const names = (shallow.graph?.node ?? []).map((n) => n.name ?? '');
    expect(names.some((n) => n.includes('/attentions.0/'))).toBe(false);
    expect(names).toContain('/conv_in/Conv');
    expect(names.length).toBeLessThan((model.graph?.node ?? []).length / 2);
    const out = await runModel(shallow, { ...unetFeeds(4), [DEEP]: f32(full[DEEP].data, [...full[DEEP].dims]) });
    expect(Array.from(out.out_sample.data)).toEqual(Array.from(full.out_sample.data));
  });

  it('cuts out an intermediate: the head of the graph up to conv_in', async () => {
    const model = await loadFixture('tiny_unet.onnx');
    const head = extractSubgraph(model, ['sample'], [CONV_IN]);
    expect(head.graph?.node?.map((n) => n.opType)).toEqual(['Conv']);
    expect(head.graph?.initializer?.map((t) => t.name)).toEqual(['conv_in.weight', 'conv_in.bias']);
    const full = await runModel(exposeTensor(model, CONV_IN), unetFeeds(5));
    const out = await runModel(head, { sample: unetFeeds(5).sample });
    expect(Array.from(out[CONV_IN].data)).toEqual(Array.from(full[CONV_IN].data));
  });

  it('types an intermediate input from the caller or by inference, and names what is missing', async () => {
    const model = await loadFixture('tiny_unet.onnx');
    const given = extractSubgraph(model, [...UNET_INPUTS, DEEP], ['out_sample'], { [DEEP]: { elemType: DataType.FLOAT, dims: ['batch', 8, 4, 4] } });
    const deepInput = given.graph?.input?.find((i) => i.name === DEEP);
    expect(deepInput?.type?.tensorType?.shape?.dim?.map((d) => d.dimParam || Number(d.dimValue))).toEqual(['batch', 8, 4, 4]);
    const inferred = extractSubgraph(model, [...UNET_INPUTS, DEEP], ['out_sample']);
    expect(inferred.graph?.input?.find((i) => i.name === DEEP)?.type?.tensorType?.elemType).toBe(DataType.FLOAT);
    expect(() => extractSubgraph(model, ['sample', 'encoder_hidden_states', DEEP], ['out_sample'])).toThrow(/needs timestep/);
  });

  it('works on a LoRA-rewritten UNet: the same feeds drive the full and the shallow graph', async () => {
    const model = await loadFixture('tiny_unet.onnx');
    const targets = findLoraTargets(model, 'unet');
    const rewritten = addLoraBranches(model, targets);
    const inputs = (rewritten.graph?.input ?? []).map((i) => i.name ?? '');
    const shallow = extractSubgraph(rewritten, [...inputs, DEEP], ['out_sample']);
    expect(loraInputSpecs(shallow)).toHaveLength(loraInputSpecs(rewritten).length); // unused ones stay
    const feeds = { ...unetFeeds(6), ...branchFeeds(targets, [randomLora(targets, 2, 1)], [[1], [0.5]]) };
    const full = await runModel(exposeTensor(rewritten, DEEP), feeds);
    const out = await runModel(shallow, { ...feeds, [DEEP]: f32(full[DEEP].data, [...full[DEEP].dims]) });
    expect(Array.from(out.out_sample.data)).toEqual(Array.from(full.out_sample.data));
  });
});
