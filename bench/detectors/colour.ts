/**
 * Colour classes of the glyph world. A foreground pixel gets the name of the nearest world
 * colour in CIE Lab, or none when nothing is near. Nearest-of-all rather than one tolerance per
 * colour, because the world's colours sit in pairs (green vs grass, blue vs the ball's highlight,
 * purple vs pink, brown vs a darkened orange): a generated pixel belongs to whichever it resembles
 * most. Colours are those of models/recipe/world.py; the props (ball, cube) are drawn in shape
 * colours (blue, red) and told from the shapes by place and size.
 */

export type Rgb = readonly [number, number, number];
export type Lab = [number, number, number];

/** The flat colours of the world: shapes, concepts, and the flat backgrounds. */
export const WORLD_COLOURS = {
  gray: [128, 128, 128],
  white: [232, 232, 232],
  black: [28, 28, 28],
  red: [220, 35, 35],
  green: [40, 175, 50],
  blue: [40, 70, 225],
  yellow: [240, 215, 30],
  zorb: [150, 50, 210],
  quill: [250, 140, 20],
  mippet: [20, 200, 210],
  feet: [30, 90, 95],
  hat: [110, 60, 20],
  scarf: [255, 100, 170],
  ballLight: [160, 180, 250],
  eye: [250, 250, 250],
  pupil: [15, 15, 15],
  sky: [125, 185, 240],
  grass: [70, 150, 55],
} as const satisfies Record<string, Rgb>;

export type ColourClass = keyof typeof WORLD_COLOURS;

const SUNSET_TOP: Rgb = [190, 45, 60];
const SUNSET_BOTTOM: Rgb = [250, 205, 90];

export function mix(a: Rgb, b: Rgb, t: number): Rgb {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

/** The sunset gradient at height t (0 top, 1 bottom). */
export const sunsetAt = (t: number): Rgb => mix(SUNSET_TOP, SUNSET_BOTTOM, t);

function srgbToLinear(v: number): number {
  const c = v / 255;
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

const LINEAR = Float64Array.from({ length: 256 }, (_, v) => srgbToLinear(v));

function labF(t: number): number {
  return t > 216 / 24389 ? Math.cbrt(t) : ((24389 / 27) * t + 16) / 116;
}

/** sRGB (0..255, fractional allowed) to CIE Lab, D65 white. */
export function rgbToLab(r: number, g: number, b: number): Lab {
  const lr = Number.isInteger(r) ? LINEAR[r] : srgbToLinear(r);
  const lg = Number.isInteger(g) ? LINEAR[g] : srgbToLinear(g);
  const lb = Number.isInteger(b) ? LINEAR[b] : srgbToLinear(b);
  const x = (0.4124564 * lr + 0.3575761 * lg + 0.1804375 * lb) / 0.95047;
  const y = 0.2126729 * lr + 0.7151522 * lg + 0.072175 * lb;
  const z = (0.0193339 * lr + 0.119192 * lg + 0.9503041 * lb) / 1.08883;
  const fx = labF(x);
  const fy = labF(y);
  const fz = labF(z);
  return [116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)];
}

export function labDistance(a: Lab, b: Lab): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

/**
 * Only pixels that differ from their row's background are classified (analysis.ts), so the
 * gradients need no swatches (a darkened orange would otherwise land on the sunset's middle);
 * the flat backgrounds stay in as decoys, so that background left over is not taken for a concept.
 */
export const CLASS_NAMES = Object.keys(WORLD_COLOURS) as ColourClass[];
const SWATCHES: Lab[] = CLASS_NAMES.map((c) => rgbToLab(...(WORLD_COLOURS[c] as Rgb)));
export const NO_CLASS = 255;

/** Farther than this (Lab units) from every world colour, a pixel has no class. */
export const MAX_CLASS_DISTANCE = 40;

export function classIndex(cls: ColourClass): number {
  return CLASS_NAMES.indexOf(cls);
}

/** Index into CLASS_NAMES of the world colour nearest to a Lab colour, or NO_CLASS. */
export function nearestClass(lab: Lab): number {
  let best = Infinity;
  let cls = NO_CLASS;
  SWATCHES.forEach((s, i) => {
    const d = labDistance(lab, s);
    if (d < best) {
      best = d;
      cls = i;
    }
  });
  return best <= MAX_CLASS_DISTANCE ? cls : NO_CLASS;
}
