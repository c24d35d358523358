import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { extractLoraTags } from '../../src/engine/prompt/lora-tags';
import { listNamedFiles, mergeLoraRequests, resolveLoraTags } from '../../src/engine/prompt/library';
import { serializeSafetensors } from '../../src/engine/safetensors';
import { makeTmpDir } from '../pipeline/helpers';

describe('extractLoraTags', () => {
  it('removes the tags as A1111 does and reads their weights', () => {
    const r = extractLoraTags('masterpiece, (red scarf:1.3), <lora:zorb:0.8>, <lora:hat>, <lora:sunset:0.5:0.25> end');
    expect(r.prompt).toBe('masterpiece, (red scarf:1.3), , ,  end');
    expect(r.tags.map(({ name, textEncoderWeight, unetWeight }) => [name, textEncoderWeight, unetWeight])).toEqual([
      ['zorb', 0.8, 0.8],
      ['hat', 1, 1],
      ['sunset', 0.5, 0.25],
    ]);
  });

  it('reads te= and unet= by name, and lyco tags', () => {
    const r = extractLoraTags('<lora:a:unet=0.4:te=0.2><lyco:b:0.7>');
    expect(r.prompt).toBe('');
    expect(r.tags.map((t) => [t.name, t.textEncoderWeight, t.unetWeight])).toEqual([
      ['a', 0.2, 0.4],
      ['b', 0.7, 0.7],
    ]);
  });

  it('leaves text without tags alone', () => {
    expect(extractLoraTags('a <b> c: d').prompt).toBe('a <b> c: d');
  });

  it('refuses bad weights, other network types and unknown settings, naming the tag', () => {
    expect(() => extractLoraTags('<lora:zorb:abc>')).toThrow('The weight "abc" in <lora:zorb:abc> is not a number.');
    expect(() => extractLoraTags('<hypernet:x:1>')).toThrow(/<hypernet:x:1> is a "hypernet" network, which Chord does not support/);
    expect(() => extractLoraTags('<lora:x:dyn=4>')).toThrow(/setting "dyn"/);
    expect(() => extractLoraTags('<lora:x:1:1:1>')).toThrow(/more than two weights/);
  });
});

describe('LoRA lookup by name', () => {
  const tmp = makeTmpDir('chord-lora-dir-');
  afterAll(() => tmp.cleanup());
  const a = join(tmp.dir, 'a');
  const b = join(tmp.dir, 'b');
  mkdirSync(join(a, 'sub'), { recursive: true });
  mkdirSync(b);
  const empty = { x: { dtype: 'F32' as const, shape: [1], data: [0] } };
  writeFileSync(join(a, 'sub', 'zorb.safetensors'), serializeSafetensors(empty, { ss_output_name: 'zorb_v2' }));
  writeFileSync(join(b, 'zorb.safetensors'), serializeSafetensors(empty));
  writeFileSync(join(b, 'Other.safetensors'), serializeSafetensors(empty, { ss_output_name: 'aliased' }));
  writeFileSync(join(b, 'notes.txt'), 'not a LoRA');
  const tag = (name: string) => extractLoraTags(`<lora:${name}:1>`).tags;

  it('finds files in subfolders, the first folder first', async () => {
    expect((await listNamedFiles([a, b], ['.safetensors'], 'LoRA')).map((f) => f.name)).toEqual(['zorb', 'Other', 'zorb']);
    expect((await resolveLoraTags(tag('zorb'), [a, b]))[0].path).toBe(join(a, 'sub', 'zorb.safetensors'));
    expect((await resolveLoraTags(tag('zorb'), [b, a]))[0].path).toBe(join(b, 'zorb.safetensors'));
  });

  it('finds a LoRA by the alias in its metadata', async () => {
    expect((await resolveLoraTags(tag('aliased'), [a, b]))[0].path).toBe(join(b, 'Other.safetensors'));
    expect((await resolveLoraTags(tag('zorb_v2'), [b, a]))[0].path).toBe(join(a, 'sub', 'zorb.safetensors'));
  });

  it('names the folders searched for an unknown name, and a folder that is not there', async () => {
    await expect(resolveLoraTags(tag('nope'), [a, b])).rejects.toThrow(`No LoRA named "nope" (from <lora:nope:1>) in ${a}, ${b}.`);
    await expect(resolveLoraTags(tag('zorb'), [join(tmp.dir, 'missing')])).rejects.toThrow(/The LoRA folder .*missing cannot be read \(ENOENT\)/);
  });
});

describe('mergeLoraRequests', () => {
  const tag = (source: string, path: string, key: string) => ({ ...extractLoraTags(source).tags[0], path, key });

  it('keeps --lora entries first, then tags; one LoRA per file with the --lora weight', () => {
    const r = mergeLoraRequests(
      [{ path: 'x/zorb.safetensors', weight: 0.9, key: '/real/zorb' }],
      [tag('<lora:zorb:0.3>', '/l/zorb.safetensors', '/real/zorb'), tag('<lora:hat:0.5:0.7>', '/l/hat.safetensors', '/real/hat')],
    );
    expect(r.loras).toEqual([
      { path: 'x/zorb.safetensors', weight: 0.9, textEncoderWeight: 0.9 },
      { path: '/l/hat.safetensors', weight: 0.7, textEncoderWeight: 0.5, tagName: 'hat', promptTag: true },
    ]);
    expect(r.notices).toEqual(['<lora:zorb:0.3> in the prompt and --lora x/zorb.safetensors (weight 0.9) are the same file; using the weight of --lora x/zorb.safetensors (weight 0.9).']);
  });

  it('keeps the first of two tags for one file', () => {
    const r = mergeLoraRequests([], [tag('<lora:a:0.2>', '/a', '/a'), tag('<lora:a_alias:0.8>', '/a', '/a')]);
    expect(r.loras).toEqual([{ path: '/a', weight: 0.2, textEncoderWeight: 0.2, tagName: 'a', promptTag: true }]);
    expect(r.notices[0]).toMatch(/<lora:a_alias:0\.8> in the prompt and <lora:a:0\.2> are the same file; using the weight of <lora:a:0\.2>/);
  });
});
