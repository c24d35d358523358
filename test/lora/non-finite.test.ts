/** A LoRA whose tensors hold NaN or infinity is refused at load, naming the file and the tensor. */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ChordError } from '../../src/engine/errors';
import { parseLoraTensors, readLoraFile } from '../../src/engine/lora/parse';
import { writeSafetensors } from '../../src/engine/safetensors';
import { f16, f32, makeTmpDir, scalar, values } from './helpers';

const tmp = makeTmpDir();
afterAll(() => tmp.cleanup());

const stem = 'lora_unet_down_blocks_0_attentions_0_proj_in';
const stem2 = 'lora_unet_down_blocks_0_attentions_0_proj_out';

async function refusal(p: Promise<unknown>): Promise<ChordError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(ChordError);
  return e as ChordError;
}

describe('non-finite LoRA weights', () => {
  it('a NaN in a float32 tensor: refused with the file, the tensor and where', async () => {
    const file = join(tmp.dir, 'nan.safetensors');
    const up = values([8, 2], 1);
    up[5] = Number.NaN;
    await writeSafetensors(file, {
      [`${stem}.lora_down.weight`]: f32([2, 8]),
      [`${stem}.lora_up.weight`]: f32([8, 2], up),
      [`${stem}.alpha`]: scalar(2),
    });
    const e = await refusal(readLoraFile(file));
    expect(e.code).toBe('LORA_INVALID');
    expect(e.message).toBe(`nan.safetensors: tensor ${stem}.lora_up.weight holds NaN (value 6 of 16); Chord does not load LoRAs with NaN or infinite weights.`);
    expect(e.userText()).not.toContain('\n');
  });

  it('an fp16 value that overflowed to infinity is refused too; the first bad tensor is named', async () => {
    const file = join(tmp.dir, 'inf.safetensors');
    const down = values([2, 8], 3);
    down[0] = -1e6; // beyond fp16's range: stored as -Infinity
    const up2 = values([8, 2], 4);
    up2[1] = 1e6;
    await writeSafetensors(file, {
      [`${stem}.lora_down.weight`]: f16([2, 8], down),
      [`${stem}.lora_up.weight`]: f16([8, 2]),
      [`${stem2}.lora_down.weight`]: f16([2, 8]),
      [`${stem2}.lora_up.weight`]: f16([8, 2], up2),
    });
    const e = await refusal(readLoraFile(file));
    expect(e.message).toMatch(new RegExp(`^inf\\.safetensors: tensor ${stem}\\.lora_down\\.weight holds -Infinity \\(value 1 of 16\\)`));
  });

  it('tensors in memory are checked the same way; finite ones load', () => {
    const bad = { data: Float32Array.of(0, Number.POSITIVE_INFINITY), shape: [1, 2] };
    const ok = { data: Float32Array.of(0.1, 0.2), shape: [2, 1] };
    expect(() => parseLoraTensors({ [`${stem}.lora_down.weight`]: ok, [`${stem}.lora_up.weight`]: bad }, { source: 'x.safetensors' })).toThrow(
      /^x\.safetensors: tensor .*lora_up\.weight holds \+Infinity \(value 2 of 2\)/,
    );
    const parsed = parseLoraTensors({ [`${stem}.lora_down.weight`]: { data: Float32Array.of(0.1, 0.2), shape: [1, 2] }, [`${stem}.lora_up.weight`]: ok });
    expect(parsed.entries).toHaveLength(1);
  });
});
