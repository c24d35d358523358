/**
 * What the app reads back from an image's record for the step timeline and the region editor:
 * the per-step log (with the cost of a shallow pass) and the regions with their bound LoRAs.
 */
import { describe, expect, it } from 'vitest';
import { imageSettings, imageStepLog } from '../../src/engine/jobs/gallery';
import { shallowPassCost } from '../../src/engine/jobs/pass-cost';
import { encodeImage, readImageInfo } from '../../src/engine/png/image';
import type { ChordImageRecord } from '../../src/engine/png/record';

const hash = (c: string) => c.repeat(64);
const left = { box: [0, 0, 0.5, 1] as [number, number, number, number], prompt: 'zorb on the left', negativePrompt: '' };
const right = { box: [0.5, 0, 1, 1] as [number, number, number, number], prompt: 'quill on the right', negativePrompt: 'blurry' };

function record(extra: Partial<ChordImageRecord>): ChordImageRecord {
  return {
    version: 1,
    engineVersion: '0.2.0',
    prompt: 'gray background',
    negativePrompt: '',
    model: { name: 'glyph-sd', hash: hash('a') },
    loras: [],
    method: 'merge',
    methodOptions: {},
    ordering: { rule: 'as-listed', order: [] },
    sampler: 'euler-a',
    karras: false,
    steps: 2,
    cfg: 7,
    seed: 1,
    width: 8,
    height: 8,
    batchIndex: 0,
    ...extra,
  };
}

async function read(r: ChordImageRecord) {
  return readImageInfo(new Uint8Array(await encodeImage(new Uint8Array(8 * 8 * 3), 8, 8, r)));
}

describe('image records for the app', () => {
  it('give the regions with their bound LoRAs as indices into the LoRA list', async () => {
    const info = await read(
      record({
        method: 'regional',
        loras: [
          { name: 'sunset', fileHash: hash('1'), weight: 0.6 },
          { name: 'zorb', fileHash: hash('2'), weight: 1, region: left },
          { name: 'quill', fileHash: hash('3'), weight: 0.8, region: right },
        ],
        ordering: { rule: 'as-listed', order: [0, 1, 2] },
        regions: [left, right],
      }),
    );
    const settings = imageSettings(info, ({ name }) => (name === 'zorb' ? '/l/zorb.safetensors' : null));
    expect(settings?.regions).toEqual([
      { box: [0, 0, 0.5, 1], prompt: 'zorb on the left', negative: '', loras: [1] },
      { box: [0.5, 0, 1, 1], prompt: 'quill on the right', negative: 'blurry', loras: [2] },
    ]);
    expect(settings?.loras.map((l) => l.name)).toEqual(['sunset', 'zorb', 'quill']);
  });

  it('give no regions and no step log for a Merge image', async () => {
    const info = await read(record({}));
    expect(imageSettings(info, () => null)?.regions).toBeUndefined();
    expect(imageSettings(info, () => null)?.engineVersion).toBe('0.2.0');
    expect(imageStepLog(info)).toBeUndefined();
  });

  it('give the step log with the shallow-pass cost of the model', async () => {
    const info = await read(
      record({
        method: 'cmlora',
        loras: [
          { name: 'zorb', fileHash: hash('2'), weight: 1 },
          { name: 'hat', fileHash: hash('4'), weight: 1 },
        ],
        ordering: { rule: 'frequency', order: [0, 1], highFrequency: [0] },
        stepLog: [
          { active: [0, 1], dominant: 0, refreshed: [0, 1], full: 2, shallow: 0 },
          { active: [0, 1], refreshed: [], full: 0, shallow: 2 },
        ],
      }),
    );
    expect(imageStepLog(info)).toEqual({
      steps: [
        { active: [0, 1], dominant: 0, refreshed: [0, 1], full: 2, shallow: 0 },
        { active: [0, 1], dominant: null, refreshed: [], full: 0, shallow: 2 },
      ],
      shallowCost: 0.48,
      shallowCostBasis: 'glyph-sd UNet, measured in multiply-accumulates',
    });
  });

  it('take the shallow-pass share of the nearest measured size for other models', () => {
    expect(shallowPassCost('glyph-sd-v2', 64, 64).shallowCost).toBe(0.48);
    expect(shallowPassCost('my-sd15', 512, 512)).toEqual({ shallowCost: 0.38, shallowCostBasis: 'SD 1.5-sized UNet at 512 x 512 px, measured in multiply-accumulates; other UNets differ' });
    expect(shallowPassCost('my-sd15', 256, 256).shallowCost).toBe(0.31);
    expect(shallowPassCost('my-sd15', 768, 768).shallowCost).toBe(0.46);
    expect(shallowPassCost('my-sd15', 1024, 1024).shallowCost).toBe(0.46);
  });
});
