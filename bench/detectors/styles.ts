/**
 * The two style concepts, decided on the spectral peaks (spectrum.ts). Kept apart from the other
 * detectors because the colour analysis needs them first: a styled image is de-textured
 * differently (texture.ts).
 */
import { atLeast, atMost, best, decide, within, type Detection } from './evidence';
import type { StylePeaks } from './spectrum';

const ratio = (a: number, b: number): number => a / Math.max(b, 1e-9);

/** Diagonal hatching: a narrow peak at (f, f) and none at (f, -f). */
export function hatchingEvidence({ peaks: { diag, anti } }: StylePeaks): Detection {
  return decide({
    amplitude: atLeast(diag.amplitude, 8),
    peakiness: atLeast(diag.ratio, 6),
    oneDiagonal: atMost(ratio(anti.amplitude, diag.amplitude), 0.4),
  });
}

/**
 * Halftone dots: a square lattice, so equal narrow peaks on both diagonals, and some power on
 * both axes too (weak after the row median, which removes much of a dot row).
 */
export function dotsEvidence({ peaks: { diag, anti, x, y } }: StylePeaks): Detection {
  return decide({
    amplitude: atLeast(Math.min(diag.amplitude, anti.amplitude), 3.5),
    peakiness: atLeast(Math.min(diag.ratio, anti.ratio), 7),
    bothDiagonals: within(ratio(anti.amplitude, diag.amplitude), 0.4, 2.5),
    axes: atLeast(Math.min(x.amplitude, y.amplitude), 0.6),
  });
}

/** The stronger reading over the analysed resolutions (native and grid). */
export const strongest = (all: StylePeaks[], evidence: (p: StylePeaks) => Detection): Detection =>
  best(all.map(evidence));
