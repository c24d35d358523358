/**
 * Colour constancy from the known backgrounds. A generated image is often shifted in colour as a
 * whole (a few tens of levels per channel), which is enough to move a concept's colour towards
 * its neighbour in the palette. Every glyph-world background is known (a grey, the sunset
 * gradient, the meadow's sky over grass), so the shift is measured on the background rows and
 * taken out of the whole image before the colours are read.
 */
import { sunsetAt, WORLD_COLOURS, type Rgb } from './colour';
import type { RgbImage } from './image';

/** Casts larger than this (per channel) are not corrected: the background is something else. */
const MAX_CAST = 45;
/** Mean per-channel misfit (after the cast is removed) above which a model does not apply. */
const MAX_MISFIT = 12;

type RowModel = (y: number, h: number, row: Rgb) => Rgb | null;

const MODELS: Record<string, RowModel> = {
  // a grey of any level: the row's own mean in every channel
  grey: (_y, _h, row) => {
    const m = (row[0] + row[1] + row[2]) / 3;
    return [m, m, m];
  },
  sunset: (y, h) => sunsetAt(y / (h - 1)),
  // skip the rows around the wavy horizon
  meadow: (y, h) => {
    const t = y / (h - 1);
    return t < 0.45 ? WORLD_COLOURS.sky : t > 0.72 ? WORLD_COLOURS.grass : null;
  },
};

function median(v: number[]): number {
  const s = v.slice().sort((a, b) => a - b);
  return s[s.length >> 1];
}

/**
 * The background colour of each row (RGB), read at the image's left and right edges (3 px each)
 * and taken as the median over 7 rows: shapes and characters stay off the edges (two shapes
 * can cover most of a row, so a whole-row median would be a shape's colour), and the few things
 * that reach an edge (a scarf end, a corner prop) cover too few of those 42 samples to matter.
 */
export function rowColours(img: RgbImage): Rgb[] {
  const { width: w, height: h, data } = img;
  const edge = [0, 1, 2, w - 3, w - 2, w - 1];
  const out: Rgb[] = [];
  for (let y = 0; y < h; y++) {
    const c: number[] = [];
    for (let ch = 0; ch < 3; ch++) {
      const v: number[] = [];
      for (let yy = Math.max(0, y - 3); yy <= Math.min(h - 1, y + 3); yy++) {
        for (const x of edge) v.push(data[(yy * w + x) * 3 + ch]);
      }
      c.push(median(v));
    }
    out.push([c[0], c[1], c[2]]);
  }
  return out;
}

/** The per-channel shift that best explains the rows as one known background, or zero. */
export function estimateCast(rows: Rgb[]): Rgb {
  let best: { cast: Rgb; misfit: number } = { cast: [0, 0, 0], misfit: Infinity };
  for (const model of Object.values(MODELS)) {
    const diffs: number[][] = [[], [], []];
    rows.forEach((row, y) => {
      const m = model(y, rows.length, row);
      if (m) for (let c = 0; c < 3; c++) diffs[c].push(row[c] - m[c]);
    });
    const cast = diffs.map(median) as unknown as Rgb;
    let misfit = 0;
    for (let c = 0; c < 3; c++) misfit += diffs[c].reduce((s, d) => s + Math.abs(d - cast[c]), 0) / diffs[c].length;
    misfit /= 3;
    if (misfit < best.misfit) best = { cast, misfit };
  }
  if (best.misfit > MAX_MISFIT || best.cast.some((c) => Math.abs(c) > MAX_CAST)) return [0, 0, 0];
  return best.cast;
}

export function removeCast(img: RgbImage, cast: Rgb): RgbImage {
  if (cast.every((c) => c === 0)) return img;
  const data = new Uint8Array(img.data.length);
  for (let i = 0; i < data.length; i++) data[i] = Math.min(255, Math.max(0, Math.round(img.data[i] - cast[i % 3])));
  return { data, width: img.width, height: img.height };
}
