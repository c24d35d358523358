/**
 * One labelled PNG of a compare grid: row labels on the left, column labels on top, one image
 * per cell. `gridLayout` is pure (positions, sizes and label text); `writeGrid` composites the
 * cell images and the labels with sharp. Labels are SVG text, which sharp renders through
 * librsvg with the system's fonts (a generic sans-serif family, so any installed font serves).
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import sharp, { type OverlayOptions } from 'sharp';
import { ChordError } from '../errors';

export interface GridInput {
  rowLabels: readonly string[];
  columnLabels: readonly string[];
  cellWidth: number;
  cellHeight: number;
  /** label text size in px; default 14 */
  fontSize?: number;
}

export interface LabelBox {
  text: string;
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface GridLayout {
  width: number;
  height: number;
  /** width of the row-label column and height of the column-label row */
  rowLabelWidth: number;
  columnLabelHeight: number;
  /** space between cells and around the grid */
  gap: number;
  fontSize: number;
  /** cells[row][column]: top-left corner of the image */
  cells: { left: number; top: number }[][];
  rowLabels: LabelBox[];
  columnLabels: LabelBox[];
}

/** Average advance of a sans-serif glyph per px of font size; labels are sized from it. */
const CHAR_WIDTH = 0.6;
const MAX_ROW_LABEL_WIDTH = 360;
const MIN_ROW_LABEL_WIDTH = 60;

/** Small images are shown at least this wide, scaled up by a whole factor, so the labels fit. */
export const MIN_CELL_WIDTH = 128;

/** The whole-number scale that makes a `width` px image at least MIN_CELL_WIDTH wide. */
export function cellScale(width: number): number {
  return Math.max(1, Math.ceil(MIN_CELL_WIDTH / width));
}

/** Cuts text to `chars` characters, with an ellipsis when it was longer. */
export function fitText(text: string, chars: number): string {
  if (text.length <= chars) return text;
  return chars <= 1 ? text.slice(0, Math.max(chars, 0)) : `${text.slice(0, chars - 1)}…`;
}

/**
 * Size = row-label column + columns x cell width + gaps, by column-label row + rows x cell
 * height + gaps. Labels longer than their box are cut with an ellipsis.
 */
export function gridLayout(input: GridInput): GridLayout {
  const { rowLabels, columnLabels, cellWidth, cellHeight } = input;
  if (rowLabels.length === 0 || columnLabels.length === 0) throw new ChordError('BAD_ARGUMENT', 'A grid needs at least one row and one column.');
  if (!(cellWidth >= 1 && cellHeight >= 1)) throw new ChordError('BAD_ARGUMENT', `Grid cells must be at least 1x1 px (got ${cellWidth}x${cellHeight}).`);
  const fontSize = input.fontSize ?? 14;
  const gap = Math.max(2, Math.round(fontSize / 3));
  const pad = Math.round(fontSize / 2);
  const charPx = fontSize * CHAR_WIDTH;
  const longest = Math.max(...rowLabels.map((l) => l.length));
  const rowLabelWidth = Math.min(MAX_ROW_LABEL_WIDTH, Math.max(MIN_ROW_LABEL_WIDTH, Math.ceil(longest * charPx) + 2 * pad));
  const columnLabelHeight = Math.ceil(fontSize * 1.4) + 2 * pad;
  const cols = columnLabels.length;
  const rows = rowLabels.length;
  const width = rowLabelWidth + cols * cellWidth + (cols + 1) * gap;
  const height = columnLabelHeight + rows * cellHeight + (rows + 1) * gap;
  const left = (c: number) => rowLabelWidth + gap + c * (cellWidth + gap);
  const top = (r: number) => columnLabelHeight + gap + r * (cellHeight + gap);
  const rowChars = Math.floor((rowLabelWidth - 2 * pad) / charPx);
  const colChars = Math.floor((cellWidth - 2 * pad) / charPx);
  return {
    width,
    height,
    rowLabelWidth,
    columnLabelHeight,
    gap,
    fontSize,
    cells: rowLabels.map((_, r) => columnLabels.map((__, c) => ({ left: left(c), top: top(r) }))),
    rowLabels: rowLabels.map((text, r) => ({ text: fitText(text, rowChars), left: 0, top: top(r), width: rowLabelWidth, height: cellHeight })),
    columnLabels: columnLabels.map((text, c) => ({ text: fitText(text, colChars), left: left(c), top: 0, width: cellWidth, height: columnLabelHeight })),
  };
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A label as an SVG the size of its box: right-aligned for rows, centred for columns. */
export function labelSvg(label: LabelBox, align: 'end' | 'middle', fontSize: number): Buffer {
  const pad = Math.round(fontSize / 2);
  const x = align === 'end' ? label.width - pad : label.width / 2;
  const y = label.height / 2;
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${label.width}" height="${label.height}">` +
      `<text x="${x}" y="${y}" text-anchor="${align}" dominant-baseline="central" font-family="DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif" font-size="${fontSize}" fill="#222">${escapeXml(label.text)}</text></svg>`,
  );
}

/**
 * Writes the grid: a white canvas, each cell's PNG (resized to the cell if it differs) and the
 * labels. `cellFiles[row][column]`: a file, or an encoded image (the app's stand-in for a failed cell).
 */
export async function writeGrid(file: string, layout: GridLayout, cellFiles: readonly (readonly (string | Buffer)[])[]): Promise<void> {
  const { fontSize } = layout;
  const cellWidth = layout.columnLabels[0].width;
  const cellHeight = layout.rowLabels[0].height;
  const parts: OverlayOptions[] = [];
  for (const [r, row] of layout.cells.entries()) {
    for (const [c, at] of row.entries()) {
      // nearest neighbour: small images scaled up stay crisp pixels instead of blurring
      const input = await sharp(cellFiles[r][c]).resize(cellWidth, cellHeight, { fit: 'contain', background: '#ffffff', kernel: 'nearest' }).png().toBuffer();
      parts.push({ input, left: at.left, top: at.top });
    }
  }
  for (const l of layout.rowLabels) parts.push({ input: labelSvg(l, 'end', fontSize), left: l.left, top: l.top });
  for (const l of layout.columnLabels) parts.push({ input: labelSvg(l, 'middle', fontSize), left: l.left, top: l.top });
  await mkdir(dirname(file), { recursive: true });
  try {
    await sharp({ create: { width: layout.width, height: layout.height, channels: 3, background: '#ffffff' } })
      .composite(parts)
      .png()
      .toFile(file);
  } catch (e) {
    throw new ChordError('WRITE_FAILED', `Could not write the grid ${file}: ${(e as Error).message}`, 'Check that the folder is writable.', { cause: e });
  }
}
