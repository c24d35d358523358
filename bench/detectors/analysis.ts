/**
 * What every detector reads, computed once per image (docs/detectors.md, "How an image is
 * read"): the image on the 64 x 64 grid with its colour cast removed, its de-textured copy, the
 * colour class of every foreground pixel, the background colour of every row and the style
 * peaks. Cached by image object, so scoring one image for five concepts analyses it once.
 */
import { estimateCast, removeCast, rowColours } from './cast';
import { components, mergeNear, open, type Blob, type Mask } from './blobs';
import { classIndex, labDistance, nearestClass, NO_CLASS, rgbToLab, type ColourClass, type Lab } from './colour';
import { GRID, toGrid, type RgbImage } from './image';
import { stylePeaks, type StylePeaks } from './spectrum';
import { dotsEvidence, hatchingEvidence, strongest } from './styles';
import { medianRow, removeInk } from './texture';

export interface Analysis {
  grid: RgbImage;
  /** grid image with the style textures removed (see texture.ts) */
  clean: RgbImage;
  /** colour class index of each foreground pixel of `clean` (see colour.ts); NO_CLASS elsewhere */
  labels: Uint8Array;
  /** background colour of each row of `clean`, in Lab (see cast.rowColours) */
  rows: Lab[];
  /** style peaks at native resolution and, for other sizes, on the grid; the stronger of each */
  peaks: StylePeaks[];
  /** colourBlobs results, by their arguments (several detectors ask for the same class) */
  blobs: Map<string, Blob[]>;
}

/** A pixel this far (Lab) from its row's background colour is foreground. */
export const FOREGROUND_DISTANCE = 15;
/** Rows either side whose blend still counts as background (the meadow's horizon waves). */
const BLEND_ROWS = 4;

/**
 * Background: near its row's colour, or near a blend of the row colours a few rows above and
 * below (a gradient, or the wavy horizon where a row holds both sky and grass).
 */
function isBackground(px: Lab, rows: Lab[], y: number): boolean {
  if (labDistance(px, rows[y]) <= FOREGROUND_DISTANCE) return true;
  const above = rows[Math.max(0, y - BLEND_ROWS)];
  const below = rows[Math.min(rows.length - 1, y + BLEND_ROWS)];
  return segmentDistance(px, above, below) <= FOREGROUND_DISTANCE;
}

function segmentDistance(p: Lab, a: Lab, b: Lab): number {
  const d = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
  const len2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
  const t = len2 > 0 ? Math.min(1, Math.max(0, ((p[0] - a[0]) * d[0] + (p[1] - a[1]) * d[1] + (p[2] - a[2]) * d[2]) / len2)) : 0;
  return labDistance(p, [a[0] + t * d[0], a[1] + t * d[1], a[2] + t * d[2]]);
}

const cache = new WeakMap<RgbImage, Analysis>();

export function analyse(img: RgbImage): Analysis {
  const hit = cache.get(img);
  if (hit) return hit;
  const onGrid = toGrid(img);
  const grid = removeCast(onGrid, estimateCast(rowColours(onGrid)));
  const peaks = [stylePeaks(img)];
  if (onGrid !== img) peaks.push(stylePeaks(onGrid));
  const styled = [hatchingEvidence, dotsEvidence].some((e) => strongest(peaks, e).hit);
  const clean = styled ? removeInk(grid) : medianRow(grid);
  const n = GRID * GRID;
  const lab = new Float32Array(n * 3);
  for (let p = 0; p < n; p++) {
    const [L, a, b] = rgbToLab(clean.data[p * 3], clean.data[p * 3 + 1], clean.data[p * 3 + 2]);
    lab[p * 3] = L;
    lab[p * 3 + 1] = a;
    lab[p * 3 + 2] = b;
  }
  const rows = rowColours(clean).map((c) => rgbToLab(...c));
  const labels = new Uint8Array(n).fill(NO_CLASS);
  const known = new Map<number, number>();
  for (let p = 0; p < n; p++) {
    const px: Lab = [lab[p * 3], lab[p * 3 + 1], lab[p * 3 + 2]];
    if (isBackground(px, rows, Math.floor(p / GRID))) continue;
    const key = (clean.data[p * 3] << 16) | (clean.data[p * 3 + 1] << 8) | clean.data[p * 3 + 2];
    let cls = known.get(key);
    if (cls === undefined) known.set(key, (cls = nearestClass(px)));
    labels[p] = cls;
  }
  const out: Analysis = { grid, clean, labels, rows, peaks, blobs: new Map() };
  cache.set(img, out);
  return out;
}

/** Mask of one colour class with specks and blurred-edge slivers removed. */
export function colourMask(a: Analysis, cls: ColourClass, opened = true): Mask {
  const want = classIndex(cls);
  const m = { data: a.labels.map((l) => (l === want ? 1 : 0)), width: GRID, height: GRID };
  return opened ? open(m) : m;
}

/** Blobs of one colour class; parts within `gap` px of each other count as one object. */
export function colourBlobs(a: Analysis, cls: ColourClass, gap = 0, minArea = 6, opened = true): Blob[] {
  const key = `${cls} ${gap} ${minArea} ${opened}`;
  let blobs = a.blobs.get(key);
  if (!blobs) {
    blobs = components(colourMask(a, cls, opened), minArea);
    if (gap > 0) blobs = mergeNear(blobs, gap);
    a.blobs.set(key, blobs);
  }
  return blobs;
}

/** Count of pixels in a box (inclusive, clipped to the grid) whose class is one of `classes`. */
export function countClasses(a: Analysis, classes: readonly number[], x0: number, y0: number, x1: number, y1: number): number {
  let n = 0;
  for (let y = Math.max(0, Math.floor(y0)); y <= Math.min(GRID - 1, Math.floor(y1)); y++) {
    for (let x = Math.max(0, Math.floor(x0)); x <= Math.min(GRID - 1, Math.floor(x1)); x++) {
      if (classes.includes(a.labels[y * GRID + x])) n++;
    }
  }
  return n;
}
