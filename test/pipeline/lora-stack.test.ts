import { describe, expect, it } from 'vitest';
import type { LoraModule } from '../../src/engine/lora/types';
import { branchInputs, LoraStack } from '../../src/engine/model/lora-stack';
import type { InputInfo } from '../../src/engine/model/session';
import { fromHalf } from '../../src/engine/tensor';

function inputs(list: [string, (number | string)[]][], float: 'float32' | 'float16' = 'float32'): Map<string, InputInfo> {
  return new Map(list.map(([name, shape]) => [name, { name, type: name.startsWith('lora.slots.') ? 'int32' : float, shape }]));
}

/** A rewritten graph with one linear layer (3 -> 2) and one 3x3 conv (2 -> 2), each of its own rank. */
const GRAPH: [string, (number | string)[]][] = [
  ['sample', ['batch', 4, 'h', 'w']],
  ['lora.gate', ['lora_batch', 'lora_total_rank']],
  ['lora.down.attn.to_k', [3, 'lora_rank.attn.to_k']],
  ['lora.up.attn.to_k', ['lora_rank.attn.to_k', 2]],
  ['lora.slots.attn.to_k', ['lora_rank.attn.to_k']],
  ['lora.down.conv1', ['lora_rank.conv1', 2, 3, 3]],
  ['lora.up.conv1', [2, 'lora_rank.conv1', 1, 1]],
  ['lora.slots.conv1', ['lora_rank.conv1']],
];
const graphInputs = inputs(GRAPH);

function linearModule(rank: number, salt: number, alpha: number): LoraModule {
  const down = Float32Array.from({ length: rank * 3 }, (_, i) => ((i + salt) % 5) - 2);
  const up = Float32Array.from({ length: 2 * rank }, (_, i) => ((i * 3 + salt) % 7) - 3);
  return { part: 'unet', modulePath: 'attn.to_k', kind: 'linear', rank, alpha, scale: alpha / rank, down, downShape: [rank, 3], up, upShape: [2, rank] };
}

/** y = ((x down) * gate[slots]) up for one row x, as the rewritten graph computes the branch. */
function branch(x: number[], down: Float32Array, up: Float32Array, gate: Float32Array, slots: Int32Array): number[] {
  const R = slots.length;
  const h = Array.from({ length: R }, (_, r) => x.reduce((s, xi, i) => s + xi * down[i * R + r], 0) * gate[slots[r]]);
  return [0, 1].map((o) => h.reduce((s, hr, r) => s + hr * up[r * 2 + o], 0));
}

/** weight * scale * (up @ down) x, the LoRA's own definition. */
function reference(x: number[], m: LoraModule, weight: number): number[] {
  return [0, 1].map((o) => {
    let s = 0;
    for (let r = 0; r < m.rank; r++) for (let i = 0; i < 3; i++) s += m.up[o * m.rank + r] * m.down[r * 3 + i] * x[i];
    return s * m.scale * weight;
  });
}

describe('LoraStack', () => {
  it('reads the branch layers from the graph inputs', () => {
    expect(branchInputs(graphInputs, 'g')).toEqual([
      { modulePath: 'attn.to_k', kind: 'linear', inFeatures: 3, outFeatures: 2, kernel: [1, 1], type: 'float32' },
      { modulePath: 'conv1', kind: 'conv', inFeatures: 2, outFeatures: 2, kernel: [3, 3], type: 'float32' },
    ]);
    expect(branchInputs(inputs([['sample', [1]]]), 'g')).toBeUndefined();
    // a graph of the first rewrite version (no slots) is refused, not fed wrongly
    expect(() => branchInputs(inputs(GRAPH.filter(([name]) => !name.startsWith('lora.slots.'))), 'g')).toThrow(/unexpected shapes/);
  });

  it('concatenates ranks so the branch equals the weighted sum of the LoRAs', () => {
    const a = linearModule(2, 0, 1); // scale 0.5
    const b = linearModule(3, 4, 6); // scale 2
    const branches = branchInputs(graphInputs, 'g') ?? [];
    const stack = new LoraStack('unet', branches, [{ modules: [a] }, { modules: [b] }]);
    expect(stack.totalRank).toBe(5);
    expect(stack.blocks).toEqual([
      { start: 0, width: 2 },
      { start: 2, width: 3 },
    ]);
    const feeds = stack.feeds([0.7, -1.5], 2);
    expect(feeds['lora.gate'].dims).toEqual([2, 5]);
    expect([...feeds['lora.gate'].data]).toEqual([0.7, 0.7, -1.5, -1.5, -1.5, 0.7, 0.7, -1.5, -1.5, -1.5].map(Math.fround));
    expect(feeds['lora.down.attn.to_k'].dims).toEqual([3, 5]);
    expect(feeds['lora.up.attn.to_k'].dims).toEqual([5, 2]);
    expect([...feeds['lora.slots.attn.to_k'].data]).toEqual([0, 1, 2, 3, 4]);
    // the conv layer has no module in either LoRA: rank 0, no arithmetic
    expect(stack.layerRanks).toEqual(new Map([['attn.to_k', 5], ['conv1', 0]]));
    expect(feeds['lora.down.conv1'].dims).toEqual([0, 2, 3, 3]);
    expect(feeds['lora.up.conv1'].dims).toEqual([2, 0, 1, 1]);
    expect(feeds['lora.slots.conv1'].dims).toEqual([0]);

    const x = [0.5, -1, 2];
    const got = branch(x, feeds['lora.down.attn.to_k'].data as Float32Array, feeds['lora.up.attn.to_k'].data as Float32Array, feeds['lora.gate'].data as Float32Array, feeds['lora.slots.attn.to_k'].data as Int32Array);
    const want = reference(x, a, 0.7).map((v, o) => v + reference(x, b, -1.5)[o]);
    got.forEach((v, o) => expect(v).toBeCloseTo(want[o], 5));
  });

  it('places conv modules row by row and scales up', () => {
    const rank = 1;
    const down = Float32Array.from({ length: 18 }, (_, i) => i);
    const up = Float32Array.of(2, 3);
    const m: LoraModule = { part: 'unet', modulePath: 'conv1', kind: 'conv', rank, alpha: 0.5, scale: 0.5, down, downShape: [1, 2, 3, 3], up, upShape: [2, 1, 1, 1] };
    const stack = new LoraStack('unet', branchInputs(graphInputs, 'g') ?? [], [{ modules: [] }, { modules: [m] }]);
    expect(stack.blocks).toEqual([
      { start: 0, width: 0 },
      { start: 0, width: 1 },
    ]);
    const feeds = stack.feeds([1, 1], 1);
    expect([...feeds['lora.down.conv1'].data]).toEqual([...down]);
    expect([...feeds['lora.up.conv1'].data]).toEqual([1, 1.5]);
    expect([...feeds['lora.slots.conv1'].data]).toEqual([0]);
    expect(feeds['lora.down.attn.to_k'].dims).toEqual([3, 0]);
  });

  it('gives each layer only the ranks of the LoRAs that touch it, with their gate columns', () => {
    const branches = branchInputs(graphInputs, 'g') ?? [];
    const conv: LoraModule = {
      part: 'unet', modulePath: 'conv1', kind: 'conv', rank: 2, alpha: 2, scale: 1,
      down: new Float32Array(36).fill(1), downShape: [2, 2, 3, 3], up: new Float32Array(4).fill(1), upShape: [2, 2, 1, 1],
    };
    // LoRA 0: attention rank 2; LoRA 1: conv only, rank 2; LoRA 2: attention rank 1 and conv rank 2
    const stack = new LoraStack('unet', branches, [{ modules: [linearModule(2, 0, 2)] }, { modules: [conv] }, { modules: [linearModule(1, 3, 1), conv] }]);
    expect(stack.blocks).toEqual([
      { start: 0, width: 2 },
      { start: 2, width: 2 },
      { start: 4, width: 2 },
    ]);
    expect(stack.totalRank).toBe(6);
    expect(stack.layerRanks).toEqual(new Map([['attn.to_k', 3], ['conv1', 4]]));
    const feeds = stack.feeds([1, 0.5, -1], 3);
    expect([...feeds['lora.slots.attn.to_k'].data]).toEqual([0, 1, 4]);
    expect([...feeds['lora.slots.conv1'].data]).toEqual([2, 3, 4, 5]);
    expect(feeds['lora.down.attn.to_k'].dims).toEqual([3, 3]);
    expect(feeds['lora.up.conv1'].dims).toEqual([2, 4, 1, 1]);
    expect([...feeds['lora.gate'].data.subarray(0, 6)]).toEqual([1, 1, 0.5, 0.5, -1, -1]);

    // the layer's branch, gated through its slots, is the weighted sum of its two modules
    const x = [1, 2, -0.5];
    const got = branch(x, feeds['lora.down.attn.to_k'].data as Float32Array, feeds['lora.up.attn.to_k'].data as Float32Array, feeds['lora.gate'].data as Float32Array, feeds['lora.slots.attn.to_k'].data as Int32Array);
    const want = reference(x, linearModule(2, 0, 2), 1).map((v, o) => v + reference(x, linearModule(1, 3, 1), -1)[o]);
    got.forEach((v, o) => expect(v).toBeCloseTo(want[o], 5));
  });

  it('converts the constant inputs of an fp16 graph to half once, not per pass', () => {
    const branches = branchInputs(inputs(GRAPH, 'float16'), 'g') ?? [];
    expect(branches.every((b) => b.type === 'float16')).toBe(true);
    const stack = new LoraStack('unet', branches, [{ modules: [linearModule(2, 0, 2)] }]);
    const first = stack.feeds([1], 2);
    const second = stack.feeds([0.5], 2);
    expect(first['lora.down.attn.to_k'].data).toBeInstanceOf(Uint16Array);
    expect(first['lora.up.attn.to_k'].data).toBeInstanceOf(Uint16Array);
    expect(second['lora.down.attn.to_k'].data).toBe(first['lora.down.attn.to_k'].data); // the same array
    expect(first['lora.gate'].data).toBeInstanceOf(Float32Array); // the graph casts the gate itself
    expect(first['lora.slots.attn.to_k'].data).toBeInstanceOf(Int32Array);
    const f32 = new LoraStack('unet', branchInputs(graphInputs, 'g') ?? [], [{ modules: [linearModule(2, 0, 2)] }]).feeds([1], 2);
    expect([...fromHalf(first['lora.down.attn.to_k'].data as Uint16Array)]).toEqual([...f32['lora.down.attn.to_k'].data]);
  });

  it('with no LoRAs feeds rank-0 inputs (the original outputs)', () => {
    const feeds = new LoraStack('unet', branchInputs(graphInputs, 'g') ?? [], []).feeds([], 2);
    expect(feeds['lora.gate'].dims).toEqual([2, 0]);
    expect(feeds['lora.down.attn.to_k'].dims).toEqual([3, 0]);
    expect(feeds['lora.up.conv1'].dims).toEqual([2, 0, 1, 1]);
    expect(feeds['lora.slots.conv1'].dims).toEqual([0]);
  });

  it('ignores modules of the other model part', () => {
    const te = { ...linearModule(2, 0, 2), part: 'text_encoder' as const };
    const stack = new LoraStack('unet', branchInputs(graphInputs, 'g') ?? [], [{ modules: [te] }]);
    expect(stack.totalRank).toBe(0);
  });
});
