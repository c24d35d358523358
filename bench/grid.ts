/** Image grids for the docs: rows of same-sized RGB images, a small white gap, 2x nearest-neighbour. */
import sharp from 'sharp';
import type { RgbImage } from './detectors/image';

export async function writeGrid(file: string, rows: RgbImage[][]): Promise<void> {
  const { width: w, height: h } = rows[0][0];
  const cols = Math.max(...rows.map((r) => r.length));
  const gap = 2;
  const W = cols * (w + gap) - gap;
  const H = rows.length * (h + gap) - gap;
  const out = new Uint8Array(W * H * 3).fill(255);
  rows.forEach((row, ry) => row.forEach((img, cx) => {
    for (let y = 0; y < h; y++) out.set(img.data.subarray(y * w * 3, (y + 1) * w * 3), ((ry * (h + gap) + y) * W + cx * (w + gap)) * 3);
  }));
  await sharp(out, { raw: { width: W, height: H, channels: 3 } }).resize(W * 2, H * 2, { kernel: 'nearest' }).png().toFile(file);
}
