import { describe, expect, it } from 'vitest';
import {
  a1111SamplerName,
  formatA1111Parameters,
  parseA1111Parameters,
  quoteA1111,
  samplerFromA1111,
  unquoteA1111,
} from '../../src/engine/png/a1111';
import { sampleRecord } from './fixtures';

// An infotext as A1111 1.10 writes it: multi-line prompt and negative prompt, LoRA tags,
// quoted values (with escaped quotes), extension keys such as ADetailer and TI hashes.
const A1111_TEXT = [
  'masterpiece, best quality, 1girl, solo, <lora:aliceStyle_v2:0.8>, (detailed eyes:1.2),',
  'standing in a field of flowers, <lora:add_detail:0.5:0.3>, <lora:noWeight>',
  'Negative prompt: (worst quality, low quality:1.4), bad hands,',
  'extra fingers',
  'Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3141592653, Size: 512x768, ' +
    'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.45, Clip skip: 2, ' +
    'ADetailer prompt: "a \\"happy\\" face, smiling", Hires upscale: 2, Hires steps: 10, ' +
    'Hires upscaler: R-ESRGAN 4x+ Anime6B, Lora hashes: "aliceStyle_v2: 0123456789ab, add_detail: 7c6bad76eb54", ' +
    'TI hashes: "easynegative: c74b4e810b03", Version: v1.10.1',
].join('\n');

describe('formatA1111Parameters', () => {
  it('writes the exact A1111 infotext for a known settings set', () => {
    const text = formatA1111Parameters(sampleRecord({ width: 512, height: 512 }));
    expect(text).toBe(
      'a castle on a hill, golden hour <lora:castleStyle:0.8> <lora:knight:1>\n' +
        'Negative prompt: blurry, lowres\n' +
        'Steps: 20, Sampler: Euler a, Schedule type: Karras, CFG scale: 7, Seed: 1234, Size: 512x512, ' +
        'Model hash: 1a2b3c4d5e, Model: dreamshaper-8, Lora hashes: "castleStyle: 5e1f00c0ffee, knight: 7d2b11aa0042", ' +
        'Composition: "cmlora (c1 2, c2 3, cache true; order knight, castleStyle)", Version: chord 0.1.0',
    );
  });

  it('omits an empty negative prompt, no LoRAs, and tags on request; Uniform without Karras', () => {
    const text = formatA1111Parameters(
      sampleRecord({ negativePrompt: '', loras: [], ordering: { rule: 'as-listed', order: [] }, karras: false, sampler: 'ddim', cfg: 7.5 }),
      { loraTags: false },
    );
    expect(text).toBe(
      'a castle on a hill, golden hour\n' +
        'Steps: 20, Sampler: DDIM, Schedule type: Uniform, CFG scale: 7.5, Seed: 1234, Size: 8x4, ' +
        'Model hash: 1a2b3c4d5e, Model: dreamshaper-8, Composition: "cmlora (c1 2, c2 3, cache true)", Version: chord 0.1.0',
    );
    // Merge, what every tool does, is not named
    expect(formatA1111Parameters(sampleRecord({ method: 'merge', methodOptions: {} }))).not.toContain('Composition');
  });

  it('quotes values holding commas or colons, and strips them from LoRA names', () => {
    const record = sampleRecord({ model: { name: 'my:model, v2', hash: sampleRecord().model.hash } });
    record.loras[0].name = 'odd:name,1';
    const text = formatA1111Parameters(record, { loraTags: false });
    expect(text).toContain('Model: "my:model, v2"');
    expect(text).toContain('Lora hashes: "oddname1: 5e1f00c0ffee, knight: 7d2b11aa0042"');
  });

  it('writes "Lora hashes" from a1111Hash only, never from the whole-file hash', () => {
    // a record of Chord 0.1.0 has no a1111Hash: that LoRA is left out, as A1111 does without a short hash
    const record = sampleRecord();
    delete record.loras[0].a1111Hash;
    const text = formatA1111Parameters(record);
    expect(text).toContain('Lora hashes: "knight: 7d2b11aa0042"');
    expect(text).not.toContain(record.loras[0].fileHash.slice(0, 12));
    expect(text.split('\n')[0]).toContain('<lora:castleStyle:0.8>');
    for (const l of record.loras) delete l.a1111Hash;
    expect(formatA1111Parameters(record)).not.toContain('Lora hashes');
  });

  it('does not repeat a LoRA tag the prompt already has', () => {
    const text = formatA1111Parameters(sampleRecord({ prompt: 'castle <lora:castleStyle:0.5>' }));
    expect(text.split('\n')[0]).toBe('castle <lora:castleStyle:0.5> <lora:knight:1>');
  });

  it('keeps the prompt as typed (tags without weight, emphasis, embeddings) and adds TI hashes', () => {
    const typed = '(castle:1.2) BREAK [fog], myEmb <lora:castleStyle>';
    const text = formatA1111Parameters(
      sampleRecord({
        prompt: typed,
        loras: [
          { name: 'castleStyle', fileHash: 'a'.repeat(64), a1111Hash: '0123456789ab', weight: 1, promptTag: true },
          { name: 'knight', fileHash: 'b'.repeat(64), a1111Hash: 'ba9876543210', weight: 0.6, textEncoderWeight: 0.3 },
        ],
        ordering: { rule: 'as-listed', order: [0, 1] },
        embeddings: [{ name: 'myEmb', fileHash: 'c74b4e810b03'.padEnd(64, '0') }],
      }),
    );
    expect(text.split('\n')[0]).toBe(`${typed} <lora:knight:0.3:0.6>`);
    expect(text).toContain('Lora hashes: "castleStyle: 0123456789ab, knight: ba9876543210", TI hashes: "myEmb: c74b4e810b03", ');
    const back = parseA1111Parameters(text);
    expect(back.tiHashes).toEqual([{ name: 'myEmb', hash: 'c74b4e810b03' }]);
    expect(back.prompt).toBe(`${typed} <lora:knight:0.3:0.6>`);
  });

  it('adds no tag for a LoRA the prompt named by its alias', () => {
    const text = formatA1111Parameters(
      sampleRecord({ prompt: 'castle <lora:castle_v2:0.5>', loras: [{ name: 'castleStyle', fileHash: 'a'.repeat(64), weight: 0.5, promptTag: true }], ordering: { rule: 'as-listed', order: [0] } }),
    );
    expect(text.split('\n')[0]).toBe('castle <lora:castle_v2:0.5>');
  });

  it('keeps a multi-line, non-ASCII prompt as it is', () => {
    const text = formatA1111Parameters(sampleRecord({ prompt: '城の絵\nwith a moat', loras: [], ordering: { rule: 'as-listed', order: [] } }));
    expect(text.startsWith('城の絵\nwith a moat\nNegative prompt: blurry, lowres\nSteps: 20,')).toBe(true);
  });
});

describe('parseA1111Parameters', () => {
  it('reads an infotext made by A1111 itself', () => {
    const p = parseA1111Parameters(A1111_TEXT);
    expect(p.prompt).toBe(
      'masterpiece, best quality, 1girl, solo, <lora:aliceStyle_v2:0.8>, (detailed eyes:1.2),\n' +
        'standing in a field of flowers, <lora:add_detail:0.5:0.3>, <lora:noWeight>',
    );
    expect(p.negativePrompt).toBe('(worst quality, low quality:1.4), bad hands,\nextra fingers');
    expect(p).toMatchObject({
      steps: 28,
      sampler: 'DPM++ 2M',
      scheduleType: 'Karras',
      cfgScale: 6.5,
      seed: 3141592653,
      width: 512,
      height: 768,
      modelHash: '6ce0161689',
      model: 'v1-5-pruned-emaonly',
      version: 'v1.10.1',
    });
    expect(p.loraHashes).toEqual([
      { name: 'aliceStyle_v2', hash: '0123456789ab' },
      { name: 'add_detail', hash: '7c6bad76eb54' },
    ]);
    expect(p.loraTags).toEqual([
      { name: 'aliceStyle_v2', weight: 0.8 },
      { name: 'add_detail', weight: 0.5 },
      { name: 'noWeight', weight: 1 },
    ]);
    expect(p.extra).toEqual({
      'Denoising strength': '0.45',
      'Clip skip': '2',
      'ADetailer prompt': 'a "happy" face, smiling',
      'Hires upscale': '2',
      'Hires steps': '10',
      'Hires upscaler': 'R-ESRGAN 4x+ Anime6B',
    });
    expect(p.tiHashes).toEqual([{ name: 'easynegative', hash: 'c74b4e810b03' }]);
  });

  it('takes a text without a settings line as all prompt', () => {
    const p = parseA1111Parameters('a cat: sitting, on a mat\n  second line  ');
    expect(p.prompt).toBe('a cat: sitting, on a mat\nsecond line');
    expect(p.negativePrompt).toBe('');
    expect(p.steps).toBeUndefined();
    expect(p.extra).toEqual({});
  });

  it('reads a settings line with no prompt, CRLF line ends, and pre-1.9 sampler names', () => {
    const p = parseA1111Parameters('Negative prompt: ugly\r\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: -1x');
    expect(p.prompt).toBe('');
    expect(p.negativePrompt).toBe('ugly');
    expect(p.sampler).toBe('DPM++ 2M Karras');
    expect(p.seed).toBeUndefined(); // not a number: kept as text
    expect(p.extra).toEqual({ Seed: '-1x' });
    expect(samplerFromA1111(p.sampler ?? '')).toEqual({ sampler: 'dpmpp-2m', karras: true });
  });

  it('reads back what formatA1111Parameters wrote', () => {
    const record = sampleRecord({ prompt: 'line one\nline two', width: 640, height: 384 });
    const p = parseA1111Parameters(formatA1111Parameters(record));
    expect(p.prompt).toBe('line one\nline two <lora:castleStyle:0.8> <lora:knight:1>');
    expect(p.negativePrompt).toBe(record.negativePrompt);
    expect(p).toMatchObject({ steps: 20, sampler: 'Euler a', scheduleType: 'Karras', cfgScale: 7, seed: 1234, width: 640, height: 384 });
    expect(p.modelHash).toBe(record.model.hash.slice(0, 10));
    expect(p.loraHashes.map((l) => l.hash)).toEqual(record.loras.map((l) => l.a1111Hash));
    expect(p.loraTags).toEqual([{ name: 'castleStyle', weight: 0.8 }, { name: 'knight', weight: 1 }]);
    expect(p.version).toBe('chord 0.1.0');
  });
});

describe('A1111 names and quoting', () => {
  it('maps sampler ids to display names and back', () => {
    expect(['euler-a', 'euler_a', 'euler', 'dpmpp-2m', 'ddim', 'lcm', 'mystery'].map(a1111SamplerName)).toEqual([
      'Euler a', 'Euler a', 'Euler', 'DPM++ 2M', 'DDIM', 'LCM', 'mystery',
    ]);
    expect(samplerFromA1111('Euler a')).toEqual({ sampler: 'euler-a', karras: false });
    expect(samplerFromA1111('Restart')).toBeUndefined();
  });

  it('quotes like json.dumps(ensure_ascii=False) and unquotes back', () => {
    expect(quoteA1111('plain text')).toBe('plain text');
    expect(quoteA1111(7.5)).toBe('7.5');
    expect(quoteA1111('a "b", ü\n')).toBe('"a \\"b\\", ü\\n"');
    expect(unquoteA1111('"a \\"b\\", ü\\n"')).toBe('a "b", ü\n');
    expect(unquoteA1111('"broken')).toBe('"broken');
  });
});
