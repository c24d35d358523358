import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fuseDeltas, type WeightDelta } from '../../src/engine/onnx/fuse';
import { floatToHalf, halfToFloat } from '../../src/engine/half';
import { tensorFloat32, tensorUint16, type ModelProto } from '../../src/engine/onnx/proto';
import { analyzeLoraTargets } from '../../src/engine/onnx/targets';
import { f32, fixture, loadFixture, maxAbsDiff, relError, runModel, textFeeds, type Feeds } from './helpers';

interface Reference {
  deltas: { modulePath: string; shape: number[]; salt: number }[];
  inputs: Record<string, { shape: number[]; data: number[] }>;
  out_sample: { shape: number[]; data: number[] };
}

const reference = JSON.parse(fs.readFileSync(fixture('fuse_reference.json'), 'utf8')) as Reference;

/** The delta make_fixtures.py added in PyTorch: 0.05 sin(0.37 i + salt). */
function pattern(shape: number[], salt: number): WeightDelta {
  const n = shape.reduce((a, b) => a * b, 1);
  const delta = new Float32Array(n);
  for (let i = 0; i < n; i++) delta[i] = 0.05 * Math.sin(0.37 * i + salt);
  return { delta, shape };
}

function referenceDeltas(): Map<string, WeightDelta> {
  return new Map(reference.deltas.map((d) => [d.modulePath, pattern(d.shape, d.salt)]));
}

function referenceFeeds(): Feeds {
  return Object.fromEntries(Object.entries(reference.inputs).map(([k, v]) => [k, f32(Float32Array.from(v.data), v.shape)]));
}

function weightOf(model: ModelProto, modulePath: string) {
  const l = analyzeLoraTargets(model, 'unet').located.find((x) => x.target.modulePath === modulePath);
  if (!l) throw new Error(`no ${modulePath}`);
  return l.weight;
}

describe('fuseDeltas', () => {
  it('matches PyTorch with the same deltas added to a MatMul [in,out], a Gemm transB and a Conv weight', async () => {
    const model = await loadFixture('tiny_unet.onnx');
    const fused = await runModel(fuseDeltas(model, referenceDeltas()), referenceFeeds());
    const expected = Float32Array.from(reference.out_sample.data);
    expect(relError(fused.out_sample.data, expected)).toBeLessThan(1e-5);
    const unfused = await runModel(model, referenceFeeds());
    expect(relError(unfused.out_sample.data, expected)).toBeGreaterThan(1e-2);
  });

  it('keeps fp16 storage: the sum is rounded once to half precision', async () => {
    const model = await loadFixture('tiny_unet_castweights.onnx');
    const path = 'down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k';
    const before = weightOf(model, path);
    const d = pattern([8, 6], 3);
    const after = weightOf(fuseDeltas(model, new Map([[path, d]])), path);
    expect(after.tensor.dataType).toBe(10);
    const oldBits = tensorUint16(before.tensor);
    const newBits = tensorUint16(after.tensor);
    // stored [in=6, out=8]; delta [out=8, in=6]
    for (const [i, o] of [[0, 0], [5, 7], [2, 3]]) {
      expect(newBits[i * 8 + o]).toBe(floatToHalf(halfToFloat(oldBits[i * 8 + o]) + d.delta[o * 6 + i]));
    }
  });

  it('copies a weight shared by two layers so only the named layer changes', async () => {
    const model = await loadFixture('tiny_text_encoder.onnx');
    const l0 = 'text_model.encoder.layers.0.mlp.fc1';
    const l1 = 'text_model.encoder.layers.1.mlp.fc1';
    const shared = weightOf(model, l0).tensorName;
    const fused = fuseDeltas(model, new Map([[l1, pattern([16, 8], 1)]]));
    expect(weightOf(fused, l0).tensorName).toBe(shared);
    expect(Array.from(tensorFloat32(weightOf(fused, l0).tensor))).toEqual(Array.from(tensorFloat32(weightOf(model, l0).tensor)));
    expect(weightOf(fused, l1).tensorName).toBe(`${l1}.weight.fused`);
    // the Identity that fed the shared weight to layer 1 is gone
    expect((fused.graph?.node ?? []).filter((n) => n.opType === 'Identity')).toHaveLength(1);

    // and the result equals fusing the same delta into an export where the weights are not shared
    // in the same way (no constant folding: Transpose from the original parameter)
    const unfolded = fuseDeltas(await loadFixture('tiny_text_encoder_nofold.onnx'), new Map([[l1, pattern([16, 8], 1)]]));
    const a = await runModel(fused, textFeeds());
    const b = await runModel(unfolded, textFeeds());
    expect(maxAbsDiff(a.last_hidden_state.data, b.last_hidden_state.data)).toBeLessThan(1e-5);
    const base = await runModel(model, textFeeds());
    expect(maxAbsDiff(a.last_hidden_state.data, base.last_hidden_state.data)).toBeGreaterThan(1e-3);
  });

  it('accepts an [out, in] delta for a 1x1 conv and leaves the input model untouched', async () => {
    const model = await loadFixture('tiny_unet.onnx');
    const before = Array.from(tensorFloat32(weightOf(model, 'down_blocks.0.attentions.0.proj_in').tensor));
    const fused = fuseDeltas(model, new Map([['down_blocks.0.attentions.0.proj_in', pattern([8, 8], 0)]]));
    const w = tensorFloat32(weightOf(fused, 'down_blocks.0.attentions.0.proj_in').tensor);
    expect(w[9]).toBeCloseTo(before[9] + 0.05 * Math.sin(0.37 * 9), 6);
    expect(Array.from(tensorFloat32(weightOf(model, 'down_blocks.0.attentions.0.proj_in').tensor))).toEqual(before);
  });

  it('rejects unknown layers and wrong shapes with LoRA errors', async () => {
    const model = await loadFixture('tiny_unet.onnx');
    expect(() => fuseDeltas(model, new Map([['mid_block.resnets.0.conv1', pattern([4, 4, 3, 3], 0)]]))).toThrow(
      expect.objectContaining({ code: 'LORA_NO_MATCH' }),
    );
    expect(() => fuseDeltas(model, new Map([['conv_in', pattern([4, 4], 0)]]))).toThrow(expect.objectContaining({ code: 'LORA_WRONG_BASE' }));
  });
});
