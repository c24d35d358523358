import type { ChordImageRecord } from '../../src/engine/png/record';

export const HASH_A = 'abcdef1234567890abcdef1234567890abcdef1234567890abcdef1234567890';
export const HASH_B = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
/** A1111 short hashes (addnet), deliberately unlike the prefixes of HASH_A / HASH_B */
export const A1111_A = '5e1f00c0ffee';
export const A1111_B = '7d2b11aa0042';
export const MODEL_HASH = '1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d1a2b';

/** A complete record; tests override what they need. */
export function sampleRecord(overrides: Partial<ChordImageRecord> = {}): ChordImageRecord {
  return {
    version: 1,
    engineVersion: '0.1.0',
    prompt: 'a castle on a hill, golden hour',
    negativePrompt: 'blurry, lowres',
    model: { name: 'dreamshaper-8', hash: MODEL_HASH },
    loras: [
      { name: 'castleStyle', fileHash: HASH_A, a1111Hash: A1111_A, weight: 0.8, category: 'style' },
      {
        name: 'knight',
        fileHash: HASH_B,
        a1111Hash: A1111_B,
        weight: 1,
        category: 'character',
        region: { box: [0, 0.25, 0.5, 1], prompt: 'a knight in armour', negativePrompt: '' },
      },
    ],
    method: 'cmlora',
    methodOptions: { c1: 2, c2: 3, cache: true },
    ordering: { rule: 'frequency', order: [1, 0], highFrequency: [1, 0] },
    sampler: 'euler-a',
    karras: true,
    steps: 20,
    cfg: 7,
    seed: 1234,
    width: 8,
    height: 4,
    batchIndex: 0,
    ...overrides,
  };
}

/** An RGB gradient so a lossless round trip can be checked pixel by pixel. */
export function gradient(width: number, height: number): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    rgb[i * 3] = (i * 37) & 255;
    rgb[i * 3 + 1] = (i * 11) & 255;
    rgb[i * 3 + 2] = 255 - ((i * 5) & 255);
  }
  return rgb;
}
