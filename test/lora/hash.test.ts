/**
 * A1111's short hash of a LoRA ("Lora hashes"): the file's sshs_model_hash, else the sha256 of the
 * bytes after the safetensors header; 12 hex. Checked against node:crypto over the file bytes.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { a1111ShortHash, hashLoraFile, loraFileHashes } from '../../src/engine/lora/hash';
import { hashFile } from '../../src/engine/hash';
import { writeSafetensors } from '../../src/engine/safetensors';
import { f32, makeTmpDir } from './helpers';

const { dir, cleanup } = makeTmpDir();
afterAll(cleanup);

const K = 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q';
const tensors = (salt = 0) => ({ [`${K}.lora_down.weight`]: f32([2, 4], undefined, salt), [`${K}.lora_up.weight`]: f32([4, 2], undefined, salt) });

/** The addnet hash and the whole-file sha256, computed here from the bytes. */
function independent(path: string): { addnet: string; sha256: string } {
  const bytes = readFileSync(path);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  return {
    addnet: createHash('sha256').update(bytes.subarray(8 + headerLength)).digest('hex'),
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

const ADDNET = 'f'.repeat(8) + '0123456789abcdef'.repeat(3) + 'e'.repeat(8);

describe('a1111ShortHash', () => {
  it('is the first 12 hex of the addnet hash when the file claims none', () => {
    expect(a1111ShortHash(ADDNET)).toBe('ffffffff0123');
    expect(a1111ShortHash(ADDNET, '')).toBe('ffffffff0123');
  });

  it('takes sshs_model_hash when the file has one, lower case, cut to 12', () => {
    expect(a1111ShortHash(ADDNET, 'ABCDEF0123456789'.repeat(4))).toBe('abcdef012345');
    expect(a1111ShortHash(ADDNET, '0123456789ab')).toBe('0123456789ab');
  });

  it('ignores an sshs_model_hash that is not 12 to 64 hex digits', () => {
    for (const bad of ['0123456789a', 'not a hash at all', `${ADDNET}0`, '0123456789ab, x']) {
      expect(a1111ShortHash(ADDNET, bad)).toBe('ffffffff0123');
    }
  });
});

describe('LoRA file hashes', () => {
  it('addnet covers the bytes after the header; the short hash is its prefix, not the whole-file one', async () => {
    const path = join(dir, 'plain.safetensors');
    await writeSafetensors(path, tensors(), { ss_output_name: 'plain' });
    const want = independent(path);
    const h = await hashLoraFile(path);
    expect(h).toEqual({ sha256: want.sha256, autoV2: want.sha256.slice(0, 10), addnet: want.addnet, a1111: want.addnet.slice(0, 12) });
    expect(h.a1111).toMatch(/^[0-9a-f]{12}$/);
    expect(h.a1111).not.toBe(want.sha256.slice(0, 12));
    expect(await loraFileHashes(path)).toEqual({ sha256: want.sha256, a1111: want.addnet.slice(0, 12) });
  });

  it('loraFileHashes takes the sshs_model_hash from the file header', async () => {
    const path = join(dir, 'claimed.safetensors');
    await writeSafetensors(path, tensors(), { sshs_model_hash: '9876543210FEDCBA'.repeat(4) });
    expect((await loraFileHashes(path)).a1111).toBe('9876543210fe');
  });

  it('remembers both hashes by path, size and mtime, sharing the sha256 entry with hashFile', async () => {
    const path = join(dir, 'memo.safetensors');
    const when = new Date('2024-01-01T00:00:00Z');
    await writeSafetensors(path, tensors(1));
    await utimes(path, when, when);
    const first = independent(path);
    const cache = new Map<string, string>();
    expect(await loraFileHashes(path, cache)).toEqual({ sha256: first.sha256, a1111: first.addnet.slice(0, 12) });
    expect(cache.size).toBe(2);
    expect(await hashFile(path, cache)).toBe(first.sha256);
    expect(cache.size).toBe(2);

    // other weights, same size and mtime: the memo answers, so the file was not read again
    await writeSafetensors(path, tensors(2));
    await utimes(path, when, when);
    const second = independent(path);
    expect(second.addnet).not.toBe(first.addnet);
    expect(await loraFileHashes(path, cache)).toEqual({ sha256: first.sha256, a1111: first.addnet.slice(0, 12) });

    // a new mtime is a new key: read again
    const later = new Date(when.getTime() + 5000);
    await utimes(path, later, later);
    expect(await loraFileHashes(path, cache)).toEqual({ sha256: second.sha256, a1111: second.addnet.slice(0, 12) });
  });
});
