/**
 * Removing the two style textures before colour analysis. world.apply_style mixes 2-px
 * diagonal stripes (hatching) or 2 x 2 dots (halftone), both every 6 px, 70% towards an ink:
 * black on colours lighter than 40% luminance, near-white on darker ones.
 */
import { rgbToLab } from './colour';
import type { RgbImage } from './image';

/**
 * Per-channel median over 5 horizontal neighbours. Either texture covers at most 2 of any 5
 * consecutive pixels of a row, so a crisp texture disappears, while horizontal parts (scarf
 * band, hat brim) and anything 3 px wide keep their shape. Used on images without a style (it
 * removes faint texture-like noise) and as the smooth part for the style spectra.
 */
export function medianRow(img: RgbImage): RgbImage {
  const { width: w, height: h, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const row = y * w;
      const p0 = (row + Math.max(0, x - 2)) * 3;
      const p1 = (row + Math.max(0, x - 1)) * 3;
      const p2 = (row + x) * 3;
      const p3 = (row + Math.min(w - 1, x + 1)) * 3;
      const p4 = (row + Math.min(w - 1, x + 2)) * 3;
      for (let c = 0; c < 3; c++) {
        out[p2 + c] = median5(data[p0 + c], data[p1 + c], data[p2 + c], data[p3 + c], data[p4 + c]);
      }
    }
  }
  return { data: out, width: w, height: h };
}

/**
 * Median of five values without sorting. The smallest of four values has three above it, so it
 * cannot be the median of five: drop it and bring in the fifth. Of the four left, drop the
 * smallest again; the median is then the smaller of what remains above the two pair minima.
 */
function median5(a: number, b: number, c: number, d: number, e: number): number {
  if (a > b) [a, b] = [b, a];
  if (c > d) [c, d] = [d, c];
  if (a > c) {
    [a, c] = [c, a];
    [b, d] = [d, b];
  }
  a = e;
  if (a > b) [a, b] = [b, a];
  if (a > c) {
    [a, c] = [c, a];
    [b, d] = [d, b];
  }
  return Math.min(b, c);
}

/**
 * Undoes the ink of a detected style. A blurred texture is nearly a sinusoid, whose median is
 * close to its mean (20-30% towards the ink: enough to turn orange into the hat's brown). Both
 * inks keep a colour's hue and only take away chroma (black ink scales the colour down, light
 * ink mixes it with grey), so the untouched colour of a pixel is the most chromatic of its 5
 * horizontal neighbours that share its hue. Near-grey pixels (backgrounds, eyes) have no hue to
 * go by and take the plain median.
 */
export function removeInk(img: RgbImage): RgbImage {
  const { width: w, height: h, data } = img;
  const out = medianRow(img);
  const n = w * h;
  const hue = new Float32Array(n);
  const chroma = new Float32Array(n);
  for (let p = 0; p < n; p++) {
    const [, a, b] = rgbToLab(data[p * 3], data[p * 3 + 1], data[p * 3 + 2]);
    hue[p] = Math.atan2(b, a);
    chroma[p] = Math.hypot(a, b);
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      if (chroma[p] < MIN_CHROMA) continue;
      let bestP = p;
      for (let k = -2; k <= 2; k++) {
        const q = y * w + Math.min(w - 1, Math.max(0, x + k));
        if (chroma[q] > chroma[bestP] && hueGap(hue[q], hue[p]) <= MAX_HUE_GAP) bestP = q;
      }
      out.data[p * 3] = data[bestP * 3];
      out.data[p * 3 + 1] = data[bestP * 3 + 1];
      out.data[p * 3 + 2] = data[bestP * 3 + 2];
    }
  }
  return out;
}

/** Below this Lab chroma a pixel counts as grey. */
const MIN_CHROMA = 12;
/** Neighbours within this hue angle (radians, 25 degrees) count as the same colour. */
const MAX_HUE_GAP = (25 * Math.PI) / 180;

function hueGap(a: number, b: number): number {
  const d = Math.abs(a - b) % (2 * Math.PI);
  return d > Math.PI ? 2 * Math.PI - d : d;
}
