/**
 * Box geometry of the region editor (pure; the store and the component use it). Boxes are in
 * fractions of the image from the top-left, as the engine takes them (docs/regional.md). Every
 * gesture keeps a box inside the image with a positive area, so of the engine's rules only the
 * count and overlaps can be broken, and those are reported, never guessed away.
 */
import { LIMITS } from '../../shared/api';

export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export interface Point {
  x: number;
  y: number;
}

/** A corner or an edge of a box, by compass direction. */
export type Handle = 'n' | 's' | 'e' | 'w' | 'ne' | 'nw' | 'se' | 'sw';
export const HANDLES: readonly Handle[] = ['nw', 'n', 'ne', 'e', 'se', 's', 'sw', 'w'];

export const MAX_REGIONS = LIMITS.regions;
/** Drawn boxes snap to 1/64 of the image (a pixel of the demo model's 64 x 64 images). */
export const GRID = 1 / 64;
/** The smallest side a drawn or resized box keeps; a shorter drag is a click. */
export const MIN_SIDE = 2 * GRID;

const clamp01 = (v: number) => Math.min(1, Math.max(0, v));
/** Rounded to the grid, with the float noise of the division taken out. */
export const snap = (v: number) => clamp01(Number((Math.round(v / GRID) * GRID).toFixed(6)));

export function width(b: Box): number {
  return b.x1 - b.x0;
}
export function height(b: Box): number {
  return b.y1 - b.y0;
}

/** The box a drag from `a` to `b` draws (any direction), inside the image, on the grid. */
export function boxFromDrag(a: Point, b: Point): Box {
  return {
    x0: snap(Math.min(a.x, b.x)),
    y0: snap(Math.min(a.y, b.y)),
    x1: snap(Math.max(a.x, b.x)),
    y1: snap(Math.max(a.y, b.y)),
  };
}

/** Large enough to keep (a drag shorter than MIN_SIDE in either direction is a click). */
export function isDrawn(b: Box): boolean {
  return width(b) >= MIN_SIDE - 1e-9 && height(b) >= MIN_SIDE - 1e-9;
}

/** The box moved by (dx, dy), its size kept, stopped at the image's edges, on the grid. */
export function moveBox(b: Box, dx: number, dy: number): Box {
  const w = width(b);
  const h = height(b);
  const x0 = Math.min(1 - w, Math.max(0, snap(b.x0 + dx)));
  const y0 = Math.min(1 - h, Math.max(0, snap(b.y0 + dy)));
  return { x0, y0, x1: x0 + w, y1: y0 + h };
}

/**
 * The box with the edges of `handle` moved to `p`: inside the image, on the grid, never thinner
 * than MIN_SIDE (an edge stops before it would cross the opposite one).
 */
export function resizeBox(b: Box, handle: Handle, p: Point): Box {
  const r = { ...b };
  if (handle.includes('w')) r.x0 = Math.min(snap(p.x), b.x1 - MIN_SIDE);
  if (handle.includes('e')) r.x1 = Math.max(snap(p.x), b.x0 + MIN_SIDE);
  if (handle.includes('n')) r.y0 = Math.min(snap(p.y), b.y1 - MIN_SIDE);
  if (handle.includes('s')) r.y1 = Math.max(snap(p.y), b.y0 + MIN_SIDE);
  return { x0: clamp01(r.x0), y0: clamp01(r.y0), x1: clamp01(r.x1), y1: clamp01(r.y1) };
}

export type Edge = keyof Box;

/**
 * The box with one edge typed in (the keyboard way): the value is kept inside the image; a value
 * that would leave no area is refused with a line saying why.
 */
export function editEdge(b: Box, edge: Edge, value: number): { box: Box } | { error: string } {
  if (!Number.isFinite(value)) return { error: `${edge} must be a number from 0 to 1.` };
  const next = { ...b, [edge]: clamp01(Number(value.toFixed(4))) };
  if (next.x0 >= next.x1) return { error: `x0 must be less than x1 (${fmt(next.x0)} ≥ ${fmt(next.x1)}): a box needs a positive width.` };
  if (next.y0 >= next.y1) return { error: `y0 must be less than y1 (${fmt(next.y0)} ≥ ${fmt(next.y1)}): a box needs a positive height.` };
  return { box: next };
}

/** True when the boxes share area (touching edges is fine, as the engine allows). */
export function overlaps(a: Box, b: Box): boolean {
  return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

export function contains(b: Box, p: Point): boolean {
  return p.x >= b.x0 && p.x <= b.x1 && p.y >= b.y0 && p.y <= b.y1;
}

/** The topmost (last drawn) box under `p`, or -1. */
export function boxAt(boxes: readonly Box[], p: Point): number {
  for (let i = boxes.length - 1; i >= 0; i--) if (contains(boxes[i], p)) return i;
  return -1;
}

/** A short form for messages and labels: 0.5, 0.016. */
export function fmt(v: number): string {
  return String(Number(v.toFixed(3)));
}

/** The engine's rules (pipeline/regional.ts checkRegions), one line per problem, numbered from 1. */
export function regionProblems(boxes: readonly Box[]): string[] {
  const lines: string[] = [];
  if (boxes.length > MAX_REGIONS) lines.push(`${boxes.length} regions: at most ${MAX_REGIONS} are supported; delete ${boxes.length - MAX_REGIONS}.`);
  boxes.forEach((b, i) => {
    if ([b.x0, b.y0, b.x1, b.y1].some((v) => !Number.isFinite(v) || v < 0 || v > 1)) lines.push(`Region ${i + 1} leaves the image: coordinates are fractions from 0 to 1.`);
    else if (b.x1 <= b.x0 || b.y1 <= b.y0) lines.push(`Region ${i + 1} has no area: give x0 < x1 and y0 < y1.`);
  });
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      if (overlaps(boxes[i], boxes[j])) lines.push(`Regions ${i + 1} and ${j + 1} overlap: move or resize one (boxes may touch but not overlap).`);
    }
  }
  return lines;
}

/**
 * A free place for a new box (the keyboard way to add one): the first of the halves, quarters and
 * sixteenths of the image that overlaps no box; undefined when none is free.
 */
export function freeBox(boxes: readonly Box[]): Box | undefined {
  const candidates: Box[] = [
    { x0: 0, y0: 0, x1: 0.5, y1: 1 },
    { x0: 0.5, y0: 0, x1: 1, y1: 1 },
  ];
  for (const n of [2, 4]) {
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) candidates.push({ x0: c / n, y0: r / n, x1: (c + 1) / n, y1: (r + 1) / n });
  }
  return candidates.find((c) => boxes.every((b) => !overlaps(b, c)));
}

/** [x0, y0, x1, y1], as requests and records hold a box. */
export function boxTuple(b: Box): [number, number, number, number] {
  return [b.x0, b.y0, b.x1, b.y1];
}

export function boxOf(t: readonly number[]): Box {
  return { x0: t[0], y0: t[1], x1: t[2], y1: t[3] };
}

/** Colours of regions 1..8, told apart in both themes (with the region's number beside each). */
export const REGION_COLOURS = ['#e8590c', '#1c7ed6', '#2f9e44', '#c2255c', '#7048e8', '#0c8599', '#a07800', '#5c5f66'] as const;

export function regionColour(i: number): string {
  return REGION_COLOURS[i % REGION_COLOURS.length];
}

/** What the editor holds per region (LoRAs as library entries, so a card dropped on a box binds). */
export interface EditorRegion<L extends { path: string } = { path: string }> {
  box: Box;
  prompt: string;
  negative: string;
  loras: { lora: L; weight: number }[];
}

/** The request's `regions` (GenerateRequest), in order. */
export function toRequestRegions(regions: readonly EditorRegion[]): { box: [number, number, number, number]; prompt: string; negative: string; loras: { path: string; weight: number }[] }[] {
  return regions.map((r) => ({ box: boxTuple(r.box), prompt: r.prompt, negative: r.negative, loras: r.loras.map((l) => ({ path: l.lora.path, weight: l.weight })) }));
}
