import { describe, expect, it } from 'vitest';
import type { LoraModule } from '../../src/engine/lora/types';
import { branchInputs, LoraStack } from '../../src/engine/model/lora-stack';
import type { InputInfo } from '../../src/engine/model/session';

function inputs(list: [string, (number | string)[]][]): Map<string, InputInfo> {
  return new Map(list.map(([name, shape]) => [name, { name, type: 'float32', shape }]));
}

/** A rewritten graph with one linear layer (3 -> 2) and one 3x3 conv (2 -> 2). */
const graphInputs = inputs([
  ['sample', ['batch', 4, 'h', 'w']],
  ['lora.gate', ['lora_batch', 'lora_rank']],
  ['lora.down.attn.to_k', [3, 'lora_rank']],
  ['lora.up.attn.to_k', ['lora_rank', 2]],
  ['lora.down.conv1', ['lora_rank', 2, 3, 3]],
  ['lora.up.conv1', [2, 'lora_rank', 1, 1]],
]);

function linearModule(rank: number, salt: number, alpha: number): LoraModule {
  const down = Float32Array.from({ length: rank * 3 }, (_, i) => ((i + salt) % 5) - 2);
  const up = Float32Array.from({ length: 2 * rank }, (_, i) => ((i * 3 + salt) % 7) - 3);
  return { part: 'unet', modulePath: 'attn.to_k', kind: 'linear', rank, alpha, scale: alpha / rank, down, downShape: [rank, 3], up, upShape: [2, rank] };
}

/** y = ((x down) * gate) up for one row x, as the rewritten graph computes the branch. */
function branch(x: number[], down: Float32Array, up: Float32Array, gate: Float32Array, R: number): number[] {
  const h = Array.from({ length: R }, (_, r) => x.reduce((s, xi, i) => s + xi * down[i * R + r], 0) * gate[r]);
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
      { modulePath: 'attn.to_k', kind: 'linear', inFeatures: 3, outFeatures: 2, kernel: [1, 1] },
      { modulePath: 'conv1', kind: 'conv', inFeatures: 2, outFeatures: 2, kernel: [3, 3] },
    ]);
    expect(branchInputs(inputs([['sample', [1]]]), 'g')).toBeUndefined();
  });

  it('concatenates ranks so the branch equals the weighted sum of the LoRAs', () => {
    const a = linearModule(2, 0, 1); // scale 0.5
    const b = linearModule(3, 4, 6); // scale 2
    const branches = branchInputs(graphInputs, 'g') ?? [];
    const stack = new LoraStack('unet', branches, [{ modules: [a] }, { modules: [b] }]);
    expect(stack.rank).toBe(5);
    expect(stack.blocks).toEqual([
      { start: 0, width: 2 },
      { start: 2, width: 3 },
    ]);
    const feeds = stack.feeds([0.7, -1.5], 2);
    expect(feeds['lora.gate'].dims).toEqual([2, 5]);
    expect([...feeds['lora.gate'].data]).toEqual([0.7, 0.7, -1.5, -1.5, -1.5, 0.7, 0.7, -1.5, -1.5, -1.5].map(Math.fround));
    expect(feeds['lora.down.attn.to_k'].dims).toEqual([3, 5]);
    expect(feeds['lora.up.attn.to_k'].dims).toEqual([5, 2]);
    // the conv layer has no module in either LoRA: all zeros, still fed
    expect(feeds['lora.down.conv1'].dims).toEqual([5, 2, 3, 3]);
    expect(feeds['lora.up.conv1'].data.every((v) => v === 0)).toBe(true);

    const x = [0.5, -1, 2];
    const got = branch(x, feeds['lora.down.attn.to_k'].data as Float32Array, feeds['lora.up.attn.to_k'].data as Float32Array, feeds['lora.gate'].data as Float32Array, 5);
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
  });

  it('with no LoRAs feeds rank-0 inputs (the original outputs)', () => {
    const feeds = new LoraStack('unet', branchInputs(graphInputs, 'g') ?? [], []).feeds([], 2);
    expect(feeds['lora.gate'].dims).toEqual([2, 0]);
    expect(feeds['lora.down.attn.to_k'].dims).toEqual([3, 0]);
    expect(feeds['lora.up.conv1'].dims).toEqual([2, 0, 1, 1]);
  });

  it('ignores modules of the other model part', () => {
    const te = { ...linearModule(2, 0, 2), part: 'text_encoder' as const };
    const stack = new LoraStack('unet', branchInputs(graphInputs, 'g') ?? [], [{ modules: [te] }]);
    expect(stack.rank).toBe(0);
  });
});
