import { beforeAll, describe, expect, it } from 'vitest';
import { captionRespected, checkCaption, detectBackground, detectShapes } from '../../bench/detectors/base';
import { components, filled, open } from '../../bench/detectors/blobs';
import { evaluate, fpr, tpr, variantImages, TARGET_FPR, TARGET_TPR } from '../../bench/detectors/calibration';
import { loadCalibrationSet, type CalibrationItem } from '../../bench/detectors/calibration-set';
import { CLASS_NAMES, nearestClass, NO_CLASS, rgbToLab, WORLD_COLOURS, type Rgb } from '../../bench/detectors/colour';
import { compositionScore, detectors } from '../../bench/detectors/concepts';
import { DEFAULT_DEGRADATION, degrade } from '../../bench/detectors/degrade';
import { atLeast, atMost, decide } from '../../bench/detectors/evidence';
import { toGrid, type RgbImage } from '../../bench/detectors/image';
import { CONCEPT_NAMES, type ConceptName } from '../../bench/detectors/world';
import { ChordError } from '../../src/engine/errors';

function image(w: number, h: number, px: (x: number, y: number) => Rgb): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(px(x, y).map(Math.round), (y * w + x) * 3);
  return { data, width: w, height: h };
}

/** Nearest-neighbour upscale by an integer factor. */
function upscale(img: RgbImage, k: number): RgbImage {
  return image(img.width * k, img.height * k, (x, y) => {
    const i = (Math.floor(y / k) * img.width + Math.floor(x / k)) * 3;
    return [img.data[i], img.data[i + 1], img.data[i + 2]];
  });
}

const hits = (img: RgbImage): ConceptName[] => CONCEPT_NAMES.filter((c) => detectors[c](img).hit);

describe('detector building blocks', () => {
  it('finds 8-connected blobs with their boxes, largest first, and fills holes', () => {
    // a 5 x 5 ring (area 16, one hole) and a diagonal pair (8-connected, area 2)
    const w = 10;
    const data = new Uint8Array(w * 7);
    for (let y = 1; y <= 5; y++) for (let x = 1; x <= 5; x++) if (y === 1 || y === 5 || x === 1 || x === 5) data[y * w + x] = 1;
    data[1 * w + 8] = 1;
    data[2 * w + 9] = 1;
    const blobs = components({ data, width: w, height: 7 });
    expect(blobs.map((b) => b.area)).toEqual([16, 2]);
    expect([blobs[0].x0, blobs[0].y0, blobs[0].x1, blobs[0].y1]).toEqual([1, 1, 5, 5]);
    const solid = filled(blobs[0], w, 7);
    expect(solid.data.reduce((s, v) => s + v, 0)).toBe(25);
    // opening removes the 1 px wide ring entirely
    expect(open({ data, width: w, height: 7 }).data.reduce((s, v) => s + v, 0)).toBe(0);
  });

  it('classes each world colour as itself and a far colour as nothing', () => {
    for (const name of CLASS_NAMES) expect(CLASS_NAMES[nearestClass(rgbToLab(...(WORLD_COLOURS[name] as Rgb)))]).toBe(name);
    expect(nearestClass(rgbToLab(48, 0, 80))).toBe(NO_CLASS); // dark violet: no world colour
  });

  it('decides on the weakest condition, 0.5 at the threshold', () => {
    const d = decide({ big: atLeast(20, 10), thin: atMost(3, 2) });
    expect(d).toMatchObject({ hit: false, weakest: 'thin' });
    expect(d.score).toBeCloseTo(0.4, 6);
    expect(decide({ exact: atLeast(10, 10) }).score).toBe(0.5);
  });

  it('resamples other sizes onto the 64 x 64 grid by area', () => {
    const small = image(64, 64, (x, y) => [x * 4, y * 4, 100]);
    expect(toGrid(upscale(small, 2)).data).toEqual(small.data);
  });

  it('tells diagonal hatching from halftone dots by their spectral peaks', () => {
    const grey: Rgb = [128, 128, 128];
    const ink = (c: Rgb): Rgb => [c[0] * 0.3, c[1] * 0.3, c[2] * 0.3];
    const hatched = image(64, 64, (x, y) => ((x + y) % 6 < 2 ? ink(grey) : grey));
    const dotted = image(64, 64, (x, y) => ((x % 6) - 2.5) ** 2 + ((y % 6) - 2.5) ** 2 <= 2.3 ? ink(grey) : grey);
    const plain = image(64, 64, () => grey);
    expect([detectors.hatching(hatched).hit, detectors.dots(hatched).hit]).toEqual([true, false]);
    expect([detectors.hatching(dotted).hit, detectors.dots(dotted).hit]).toEqual([false, true]);
    expect(hits(plain)).toEqual([]);
    expect(detectBackground(plain)).toBe('gray');
  });

  it('stays silent on noise', () => {
    let s = 12345;
    const noise = image(64, 64, () => {
      const v = (): number => ((s = (s * 1103515245 + 12345) % 2 ** 31) >> 8) % 256;
      return [v(), v(), v()];
    });
    expect(hits(noise)).toEqual([]);
  });

  it('rejects a buffer of the wrong size with a ChordError', () => {
    expect(() => detectors.zorb({ data: new Uint8Array(10), width: 64, height: 64 })).toThrow(ChordError);
  });
});

describe('on the calibration set', () => {
  let set: CalibrationItem[];
  const byFile = (file: string): CalibrationItem => {
    const it = set.find((i) => i.file === file);
    if (!it) throw new Error(`${file} is not in the calibration set`);
    return it;
  };

  beforeAll(async () => {
    set = await loadCalibrationSet();
  });

  it('meets TPR >= 95% and FPR <= 5% for every concept on clean renders, and reads every base caption', () => {
    expect(set.length).toBeGreaterThan(500);
    const r = evaluate(set, variantImages(set));
    for (const c of CONCEPT_NAMES) {
      expect({ c, tpr: tpr(r.concepts[c]) >= TARGET_TPR, fpr: fpr(r.concepts[c]) <= TARGET_FPR }).toEqual({ c, tpr: true, fpr: true });
    }
    expect(r.base.scenes).toBe(150);
    expect(r.base.captionRespected / r.base.scenes).toBeGreaterThanOrEqual(TARGET_TPR);
    expect(r.base.extra).toBeLessThanOrEqual(2);
  });

  it('meets the same targets on degraded renders (every other image)', () => {
    const half = set.filter((_, i) => i % 2 === 0);
    const r = evaluate(half, variantImages(half, DEFAULT_DEGRADATION));
    for (const c of CONCEPT_NAMES) {
      expect({ c, tpr: tpr(r.concepts[c]) >= TARGET_TPR, fpr: fpr(r.concepts[c]) <= TARGET_FPR }).toEqual({ c, tpr: true, fpr: true });
    }
    expect(r.base.captionRespected / r.base.scenes).toBeGreaterThanOrEqual(TARGET_TPR);
  });

  it('reads a base scene: shapes with colour, kind and position, and the background', () => {
    const it = byFile('0002-base.png'); // green circle left, blue triangle right, gray
    const found = detectShapes(it.image).map(({ colour, shape, pos }) => ({ colour, shape, pos }));
    expect(found).toEqual(expect.arrayContaining([
      { colour: 'green', shape: 'circle', pos: 'left' },
      { colour: 'blue', shape: 'triangle', pos: 'right' },
    ]));
    expect(found).toHaveLength(2);
    expect(detectBackground(it.image)).toBe('gray');
    expect(captionRespected(it.image, it.base)).toBe(true);
  });

  it('says a caption is not respected when colour, kind, position or background differ', () => {
    const it = byFile('0002-base.png');
    const [a, b] = it.base.shapes;
    expect(checkCaption(it.image, { ...it.base, shapes: [{ ...a, colour: 'red' }, b] }).shapes).toEqual([false, true]);
    expect(captionRespected(it.image, { ...it.base, shapes: [a, { ...b, shape: 'square' }] })).toBe(false);
    expect(captionRespected(it.image, { ...it.base, shapes: [a, { ...b, pos: 'centre' }] })).toBe(false);
    expect(checkCaption(it.image, { ...it.base, background: 'white' })).toMatchObject({ respected: false, background: false });
  });

  it('scores a composition as the fraction of requested concepts found', () => {
    const it = byFile('0326-composition.png'); // quill, hat, hatching, ball on black
    expect(hits(it.image)).toEqual(['quill', 'hat', 'hatching', 'ball']);
    expect(compositionScore(it.image, it.concepts)).toBe(1);
    expect(compositionScore(it.image, ['quill', 'scarf', 'meadow', 'ball'])).toBe(0.5);
    expect(compositionScore(it.image, [])).toBe(1);
  });

  it('gives the same answers at other sizes', () => {
    for (const file of ['0326-composition.png', '0400-composition.png', '0586-extra.png']) {
      const it = byFile(file);
      const want = hits(it.image);
      expect(hits(upscale(it.image, 2))).toEqual(want);
      expect(hits(degrade(upscale(it.image, 2), 3))).toEqual(want);
    }
  });
});
