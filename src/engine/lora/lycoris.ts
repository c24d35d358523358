/**
 * Dense weight deltas of the LyCORIS algorithms that have no additive low-rank activation form,
 * computed as [out, in * kh * kw] matrices in PyTorch weight order (reshaped by the caller).
 *   LoHa:  dW = (w1a @ w1b) * (w2a @ w2b) * alpha / rank        (Hadamard product)
 *   LoKr:  dW = kron(w1, w2) * alpha / rank, w1 = w1a @ w1b or full, w2 likewise
 *   Tucker (hada_t*, lokr_t2, lora_mid): W[p, q, k, l] = sum_ij t[i, j, k, l] wa[i, p] wb[j, q]
 * with rank = the inner dim of the factorised matrix; a module without alpha, or a LoKr without a
 * factorised side, has scale 1 (LyCORIS saves such modules with alpha = rank).
 */
import { ChordError } from '../errors';

export interface TensorData {
  data: Float32Array;
  shape: number[];
}

/** A dense [rows, cols] matrix. */
export interface Matrix {
  rows: number;
  cols: number;
  data: Float32Array;
}

function bad(stem: string, what: string): ChordError {
  return new ChordError('LORA_INVALID', `LoRA module ${stem} is malformed: ${what}.`, 'The file is damaged or uses a layout Chord does not know.');
}

const dims = (t: TensorData): string => `[${t.shape.join(', ')}]`;

/** View a tensor as [shape[0], rest] (PyTorch's reshape(shape[0], -1)). */
export function asMatrix(t: TensorData, stem: string, label: string): Matrix {
  if (t.shape.length < 1) throw bad(stem, `${label} is a scalar`);
  const rows = t.shape[0];
  const cols = rows === 0 ? 0 : t.data.length / rows;
  if (!Number.isInteger(cols)) throw bad(stem, `${label} ${dims(t)} has a wrong element count`);
  return { rows, cols, data: t.data };
}

/** a [m, k] @ b [k, n] */
export function matmul(a: Matrix, b: Matrix, stem = '?'): Matrix {
  if (a.cols !== b.rows) throw bad(stem, `cannot multiply [${a.rows}, ${a.cols}] by [${b.rows}, ${b.cols}]`);
  const { rows: m, cols: k } = a;
  const n = b.cols;
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    const row = i * n;
    for (let p = 0; p < k; p++) {
      const aip = a.data[i * k + p];
      if (aip === 0) continue;
      const brow = p * n;
      for (let j = 0; j < n; j++) out[row + j] += aip * b.data[brow + j];
    }
  }
  return { rows: m, cols: n, data: out };
}

/** Kronecker product: out[i * p + k, j * q + l] = a[i, j] * b[k, l]. */
export function kron(a: Matrix, b: Matrix): Matrix {
  const rows = a.rows * b.rows;
  const cols = a.cols * b.cols;
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < a.rows; i++) {
    for (let j = 0; j < a.cols; j++) {
      const aij = a.data[i * a.cols + j];
      for (let k = 0; k < b.rows; k++) {
        const outRow = (i * b.rows + k) * cols + j * b.cols;
        const bRow = k * b.cols;
        for (let l = 0; l < b.cols; l++) out[outRow + l] = aij * b.data[bRow + l];
      }
    }
  }
  return { rows, cols, data: out };
}

/**
 * Tucker rebuild: t [i, j, ...k], wa [i, p], wb [j, q] -> [p, q, ...k] (returned flattened as
 * [p, q * prod(k)]): W[p, q, s] = sum_ij t[i, j, s] * wa[i, p] * wb[j, q].
 */
export function rebuildTucker(t: TensorData, wa: TensorData, wb: TensorData, stem: string): { matrix: Matrix; kernel: number[] } {
  if (t.shape.length < 2) throw bad(stem, `Tucker core ${dims(t)} must have at least 2 dims`);
  const [ri, rj] = t.shape;
  const kernel = t.shape.slice(2);
  const s = kernel.reduce((x, y) => x * y, 1);
  const A = asMatrix(wa, stem, 'Tucker factor a');
  const B = asMatrix(wb, stem, 'Tucker factor b');
  if (A.rows !== ri || B.rows !== rj) throw bad(stem, `Tucker core ${dims(t)} does not fit factors ${dims(wa)} and ${dims(wb)}`);
  const p = A.cols;
  const q = B.cols;
  // temp[i, q, s] = sum_j t[i, j, s] * wb[j, q]
  const temp = new Float32Array(ri * q * s);
  for (let i = 0; i < ri; i++) {
    for (let j = 0; j < rj; j++) {
      for (let qq = 0; qq < q; qq++) {
        const w = B.data[j * q + qq];
        if (w === 0) continue;
        const tOff = (i * rj + j) * s;
        const oOff = (i * q + qq) * s;
        for (let x = 0; x < s; x++) temp[oOff + x] += t.data[tOff + x] * w;
      }
    }
  }
  // out[p, q, s] = sum_i wa[i, p] * temp[i, q, s]
  const out = new Float32Array(p * q * s);
  for (let i = 0; i < ri; i++) {
    for (let pp = 0; pp < p; pp++) {
      const w = A.data[i * p + pp];
      if (w === 0) continue;
      const oOff = pp * q * s;
      const tOff = i * q * s;
      for (let x = 0; x < q * s; x++) out[oOff + x] += w * temp[tOff + x];
    }
  }
  return { matrix: { rows: p, cols: q * s, data: out }, kernel };
}

/**
 * LoCon with a Tucker middle (`lora_mid`): down [r1, in, 1, 1], mid [r2, r1, kh, kw] fold into one
 * conv down [r2, in, kh, kw]: a 1x1 conv followed by a kxk conv (no bias) is one kxk conv.
 */
export function foldLoraMid(down: TensorData, mid: TensorData, stem: string): TensorData {
  const D = asMatrix(down, stem, 'lora_down');
  if (mid.shape.length !== 4 || mid.shape[1] !== D.rows) throw bad(stem, `lora_mid ${dims(mid)} does not fit lora_down ${dims(down)}`);
  if (down.shape.length === 4 && (down.shape[2] !== 1 || down.shape[3] !== 1)) throw bad(stem, `lora_down ${dims(down)} with lora_mid must be 1x1`);
  const [r2, r1, kh, kw] = mid.shape;
  const s = kh * kw;
  const inC = D.cols;
  const out = new Float32Array(r2 * inC * s);
  // out[n, j, s] = sum_m mid[n, m, s] * down[m, j]
  for (let n = 0; n < r2; n++) {
    for (let m = 0; m < r1; m++) {
      for (let j = 0; j < inC; j++) {
        const d = D.data[m * inC + j];
        if (d === 0) continue;
        const mOff = (n * r1 + m) * s;
        const oOff = (n * inC + j) * s;
        for (let x = 0; x < s; x++) out[oOff + x] += mid.data[mOff + x] * d;
      }
    }
  }
  return { data: out, shape: [r2, inC, kh, kw] };
}

function scaled(m: Matrix, scale: number): Matrix {
  if (scale !== 1) for (let i = 0; i < m.data.length; i++) m.data[i] *= scale;
  return m;
}

export interface LohaWeights {
  w1a: TensorData;
  w1b: TensorData;
  w2a: TensorData;
  w2b: TensorData;
  t1?: TensorData;
  t2?: TensorData;
}

/** LoHa: dW [out, in*k] = (W1 * W2) * alpha / rank, rank = hada_w1_b.shape[0]. */
export function lohaDelta(w: LohaWeights, alpha: number | undefined, stem: string): Matrix {
  const side = (a: TensorData, b: TensorData, t: TensorData | undefined, n: number): Matrix =>
    t ? rebuildTucker(t, a, b, stem).matrix : matmul(asMatrix(a, stem, `hada_w${n}_a`), asMatrix(b, stem, `hada_w${n}_b`), stem);
  const w1 = side(w.w1a, w.w1b, w.t1, 1);
  const w2 = side(w.w2a, w.w2b, w.t2, 2);
  if (w1.rows !== w2.rows || w1.cols !== w2.cols) {
    throw bad(stem, `hada_w1 gives [${w1.rows}, ${w1.cols}] but hada_w2 gives [${w2.rows}, ${w2.cols}]`);
  }
  for (let i = 0; i < w1.data.length; i++) w1.data[i] *= w2.data[i];
  const rank = w.w1b.shape[0];
  return scaled(w1, alpha !== undefined && rank > 0 ? alpha / rank : 1);
}

export interface LokrWeights {
  w1?: TensorData;
  w1a?: TensorData;
  w1b?: TensorData;
  w2?: TensorData;
  w2a?: TensorData;
  w2b?: TensorData;
  t2?: TensorData;
}

/** LoKr: dW [out, in*k] = kron(W1, W2) * alpha / rank (rank from the factorised side, else scale 1). */
export function lokrDelta(w: LokrWeights, alpha: number | undefined, stem: string): Matrix {
  let rank: number | undefined;
  let w1: Matrix;
  if (w.w1) w1 = asMatrix(w.w1, stem, 'lokr_w1');
  else if (w.w1a && w.w1b) {
    w1 = matmul(asMatrix(w.w1a, stem, 'lokr_w1_a'), asMatrix(w.w1b, stem, 'lokr_w1_b'), stem);
    rank = w.w1b.shape[0];
  } else throw bad(stem, 'LoKr needs lokr_w1 or lokr_w1_a + lokr_w1_b');
  let w2: Matrix;
  if (w.w2) w2 = asMatrix(w.w2, stem, 'lokr_w2');
  else if (w.w2a && w.w2b) {
    w2 = w.t2 ? rebuildTucker(w.t2, w.w2a, w.w2b, stem).matrix : matmul(asMatrix(w.w2a, stem, 'lokr_w2_a'), asMatrix(w.w2b, stem, 'lokr_w2_b'), stem);
    rank = w.w2b.shape[0];
  } else throw bad(stem, 'LoKr needs lokr_w2 or lokr_w2_a + lokr_w2_b');
  if (w.w1 && w.w1.shape.length !== 2) throw bad(stem, `lokr_w1 ${dims(w.w1)} must be 2-D`);
  // kron over the flattened w2 equals kron over [c, d, kh, kw] followed by the same flattening
  return scaled(kron(w1, w2), alpha !== undefined && rank !== undefined && rank > 0 ? alpha / rank : 1);
}

/** Plain LoRA as a dense matrix: scale * up [out, r] @ down [r, in*k] (for DoRA, which needs dW). */
export function loraDense(up: TensorData, down: TensorData, scale: number, stem: string): Matrix {
  return scaled(matmul(asMatrix(up, stem, 'lora_up'), asMatrix(down, stem, 'lora_down'), stem), scale);
}
