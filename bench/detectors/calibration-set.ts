/**
 * The committed calibration set (bench/fixtures/calibration/, made by
 * models/recipe/calibration.py): glyph-world renders with exact labels.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { ChordError } from '../../src/engine/errors';
import type { BaseScene, ConceptName } from './world';
import type { RgbImage } from './image';

export const CALIBRATION_DIR = 'bench/fixtures/calibration';

export interface CalibrationLabel {
  file: string;
  group: 'base' | 'alone' | 'composition' | 'extra';
  concepts: ConceptName[];
  caption: string;
  base: BaseScene;
}

export interface CalibrationItem extends CalibrationLabel {
  image: RgbImage;
}

export async function decodeRgb(file: string): Promise<RgbImage> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}

export async function loadCalibrationSet(dir = CALIBRATION_DIR): Promise<CalibrationItem[]> {
  let labels: CalibrationLabel[];
  try {
    labels = JSON.parse(await readFile(path.join(dir, 'labels.json'), 'utf8')) as CalibrationLabel[];
  } catch (e) {
    throw new ChordError(
      'FILE_NOT_FOUND',
      `Cannot read the calibration set's labels in ${dir}.`,
      'Make it with: OPENBLAS_NUM_THREADS=1 /usr/bin/python3 models/recipe/calibration.py bench/fixtures/calibration',
      { cause: e },
    );
  }
  return Promise.all(labels.map(async (l) => ({ ...l, image: await decodeRgb(path.join(dir, l.file)) })));
}
