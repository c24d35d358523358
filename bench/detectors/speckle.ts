/**
 * Background speckle: how much fine texture a sample carries where it should be flat. Measured on
 * neutral pixels only (every pixel of the 5x5 neighbourhood has channel spread <= 30, i.e. grey,
 * white or black background away from any coloured object), as the mean absolute difference of
 * each channel from its 3x3 mean. A flat or smoothly shaded background scores near 0; the faint
 * 6 px dot and hatching grids a decoder can hallucinate on grey raise it.
 */
import { assertRgb, type RgbImage } from './image';

const NEUTRAL_SPREAD = 30;

export interface SpeckleSum {
  /** sum of |pixel - 3x3 mean| over the neutral pixels' channels */
  total: number;
  /** how many channel values were summed */
  count: number;
}

export function backgroundSpeckle(img: RgbImage): SpeckleSum {
  assertRgb(img);
  const { data, width: w, height: h } = img;
  const neutral = (x: number, y: number): boolean => {
    const i = (y * w + x) * 3;
    return Math.max(data[i], data[i + 1], data[i + 2]) - Math.min(data[i], data[i + 1], data[i + 2]) <= NEUTRAL_SPREAD;
  };
  let total = 0;
  let count = 0;
  for (let y = 2; y < h - 2; y++) {
    for (let x = 2; x < w - 2; x++) {
      let flat = true;
      for (let dy = -2; dy <= 2 && flat; dy++) for (let dx = -2; dx <= 2 && flat; dx++) flat = neutral(x + dx, y + dy);
      if (!flat) continue;
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) sum += data[((y + dy) * w + x + dx) * 3 + c];
        total += Math.abs(data[(y * w + x) * 3 + c] - sum / 9);
        count++;
      }
    }
  }
  return { total, count };
}
