/**
 * One detector per glyph-world concept. All thresholds are in 64 x 64 grid pixels and Lab units
 * and were set on the calibration set (docs/detectors.md): clean renders and degraded ones.
 */
import { analyse, colourBlobs, colourMask, countClasses, type Analysis } from './analysis';
import { boxHeight, boxWidth, filled, type Blob } from './blobs';
import { classIndex, labDistance, rgbToLab, sunsetAt, WORLD_COLOURS, type ColourClass, type Lab } from './colour';
import { atLeast, atMost, best, decide, MISS, within, type Detection } from './evidence';
import { GRID, type RgbImage } from './image';
import { dotsEvidence, hatchingEvidence, strongest } from './styles';
import type { CharacterName, ConceptName } from './world';

export type Detector = (img: RgbImage) => Detection;

/** Things that wear clothing: the characters and the base shapes. */
const WEARERS = (['zorb', 'quill', 'mippet', 'red', 'green', 'blue', 'yellow'] as const).map((c) => classIndex(c));

function areaOf(m: { data: Uint8Array }): number {
  let n = 0;
  for (const v of m.data) n += v;
  return n;
}

// ---------------------------------------------------------------- characters

/**
 * A body-coloured blob of a character's size with eyes inside its silhouette (body plus any
 * clothing on it). Parts within 6 px merge: a scarf or a row of eyes can cut a body in two.
 */
function character(name: CharacterName): Detector {
  return (img) => best(characterCandidates(name, img).map((c) => c.detection));
}

/** A body blob the character detector weighed: its decision and where it is (64 x 64 grid). */
export interface CharacterCandidate {
  detection: Detection;
  /** centroid of the body blob */
  cx: number;
  cy: number;
  box: { x0: number; y0: number; x1: number; y1: number };
}

/**
 * Every body blob of a character with the detector's decision on it: the detector is the best of
 * these, so a candidate with `hit` is a detection, located (the regional bench scores placement).
 */
export function characterCandidates(name: CharacterName, img: RgbImage): CharacterCandidate[] {
  const wornClasses = [classIndex(name), classIndex('hat'), classIndex('scarf')];
  const a = analyse(img);
  return colourBlobs(a, name, 6).map((b) => {
    const s = silhouette(a, b, wornClasses);
    const detection = decide({
      area: within(b.area, 60, 760),
      width: within(s.width, 12, 38),
      height: within(s.height, 12, 40),
      fill: atLeast(s.solid / (s.width * s.height), 0.35),
      eyes: atLeast(s.eyes, 2),
    });
    return { detection, cx: b.cx, cy: b.cy, box: { x0: b.x0, y0: b.y0, x1: b.x1, y1: b.y1 } };
  });
}

/**
 * The silhouette of a body blob, on which its size is measured (clothing can hide part of a
 * body): pixels of the body or clothing classes, or of the body's colour in the image before
 * de-texturing (which smears the thin slivers of body between an eye and the edge). A pixel is
 * inside when the silhouette surrounds it along its row and along its column. Eye whites are
 * inside pixels clearly lighter and greyer than the body: blurred eyes are barely lighter than a
 * light body but much greyer, while hatching stripes are darker.
 */
function silhouette(
  a: Analysis,
  b: Blob,
  classes: number[],
): { solid: number; eyes: number; width: number; height: number } {
  const x0 = Math.max(0, b.x0 - 2);
  const y0 = Math.max(0, b.y0 - 2);
  const x1 = Math.min(GRID - 1, b.x1 + 2);
  const y1 = Math.min(GRID - 1, b.y1 + 2);
  const w = x1 - x0 + 1;
  const h = y1 - y0 + 1;
  // Lab of the box before de-texturing; the body's colour is read there too, so that under a
  // style the eyes are compared with the inked body around them
  const raw = new Float32Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = (y + y0) * GRID + x + x0;
      raw.set(rgbToLab(a.grid.data[p * 3], a.grid.data[p * 3 + 1], a.grid.data[p * 3 + 2]), (y * w + x) * 3);
    }
  }
  const at = (p: number, c: number): number => raw[((Math.floor(p / GRID) - y0) * w + (p % GRID) - x0) * 3 + c];
  const bodyL = median(Array.from(b.pixels, (p) => at(p, 0)));
  const bodyA = median(Array.from(b.pixels, (p) => at(p, 1)));
  const bodyB = median(Array.from(b.pixels, (p) => at(p, 2)));
  const bodyC = Math.hypot(bodyA, bodyB);
  const inS = new Uint8Array(w * h);
  const rowMin = new Int32Array(h).fill(w);
  const rowMax = new Int32Array(h).fill(-1);
  const colMin = new Int32Array(w).fill(h);
  const colMax = new Int32Array(w).fill(-1);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = (y + y0) * GRID + x + x0;
      const i = (y * w + x) * 3;
      const lab = [raw[i], raw[i + 1], raw[i + 2]];
      const bodyLike = Math.hypot(lab[0] - bodyL, lab[1] - bodyA, lab[2] - bodyB) <= 18;
      if (!bodyLike && !classes.includes(a.labels[p])) continue;
      inS[y * w + x] = 1;
      rowMin[y] = Math.min(rowMin[y], x);
      rowMax[y] = Math.max(rowMax[y], x);
      colMin[x] = Math.min(colMin[x], y);
      colMax[x] = Math.max(colMax[x], y);
    }
  }
  const xs = rowMin.filter((_, y) => rowMax[y] >= 0);
  const width = Math.max(...rowMax) - Math.min(...xs) + 1;
  const ys = colMin.filter((_, x) => colMax[x] >= 0);
  const height = Math.max(...colMax) - Math.min(...ys) + 1;
  let solid = 0;
  let eyes = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inside = x > rowMin[y] && x < rowMax[y] && y > colMin[x] && y < colMax[x];
      if (inS[y * w + x] || inside) solid++;
      if (!inside) continue;
      const i = (y * w + x) * 3;
      const whiteness = raw[i] - bodyL + EYE_GREY_WEIGHT * (bodyC - Math.hypot(raw[i + 1], raw[i + 2]));
      if (whiteness >= EYE_WHITENESS) eyes++;
    }
  }
  return { solid, eyes, width, height };
}

/** Eye whites: (L - body L) + 0.5 (body chroma - chroma) at least 10 (Lab units). */
const EYE_GREY_WEIGHT = 0.5;
const EYE_WHITENESS = 10;

function median(v: number[]): number {
  const s = v.slice().sort((p, q) => p - q);
  return s[s.length >> 1];
}

// ---------------------------------------------------------------- clothing

/** A brown blob of a top hat's size with something wearing it right below and nothing above. */
const hat: Detector = (img) => {
  const a = analyse(img);
  return best(
    colourBlobs(a, 'hat', 2).map((b) => {
      const below = countClasses(a, WEARERS, b.x0, b.y1 + 1, b.x1, b.y1 + 8);
      const above = countClasses(a, WEARERS, b.x0, b.y0 - 5, b.x1, b.y0 - 1);
      return decide({
        area: within(b.area, 40, 320),
        width: within(boxWidth(b), 8, 28),
        height: within(boxHeight(b), 5, 20),
        fill: atLeast(b.area / (boxWidth(b) * boxHeight(b)), 0.45),
        wearerBelow: atLeast(below, 8),
        clearAbove: atMost(above + 1, 6),
      });
    }),
  );
};

/**
 * A pink band: at least two rows with a long pink run, with a wearer right above it. Read on the
 * unopened mask: blur leaves a 4 px band only 2 solid rows, which an opening would erase; the
 * band and wearer tests already reject blurred rims of other colours.
 */
const scarf: Detector = (img) => {
  const a = analyse(img);
  const mask = colourMask(a, 'scarf', false);
  return best(
    colourBlobs(a, 'scarf', 2, 12, false).map((b) => {
      let longRows = 0;
      for (let y = b.y0; y <= b.y1; y++) {
        let run = 0;
        for (let x = b.x0; x <= b.x1; x++) run += mask.data[y * GRID + x];
        if (run >= 10) longRows++;
      }
      const above = countClasses(a, WEARERS, b.x0, b.y0 - 6, b.x1, b.y0 - 1);
      return decide({
        area: within(b.area, 30, 280),
        width: within(boxWidth(b), 12, 38),
        height: within(boxHeight(b), 3, 16),
        bandRows: atLeast(longRows, 2),
        wearerAbove: atLeast(above, 6),
      });
    }),
  );
};

// ---------------------------------------------------------------- objects

/** A compact blob of a prop's size whose centre lies in the expected corner. */
function prop(cls: ColourClass, fill: number, corner: (b: Blob) => Record<string, number>): Detector {
  return (img) => {
    const a = analyse(img);
    return best(
      colourBlobs(a, cls, 1).map((b) => {
        const solid = areaOf(filled(b, GRID, GRID));
        return decide({
          area: within(solid, 35, 230),
          width: within(boxWidth(b), 7, 18),
          height: within(boxHeight(b), 7, 18),
          aspect: within(boxWidth(b) / boxHeight(b), 0.6, 1.6),
          fill: atLeast(solid / (boxWidth(b) * boxHeight(b)), fill),
          ...corner(b),
        });
      }),
    );
  };
}

/** Blue ball in the lower-right corner (drawn at 53, 53); base shapes never sit that low. */
const ball = prop('blue', 0.55, (b) => ({ right: atLeast(b.cx, 38), low: atLeast(b.cy, 38) }));
/** Red cube in the lower-left corner (drawn at 6..16, 46..56). */
const cube = prop('red', 0.6, (b) => ({ left: atMost(b.cx, 26), low: atLeast(b.cy, 38) }));

// ---------------------------------------------------------------- styles

const hatching: Detector = (img) => strongest(analyse(img).peaks, hatchingEvidence);
const dots: Detector = (img) => strongest(analyse(img).peaks, dotsEvidence);

// ---------------------------------------------------------------- backgrounds

const SUNSET_SAMPLES: Lab[] = Array.from({ length: 33 }, (_, i) => rgbToLab(...sunsetAt(i / 32)));

function pearson(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((s, v) => s + v, 0) / n;
  const my = ys.reduce((s, v) => s + v, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
    syy += (ys[i] - my) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0;
}

/**
 * Sunset: the rows' background colours lie on the red-to-gold gradient and run down it from
 * top to bottom. Works on the background rows (analysis.ts), so what stands in front does not
 * matter.
 */
const sunset: Detector = (img) => {
  const { rows } = analyse(img);
  const ts: number[] = [];
  const ys: number[] = [];
  let near = 0;
  rows.forEach((lab, y) => {
    let bestD = Infinity;
    let bestT = 0;
    SUNSET_SAMPLES.forEach((s, i) => {
      const d = labDistance(lab, s);
      if (d < bestD) {
        bestD = d;
        bestT = i / 32;
      }
    });
    if (bestD <= 20) {
      near++;
      ts.push(bestT);
      ys.push(y);
    }
  });
  if (ts.length < 8) return MISS;
  const span = quantile(ts, 0.9) - quantile(ts, 0.1);
  return decide({
    onGradient: atLeast(near / rows.length, 0.7),
    topToBottom: atLeast(pearson(ys, ts), 0.8),
    span: atLeast(span, 0.4),
  });
};

function quantile(v: number[], q: number): number {
  const s = v.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

const SKY = rgbToLab(...WORLD_COLOURS.sky);
const GRASS = rgbToLab(...WORLD_COLOURS.grass);

/** Meadow: sky-blue rows above the horizon (~0.58 of the height), grass-green rows below. */
const meadow: Detector = (img) => {
  const { rows } = analyse(img);
  const frac = (from: number, to: number, ref: Lab): number => {
    let n = 0;
    for (let y = from; y < to; y++) if (labDistance(rows[y], ref) <= 25) n++;
    return n / (to - from);
  };
  return decide({ skyAbove: atLeast(frac(0, 27, SKY), 0.7), grassBelow: atLeast(frac(46, GRID, GRASS), 0.7) });
};

// ---------------------------------------------------------------- the set

export const detectors: Record<ConceptName, Detector> = {
  zorb: character('zorb'),
  quill: character('quill'),
  mippet: character('mippet'),
  hat,
  scarf,
  hatching,
  dots,
  sunset,
  meadow,
  ball,
  cube,
};

/** Fraction of the requested concepts detected in the image (ComposLoRA's composition score). */
export function compositionScore(img: RgbImage, concepts: readonly ConceptName[]): number {
  if (concepts.length === 0) return 1;
  return concepts.filter((c) => detectors[c](img).hit).length / concepts.length;
}

