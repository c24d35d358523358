/**
 * Discrete Fourier transforms of any length and the centred 2-D magnitude spectrum of an image.
 *
 * fft.js does the work but takes only power-of-two lengths. Images are not always that (SD 1.5 at
 * 512 x 768, SDXL at 832 x 1216), and padding or cropping would change the very spectrum being
 * measured, so other lengths go through Bluestein's algorithm: the exact DFT of length n written
 * as a convolution, computed with power-of-two transforms of length >= 2n - 1.
 */
import FFT from 'fft.js';

const isPowerOfTwo = (n: number): boolean => n >= 2 && (n & (n - 1)) === 0;

function nextPowerOfTwo(n: number): number {
  let p = 2;
  while (p < n) p *= 2;
  return p;
}

/** A prepared transform of one length, applied in place to interleaved complex data. */
interface Transform {
  /** `data` = [re0, im0, re1, im1, ...] of length 2n; replaced by its forward DFT */
  forward(data: Float64Array): void;
}

function radix2(n: number): Transform {
  const f = new FFT(n);
  const out = new Float64Array(2 * n);
  return {
    forward(data) {
      f.transform(out, data);
      data.set(out);
    },
  };
}

/**
 * Bluestein: with w_k = exp(-i pi k^2 / n), X_k = w_k * sum_j (x_j w_j) conj(w_{k-j}), a
 * convolution of a = x w with b = conj(w), done as a product of two length-m FFTs.
 */
function bluestein(n: number): Transform {
  const m = nextPowerOfTwo(2 * n - 1);
  const f = new FFT(m);
  // the chirp; k^2 mod 2n keeps the angle small, so large n loses no precision
  const wRe = new Float64Array(n);
  const wIm = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const angle = (Math.PI * ((k * k) % (2 * n))) / n;
    wRe[k] = Math.cos(angle);
    wIm[k] = -Math.sin(angle);
  }
  // FFT of b = conj(w), laid out circularly: b[k] and b[m - k] for k < n
  const b = new Float64Array(2 * m);
  for (let k = 0; k < n; k++) {
    b[2 * k] = wRe[k];
    b[2 * k + 1] = -wIm[k];
    if (k > 0) {
      b[2 * (m - k)] = wRe[k];
      b[2 * (m - k) + 1] = -wIm[k];
    }
  }
  const bHat = new Float64Array(2 * m);
  f.transform(bHat, b);
  const a = new Float64Array(2 * m);
  const aHat = new Float64Array(2 * m);
  const conv = new Float64Array(2 * m);
  return {
    forward(data) {
      a.fill(0);
      for (let k = 0; k < n; k++) {
        const re = data[2 * k];
        const im = data[2 * k + 1];
        a[2 * k] = re * wRe[k] - im * wIm[k];
        a[2 * k + 1] = re * wIm[k] + im * wRe[k];
      }
      f.transform(aHat, a);
      for (let k = 0; k < m; k++) {
        const re = aHat[2 * k] * bHat[2 * k] - aHat[2 * k + 1] * bHat[2 * k + 1];
        const im = aHat[2 * k] * bHat[2 * k + 1] + aHat[2 * k + 1] * bHat[2 * k];
        aHat[2 * k] = re;
        aHat[2 * k + 1] = im;
      }
      f.inverseTransform(conv, aHat);
      for (let k = 0; k < n; k++) {
        const re = conv[2 * k];
        const im = conv[2 * k + 1];
        data[2 * k] = re * wRe[k] - im * wIm[k];
        data[2 * k + 1] = re * wIm[k] + im * wRe[k];
      }
    },
  };
}

const identity: Transform = { forward: () => undefined };

function transformOf(n: number): Transform {
  if (n === 1) return identity;
  return isPowerOfTwo(n) ? radix2(n) : bluestein(n);
}

/** Forward DFT, X_k = sum_j x_j exp(-2 pi i j k / n), of interleaved complex data (length 2n). */
export function dft(data: Float64Array): Float64Array {
  if (data.length % 2 !== 0 || data.length === 0) throw new RangeError('dft: expected interleaved complex data of even, non-zero length');
  const out = Float64Array.from(data);
  transformOf(data.length / 2).forward(out);
  return out;
}

/** |F| of a real width x height image (row-major), rows then columns, unshifted: [ky * width + kx]. */
export function fftMagnitude(values: ArrayLike<number>, width: number, height: number): Float64Array {
  if (values.length !== width * height) throw new RangeError(`fftMagnitude: ${values.length} values for ${width} x ${height}`);
  const grid = new Float64Array(2 * width * height);
  for (let i = 0; i < width * height; i++) grid[2 * i] = values[i];
  const rows = transformOf(width);
  const row = new Float64Array(2 * width);
  for (let y = 0; y < height; y++) {
    row.set(grid.subarray(2 * y * width, 2 * (y + 1) * width));
    rows.forward(row);
    grid.set(row, 2 * y * width);
  }
  const cols = transformOf(height);
  const col = new Float64Array(2 * height);
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) {
      col[2 * y] = grid[2 * (y * width + x)];
      col[2 * y + 1] = grid[2 * (y * width + x) + 1];
    }
    cols.forward(col);
    for (let y = 0; y < height; y++) {
      grid[2 * (y * width + x)] = col[2 * y];
      grid[2 * (y * width + x) + 1] = col[2 * y + 1];
    }
  }
  const mag = new Float64Array(width * height);
  for (let i = 0; i < width * height; i++) mag[i] = Math.hypot(grid[2 * i], grid[2 * i + 1]);
  return mag;
}

/**
 * Moves frequency 0 to the centre (numpy's fftshift): bin k of an axis of length n goes to
 * (k + floor(n / 2)) mod n, so the zero frequency lands at (floor(width / 2), floor(height / 2)).
 */
export function fftShift(values: ArrayLike<number>, width: number, height: number): Float64Array {
  const out = new Float64Array(width * height);
  const dx = Math.floor(width / 2);
  const dy = Math.floor(height / 2);
  for (let y = 0; y < height; y++) {
    const ty = (y + dy) % height;
    for (let x = 0; x < width; x++) out[ty * width + ((x + dx) % width)] = values[y * width + x];
  }
  return out;
}
