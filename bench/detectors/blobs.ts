/**
 * Binary masks and their blobs: 3 x 3 morphology, connected components and the shape measures
 * the detectors test (area, bounding box, fill ratio, centroid, holes).
 */

export interface Mask {
  data: Uint8Array; // 0 / 1 per pixel
  width: number;
  height: number;
}

export interface Blob {
  area: number;
  x0: number; // bounding box, inclusive
  y0: number;
  x1: number;
  y1: number;
  cx: number; // centroid
  cy: number;
  pixels: Int32Array; // indices y * width + x
}

export const boxWidth = (b: Blob): number => b.x1 - b.x0 + 1;
export const boxHeight = (b: Blob): number => b.y1 - b.y0 + 1;
/** Area over bounding-box area: 1 for a square, pi/4 for a disk, 1/2 for a triangle. */
export const fillRatio = (b: Blob): number => b.area / (boxWidth(b) * boxHeight(b));

function morph(m: Mask, grow: boolean): Mask {
  const { width: w, height: h, data } = m;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let v = grow ? 0 : 1;
      for (let dy = -1; dy <= 1 && v === (grow ? 0 : 1); dy++) {
        const yy = y + dy;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          // outside the image counts as background for growing and as foreground for shrinking,
          // so blobs touching the border are not eaten by it
          const inside = yy >= 0 && yy < h && xx >= 0 && xx < w;
          const s = inside ? data[yy * w + xx] : grow ? 0 : 1;
          if (grow ? s === 1 : s === 0) {
            v = grow ? 1 : 0;
            break;
          }
        }
      }
      out[y * w + x] = v;
    }
  }
  return { data: out, width: w, height: h };
}

export const dilate = (m: Mask): Mask => morph(m, true);
export const erode = (m: Mask): Mask => morph(m, false);
/** Removes specks and 1-2 px slivers (blurred edges classed as another colour). */
export const open = (m: Mask): Mask => dilate(erode(m));
/** Fills 1-2 px gaps (texture left over inside a blob). */
export const close = (m: Mask): Mask => erode(dilate(m));

/** 8-connected components, largest first. */
export function components(m: Mask, minArea = 1): Blob[] {
  const { width: w, height: h, data } = m;
  const seen = new Uint8Array(data.length);
  const stack = new Int32Array(data.length);
  const blobs: Blob[] = [];
  for (let start = 0; start < data.length; start++) {
    if (!data[start] || seen[start]) continue;
    let top = 0;
    stack[top++] = start;
    seen[start] = 1;
    const pixels: number[] = [];
    let x0 = w;
    let y0 = h;
    let x1 = -1;
    let y1 = -1;
    let sx = 0;
    let sy = 0;
    while (top > 0) {
      const p = stack[--top];
      pixels.push(p);
      const x = p % w;
      const y = (p - x) / w;
      sx += x;
      sy += y;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= h) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= w) continue;
          const q = yy * w + xx;
          if (data[q] && !seen[q]) {
            seen[q] = 1;
            stack[top++] = q;
          }
        }
      }
    }
    if (pixels.length >= minArea) {
      const area = pixels.length;
      blobs.push({ area, x0, y0, x1, y1, cx: sx / area, cy: sy / area, pixels: Int32Array.from(pixels) });
    }
  }
  return blobs.sort((a, b) => b.area - a.area);
}

/** Blobs whose boxes lie within `gap` px of each other, merged (a scarf can cut a body in two). */
export function mergeNear(blobs: Blob[], gap: number): Blob[] {
  const groups = blobs.map((b) => [b]);
  const near = (a: Blob, b: Blob): boolean =>
    a.x0 - b.x1 <= gap && b.x0 - a.x1 <= gap && a.y0 - b.y1 <= gap && b.y0 - a.y1 <= gap;
  let merged = true;
  while (merged) {
    merged = false;
    outer: for (let i = 0; i < groups.length; i++) {
      for (let j = i + 1; j < groups.length; j++) {
        if (groups[i].some((a) => groups[j].some((b) => near(a, b)))) {
          groups[i] = groups[i].concat(groups[j]);
          groups.splice(j, 1);
          merged = true;
          break outer;
        }
      }
    }
  }
  return groups.map(union).sort((a, b) => b.area - a.area);
}

export function union(blobs: Blob[]): Blob {
  let area = 0;
  let sx = 0;
  let sy = 0;
  const pixels = new Int32Array(blobs.reduce((n, b) => n + b.area, 0));
  let k = 0;
  for (const b of blobs) {
    area += b.area;
    sx += b.cx * b.area;
    sy += b.cy * b.area;
    pixels.set(b.pixels, k);
    k += b.area;
  }
  return {
    area,
    x0: Math.min(...blobs.map((b) => b.x0)),
    y0: Math.min(...blobs.map((b) => b.y0)),
    x1: Math.max(...blobs.map((b) => b.x1)),
    y1: Math.max(...blobs.map((b) => b.y1)),
    cx: sx / area,
    cy: sy / area,
    pixels,
  };
}

/**
 * The blob with its holes filled: pixels of its bounding box that cannot reach the box border
 * through non-blob pixels (4-connected). Returned as a mask over the whole image.
 */
export function filled(b: Blob, width: number, height: number): Mask {
  const data = new Uint8Array(width * height);
  for (const p of b.pixels) data[p] = 1;
  const bw = boxWidth(b);
  const bh = boxHeight(b);
  const outside = new Uint8Array(bw * bh);
  const stack: number[] = [];
  const seed = (x: number, y: number): void => {
    const i = (y - b.y0) * bw + (x - b.x0);
    if (!outside[i] && !data[y * width + x]) {
      outside[i] = 1;
      stack.push(i);
    }
  };
  for (let x = b.x0; x <= b.x1; x++) {
    seed(x, b.y0);
    seed(x, b.y1);
  }
  for (let y = b.y0; y <= b.y1; y++) {
    seed(b.x0, y);
    seed(b.x1, y);
  }
  while (stack.length) {
    const i = stack.pop() as number;
    const x = (i % bw) + b.x0;
    const y = Math.floor(i / bw) + b.y0;
    if (x > b.x0) seed(x - 1, y);
    if (x < b.x1) seed(x + 1, y);
    if (y > b.y0) seed(x, y - 1);
    if (y < b.y1) seed(x, y + 1);
  }
  for (let y = b.y0; y <= b.y1; y++) {
    for (let x = b.x0; x <= b.x1; x++) {
      if (!outside[(y - b.y0) * bw + (x - b.x0)]) data[y * width + x] = 1;
    }
  }
  return { data, width, height };
}
