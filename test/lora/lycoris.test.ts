import { describe, expect, it } from 'vitest';
import { doraExactDelta } from '../../src/engine/lora/dora';
import { kron, lohaDelta, lokrDelta, rebuildTucker } from '../../src/engine/lora/lycoris';
import { mapLoraToTargets } from '../../src/engine/lora/mapping';
import { parseLoraTensors } from '../../src/engine/lora/parse';
import type { LoraTarget } from '../../src/engine/lora/types';
import { expectClose, values } from './helpers';

const td = (shape: number[], data: number[]) => ({ shape, data: Float32Array.from(data) });

const lin = (modulePath: string, inF: number, outF: number): LoraTarget => ({ part: 'unet', modulePath, op: 'MatMul', inFeatures: inF, outFeatures: outF });
const conv = (modulePath: string, inF: number, outF: number, kh: number, kw: number): LoraTarget => ({
  part: 'unet',
  modulePath,
  op: 'Conv',
  inFeatures: inF,
  outFeatures: outF,
  conv: { kernel: [kh, kw], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 },
});

describe('LoHa', () => {
  it('matches a hand-computed 2x2 example', () => {
    // w1 = [[1],[2]] @ [[3, 4]] = [[3, 4], [6, 8]];  w2 = [[1],[-1]] @ [[0.5, 2]] = [[0.5, 2], [-0.5, -2]]
    // w1 * w2 = [[1.5, 8], [-3, -16]];  alpha 0.5 / rank 1
    const parsed = parseLoraTensors({
      'lora_unet_blk_lin.hada_w1_a': td([2, 1], [1, 2]),
      'lora_unet_blk_lin.hada_w1_b': td([1, 2], [3, 4]),
      'lora_unet_blk_lin.hada_w2_a': td([2, 1], [1, -1]),
      'lora_unet_blk_lin.hada_w2_b': td([1, 2], [0.5, 2]),
      'lora_unet_blk_lin.alpha': td([], [0.5]),
    });
    const { deltas, modules, report } = mapLoraToTargets(parsed, [lin('blk.lin', 2, 2)]);
    expect(modules).toEqual([]);
    expect(report.baked).toBe(1);
    expect(deltas[0]).toMatchObject({ modulePath: 'blk.lin', kind: 'linear', type: 'loha', shape: [2, 2] });
    expect(Array.from(deltas[0].delta)).toEqual([0.75, 4, -1.5, -8]);
  });

  it('rebuilds Tucker factors for a conv (hada_t1 / hada_t2)', () => {
    // t1 [1, 1, 3, 3] = 1..9, w1a [1, out 2] = [1, 2], w1b [1, in 1] = [3]  -> w1[p, 0, s] = (s + 1) * a[p] * 3
    // t2 = ones, w2a = [1, 1], w2b = [1]                                    -> w2 = ones
    const parsed = parseLoraTensors({
      'lora_unet_c.hada_t1': td([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]),
      'lora_unet_c.hada_w1_a': td([1, 2], [1, 2]),
      'lora_unet_c.hada_w1_b': td([1, 1], [3]),
      'lora_unet_c.hada_t2': td([1, 1, 3, 3], Array(9).fill(1)),
      'lora_unet_c.hada_w2_a': td([1, 2], [1, 1]),
      'lora_unet_c.hada_w2_b': td([1, 1], [1]),
    });
    const { deltas } = mapLoraToTargets(parsed, [conv('c', 1, 2, 3, 3)]);
    expect(deltas[0]).toMatchObject({ kind: 'conv', shape: [2, 1, 3, 3] });
    const expected = [1, 2].flatMap((a) => [1, 2, 3, 4, 5, 6, 7, 8, 9].map((s) => s * a * 3));
    expect(Array.from(deltas[0].delta)).toEqual(expected); // no alpha -> scale 1
  });

  it('refuses factor shapes that disagree', () => {
    expect(() =>
      lohaDelta({ w1a: td([2, 1], [1, 2]), w1b: td([1, 2], [1, 1]), w2a: td([3, 1], [1, 1, 1]), w2b: td([1, 2], [1, 1]) }, undefined, 'm'),
    ).toThrow(/hada_w1 gives \[2, 2\] but hada_w2 gives \[3, 2\]/);
  });
});

describe('LoKr', () => {
  it('matches a hand-computed Kronecker example (full w1, factorised w2)', () => {
    // w1 = [[1, 2], [3, 4]];  w2 = [[1], [2]] @ [[1, -1]] = [[1, -1], [2, -2]];  alpha 2 / rank 1
    const parsed = parseLoraTensors({
      'lora_unet_k.lokr_w1': td([2, 2], [1, 2, 3, 4]),
      'lora_unet_k.lokr_w2_a': td([2, 1], [1, 2]),
      'lora_unet_k.lokr_w2_b': td([1, 2], [1, -1]),
      'lora_unet_k.alpha': td([], [2]),
    });
    const { deltas } = mapLoraToTargets(parsed, [lin('k', 4, 4)]);
    expect(deltas[0]).toMatchObject({ type: 'lokr', shape: [4, 4] });
    expect(Array.from(deltas[0].delta)).toEqual([2, -2, 4, -4, 4, -4, 8, -8, 6, -6, 8, -8, 12, -12, 16, -16]);
  });

  it('keeps the kernel of a 4-D lokr_w2 (conv) and uses scale 1 with no factorised side', () => {
    // w1 = [[1], [10]] ([2, 1]); w2 [1, 1, 1, 2] = [1, 2] -> delta [2, 1, 1, 2] = [[1, 2], [10, 20]]
    const parsed = parseLoraTensors({
      'lora_unet_k.lokr_w1': td([2, 1], [1, 10]),
      'lora_unet_k.lokr_w2': td([1, 1, 1, 2], [1, 2]),
      'lora_unet_k.alpha': td([], [100]), // ignored: nothing is factorised
    });
    const { deltas } = mapLoraToTargets(parsed, [conv('k', 1, 2, 1, 2)]);
    expect(deltas[0]).toMatchObject({ kind: 'conv', shape: [2, 1, 1, 2] });
    expect(Array.from(deltas[0].delta)).toEqual([1, 2, 10, 20]);
  });

  it('factorised w1 and w2 use alpha / rank', () => {
    const m = lokrDelta(
      { w1a: td([1, 1], [2]), w1b: td([1, 1], [3]), w2a: td([1, 1], [1]), w2b: td([1, 2], [1, 4]) },
      0.5,
      'k',
    );
    expect(m).toMatchObject({ rows: 1, cols: 2 });
    expect(Array.from(m.data)).toEqual([3, 12]); // kron(6, [1, 4]) * 0.5
  });

  it('kron of a flattened conv w2 equals the 4-D Kronecker product', () => {
    const w1 = { rows: 2, cols: 3, data: values([2, 3], 1) };
    const w2 = values([2, 2, 3, 3], 2); // [c, d, kh, kw]
    const flat = kron(w1, { rows: 2, cols: 18, data: w2 });
    // direct: out[(i*c + k), (j*d + l), s] = w1[i, j] * w2[k, l, s]
    const direct = new Float32Array(4 * 6 * 9);
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 2; k++) for (let l = 0; l < 2; l++) for (let s = 0; s < 9; s++) {
      direct[((i * 2 + k) * 6 + (j * 2 + l)) * 9 + s] = w1.data[i * 3 + j] * w2[(k * 2 + l) * 9 + s];
    }
    expectClose(flat.data, direct);
  });
});

describe('Tucker rebuild', () => {
  it('equals the einsum "i j k l, i p, j q -> p q k l"', () => {
    const t = values([2, 3, 2, 2], 1);
    const wa = values([2, 4], 2);
    const wb = values([3, 5], 3);
    const { matrix, kernel } = rebuildTucker({ data: t, shape: [2, 3, 2, 2] }, { data: wa, shape: [2, 4] }, { data: wb, shape: [3, 5] }, 't');
    expect(kernel).toEqual([2, 2]);
    expect(matrix).toMatchObject({ rows: 4, cols: 20 });
    const ref: number[] = [];
    for (let p = 0; p < 4; p++) for (let q = 0; q < 5; q++) for (let s = 0; s < 4; s++) {
      let acc = 0;
      for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) acc += t[(i * 3 + j) * 4 + s] * wa[i * 4 + p] * wb[j * 5 + q];
      ref.push(acc);
    }
    expectClose(matrix.data, ref);
  });
});

describe('full diff', () => {
  it('passes the weight diff through', () => {
    const parsed = parseLoraTensors({ 'lora_unet_d.diff': td([2, 3], [1, 2, 3, 4, 5, 6]) });
    const { deltas } = mapLoraToTargets(parsed, [lin('d', 3, 2)]);
    expect(deltas[0]).toMatchObject({ type: 'diff', shape: [2, 3] });
    expect(Array.from(deltas[0].delta)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe('DoRA', () => {
  // base W = [[1, 0], [0, 2]]; dW = up @ down = [[1], [0]] @ [[0, 1]] = [[0, 1], [0, 0]] (alpha = rank = 1)
  const W = Float32Array.from([1, 0, 0, 2]);
  const lora = {
    'lora_unet_q.lora_down.weight': td([1, 2], [0, 1]),
    'lora_unet_q.lora_up.weight': td([2, 1], [1, 0]),
  };

  it('per output row (dora_scale [out, 1]): flags the module and gives the exact delta with the base', () => {
    const parsed = parseLoraTensors({ ...lora, 'lora_unet_q.dora_scale': td([2, 1], [2, 3]) });
    const { deltas, modules, report } = mapLoraToTargets(parsed, [lin('q', 2, 2)]);
    expect(modules).toEqual([]);
    expect(report.dora).toBe(1);
    expect(report.notes.join(' ')).toMatch(/DoRA/);
    const d = deltas[0];
    expect(d).toMatchObject({ type: 'dora', shape: [2, 2], dora: { axis: 'out' } });
    expect(Array.from(d.delta)).toEqual([0, 1, 0, 0]); // only dW without the base
    // W + dW = [[1, 1], [0, 2]], row norms sqrt2, 2 -> W' = [[sqrt2, sqrt2], [0, 3]]
    expectClose(doraExactDelta(W, d), [Math.SQRT2 - 1, Math.SQRT2, 0, 1]);
  });

  it('per input column (dora_scale [1, in], LyCORIS wd_on_out = False)', () => {
    const parsed = parseLoraTensors({ ...lora, 'lora_unet_q.dora_scale': td([1, 2], [2, 3]) });
    const d = mapLoraToTargets(parsed, [lin('q', 2, 2)]).deltas[0];
    expect(d.dora?.axis).toBe('in');
    // columns of W + dW: [1, 0] norm 1, [1, 2] norm sqrt5
    const s5 = Math.sqrt(5);
    expectClose(doraExactDelta(W, d), [2 - 1, 3 / s5 - 0, 0, (3 * 2) / s5 - 2]);
  });

  it('PEFT lora_magnitude_vector', () => {
    const parsed = parseLoraTensors({
      'base_model.model.q.lora_A.weight': td([1, 2], [0, 1]),
      'base_model.model.q.lora_B.weight': td([2, 1], [1, 0]),
      'base_model.model.q.lora_magnitude_vector': td([2], [2, 3]),
    });
    const d = mapLoraToTargets(parsed, [lin('q', 2, 2)]).deltas[0];
    expect(d.dora?.axis).toBe('out');
    expectClose(doraExactDelta(W, d), [Math.SQRT2 - 1, Math.SQRT2, 0, 1]);
  });
});
