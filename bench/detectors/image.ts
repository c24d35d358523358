/**
 * The image the detectors read, and the 64 x 64 grid they reason on.
 *
 * Every threshold in the detectors is written in glyph-world pixels (scenes are 64 x 64), so an
 * image of another size is first area-resampled to that grid: coordinates are normalised once
 * here instead of scaling every constant.
 */
import { ChordError } from '../../src/engine/errors';

/** A decoded RGB image: 3 bytes per pixel, row-major, no padding. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Side of a glyph-world scene; the detectors' coordinate system. */
export const GRID = 64;

export function assertRgb(img: RgbImage): void {
  if (img.width < 8 || img.height < 8 || img.data.length !== img.width * img.height * 3) {
    throw new ChordError(
      'BAD_ARGUMENT',
      `Detectors need an RGB image of at least 8x8 with width*height*3 bytes; got ${img.width}x${img.height} with ${img.data.length} bytes.`,
      'Decode with sharp(...).removeAlpha().raw() first.',
    );
  }
}

/**
 * Area-average resample to GRID x GRID (each output pixel averages the input rectangle it covers,
 * weighting partly covered input pixels by overlap). Returns the image itself when it is already
 * on the grid.
 */
export function toGrid(img: RgbImage): RgbImage {
  assertRgb(img);
  if (img.width === GRID && img.height === GRID) return img;
  const out = new Uint8Array(GRID * GRID * 3);
  const sx = img.width / GRID;
  const sy = img.height / GRID;
  const acc = new Float64Array(3);
  for (let oy = 0; oy < GRID; oy++) {
    const y0 = oy * sy;
    const y1 = y0 + sy;
    for (let ox = 0; ox < GRID; ox++) {
      const x0 = ox * sx;
      const x1 = x0 + sx;
      acc.fill(0);
      let wsum = 0;
      for (let y = Math.floor(y0); y < Math.min(Math.ceil(y1), img.height); y++) {
        const wy = Math.min(y + 1, y1) - Math.max(y, y0);
        for (let x = Math.floor(x0); x < Math.min(Math.ceil(x1), img.width); x++) {
          const w = wy * (Math.min(x + 1, x1) - Math.max(x, x0));
          const i = (y * img.width + x) * 3;
          acc[0] += w * img.data[i];
          acc[1] += w * img.data[i + 1];
          acc[2] += w * img.data[i + 2];
          wsum += w;
        }
      }
      const o = (oy * GRID + ox) * 3;
      for (let c = 0; c < 3; c++) out[o + c] = Math.round(acc[c] / wsum);
    }
  }
  return { data: out, width: GRID, height: GRID };
}
