/**
 * The base world, for "is the caption respected" checks of the base model: which coloured
 * shapes are where, and the background's grey. Same colour analysis as the concept detectors.
 */
import { analyse, colourBlobs } from './analysis';
import { boxHeight, boxWidth, filled, type Blob } from './blobs';
import { detectors } from './concepts';
import { GRID, type RgbImage } from './image';
import {
  SHAPE_COLOURS,
  type BaseBackground,
  type BaseScene,
  type Position,
  type ShapeColour,
  type ShapeKind,
} from './world';

export interface DetectedShape {
  colour: ShapeColour;
  shape: ShapeKind | 'unknown';
  pos: Position;
  /** centroid and box on the 64 x 64 grid */
  cx: number;
  cy: number;
  width: number;
  height: number;
}

/** Shapes are drawn with radius 8.5..11 (triangles ~160 px, disks and squares ~230-380 px). */
const MIN_AREA = 60;
const MIN_SIDE = 8;
const MAX_SIDE = 32;

/** Every blob of a shape colour big enough to be a shape, largest first per colour. */
export function detectShapes(img: RgbImage): DetectedShape[] {
  const a = analyse(img);
  const out: DetectedShape[] = [];
  for (const colour of SHAPE_COLOURS) {
    for (const b of colourBlobs(a, colour, 1)) {
      const w = boxWidth(b);
      const h = boxHeight(b);
      if (b.area < MIN_AREA || w < MIN_SIDE || h < MIN_SIDE || w > MAX_SIDE || h > MAX_SIDE) continue;
      out.push({ colour, shape: shapeOf(b), pos: positionOf(b.cx), cx: b.cx, cy: b.cy, width: w, height: h });
    }
  }
  return out;
}

/** Centres are drawn at x = 16 / 32 / 48 (+-2): split halfway between. */
export function positionOf(cx: number): Position {
  return cx < 24 ? 'left' : cx >= 40 ? 'right' : 'centre';
}

/**
 * Triangle: its top rows are far narrower than its bottom rows (an upward triangle).
 * Otherwise square vs circle by how much of the bounding box is filled (1 vs pi/4).
 */
export function shapeOf(b: Blob): ShapeKind | 'unknown' {
  const m = filled(b, GRID, GRID);
  const w = boxWidth(b);
  const h = boxHeight(b);
  const rowWidth = (y: number): number => {
    let n = 0;
    for (let x = b.x0; x <= b.x1; x++) n += m.data[y * GRID + x];
    return n;
  };
  const band = Math.max(1, Math.round(h / 4));
  let top = 0;
  let bottom = 0;
  for (let i = 0; i < band; i++) {
    top += rowWidth(b.y0 + i);
    bottom += rowWidth(b.y1 - i);
  }
  let area = 0;
  for (let y = b.y0; y <= b.y1; y++) area += rowWidth(y);
  const fill = area / (w * h);
  if (top < TRIANGLE_TOP_OVER_BOTTOM * bottom) return 'triangle';
  if (fill >= SQUARE_FILL) return 'square';
  if (fill >= CIRCLE_FILL) return 'circle';
  return 'unknown';
}

const TRIANGLE_TOP_OVER_BOTTOM = 0.6;
const SQUARE_FILL = 0.88;
const CIRCLE_FILL = 0.62;

/** Grey by lightness; anything with colour is 'other'. */
export function detectBackground(img: RgbImage): BaseBackground | 'other' {
  const { rows } = analyse(img);
  const Ls = rows.map((r) => r[0]).sort((p, q) => p - q);
  const Cs = rows.map((r) => Math.hypot(r[1], r[2])).sort((p, q) => p - q);
  const L = Ls[Ls.length >> 1];
  const C = Cs[Cs.length >> 1];
  if (C > MAX_GREY_CHROMA) return 'other';
  return L < 30 ? 'black' : L < 75 ? 'gray' : 'white';
}

/** Lab chroma above which a background is not one of the greys. */
const MAX_GREY_CHROMA = 12;

export interface CaptionCheck {
  respected: boolean;
  /** per requested shape: found with the right colour, kind and position */
  shapes: boolean[];
  background: boolean;
}

export function checkCaption(img: RgbImage, truth: BaseScene): CaptionCheck {
  const found = detectShapes(img);
  const shapes = truth.shapes.map((t) => found.some((f) => f.colour === t.colour && f.shape === t.shape && f.pos === t.pos));
  const background =
    truth.background === 'sunset' || truth.background === 'meadow'
      ? detectors[truth.background](img).hit
      : detectBackground(img) === truth.background;
  return { respected: background && shapes.every(Boolean), shapes, background };
}

/** All requested shapes found with the right colour, kind and position, and the right background. */
export function captionRespected(img: RgbImage, truth: BaseScene): boolean {
  return checkCaption(img, truth).respected;
}
