/** Located character detections (the regional bench's score): the detector's own blobs, placed. */
import { describe, expect, it } from 'vitest';
import { loadCalibrationSet } from '../../bench/detectors/calibration-set';
import { characterCandidates, detectors } from '../../bench/detectors/concepts';
import { CHARACTERS } from '../../bench/detectors/world';

describe('characterCandidates', () => {
  it('is what the detector decides on, and puts each detected character where its caption says', async () => {
    const set = await loadCalibrationSet();
    let placed = 0;
    for (const item of set) {
      for (const c of CHARACTERS) {
        const candidates = characterCandidates(c, item.image);
        const hit = detectors[c](item.image).hit;
        expect(candidates.some((k) => k.detection.hit), item.file).toBe(hit);
        const where = new RegExp(`${c} (on the left|on the right|in the centre)`).exec(item.caption)?.[1];
        if (!hit || !where) continue;
        // the world draws characters at x = 16, 32, 48 (+-2) on the 64 x 64 grid
        const x = candidates.find((k) => k.detection.hit)?.cx ?? -1;
        const side = x < 24 ? 'on the left' : x >= 40 ? 'on the right' : 'in the centre';
        expect(side, item.file).toBe(where);
        placed++;
      }
    }
    expect(placed).toBeGreaterThan(20);
  }, 120_000);
});
