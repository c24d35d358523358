import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addLoraBranches } from '../../src/engine/onnx/branches';
import { readModel, rewriteCacheKey, writeModel } from '../../src/engine/onnx/io';
import { externalInfo, isExternal, metadata } from '../../src/engine/onnx/proto';
import { findLoraTargets } from '../../src/engine/onnx/targets';
import { branchFeeds, fixture, loadFixture, runModel, runSession, unetFeeds } from './helpers';

let cache: string;

beforeAll(() => {
  cache = fs.mkdtempSync(path.join(os.tmpdir(), 'chord-onnx-io-'));
});

afterAll(() => {
  fs.rmSync(cache, { recursive: true, force: true });
});

/** name -> [size, mtime, inode] of every file in a folder */
function snapshot(dir: string): Record<string, [number, number, number]> {
  const out: Record<string, [number, number, number]> = {};
  for (const f of fs.readdirSync(dir)) {
    const s = fs.statSync(path.join(dir, f));
    out[f] = [s.size, s.mtimeMs, s.ino];
  }
  return out;
}

async function runFile(file: string) {
  return runSession(await InferenceSession.create(file), unetFeeds(8));
}

describe('readModel / writeModel', () => {
  it('resolves external weights to absolute paths on read', async () => {
    const model = await readModel(fixture('external/model.onnx'));
    const external = (model.graph?.initializer ?? []).filter(isExternal);
    expect(external.length).toBeGreaterThan(10);
    expect(new Set(external.map((t) => externalInfo(t).location))).toEqual(new Set([fixture('external/weights.pb')]));
  });

  it('writes a rewritten external-data model into another folder, hard-linking the weights', async () => {
    const source = fixture('external');
    const before = snapshot(source);
    const model = await readModel(path.join(source, 'model.onnx'));
    const targets = findLoraTargets(model, 'unet');
    const rewritten = addLoraBranches(model, targets);
    const out = path.join(cache, 'linked', 'unet.onnx');
    await writeModel(rewritten, out);

    expect(fs.readdirSync(path.dirname(out)).sort()).toEqual(['unet.onnx', 'weights.pb']);
    const linked = fs.statSync(path.join(path.dirname(out), 'weights.pb'));
    const original_ = fs.statSync(path.join(source, 'weights.pb'));
    // a hard link where the cache is on the same file system (else a copy)
    if (linked.dev === original_.dev) expect(linked.ino).toBe(original_.ino);
    expect(snapshot(source)).toEqual(before); // the user's model folder is untouched

    // ONNX Runtime loads it from the cache folder; with rank 0 it is the original UNet
    const original = await runModel(await loadFixture('tiny_unet.onnx'), unetFeeds(8));
    const session = await InferenceSession.create(out);
    expect(session.inputNames).toContain('lora.gate');
    const zero = await runSession(session, { ...unetFeeds(8), ...branchFeeds(targets, [], [[], []]) });
    expect(Array.from(zero.out_sample.data)).toEqual(Array.from(original.out_sample.data));
    const reread = await readModel(out);
    expect(metadata(reread)['chord.rewrite']).toBeDefined();
    expect(externalInfo((reread.graph?.initializer ?? []).find(isExternal) ?? {}).location).toBe(path.join(path.dirname(out), 'weights.pb'));
    const plain = path.join(cache, 'plain', 'unet.onnx');
    await writeModel(model, plain);
    const out2 = await runFile(plain);
    expect(Array.from(out2.out_sample.data)).toEqual(Array.from(original.out_sample.data));

    // writing again reuses the link
    await writeModel(rewritten, out);
    expect(fs.readdirSync(path.dirname(out)).sort()).toEqual(['unet.onnx', 'weights.pb']);
  });

  it('can copy the weights instead of linking', async () => {
    const model = await readModel(fixture('external/model.onnx'));
    const out = path.join(cache, 'copied', 'model.onnx');
    await writeModel(model, out, { externalData: 'copy' });
    const copy = path.join(cache, 'copied', 'weights.pb');
    expect(fs.statSync(copy).ino).not.toBe(fs.statSync(fixture('external/weights.pb')).ino);
    expect(fs.readFileSync(copy).equals(fs.readFileSync(fixture('external/weights.pb')))).toBe(true);
    const original = await runModel(await loadFixture('tiny_unet.onnx'), unetFeeds(8));
    expect(Array.from((await runFile(out)).out_sample.data)).toEqual(Array.from(original.out_sample.data));
  });

  it('moves big inline tensors to <model>.data when the model would be too large for one message', async () => {
    const model = await loadFixture('tiny_unet.onnx');
    const out = path.join(cache, 'split', 'unet.onnx');
    await writeModel(model, out, { maxInlineBytes: 4096 });
    expect(fs.readdirSync(path.dirname(out)).sort()).toEqual(['unet.onnx', 'unet.onnx.data']);
    const reread = await readModel(out);
    const external = (reread.graph?.initializer ?? []).filter(isExternal);
    expect(external.length).toBeGreaterThan(5);
    expect(external.every((t) => Number(externalInfo(t).offset) % 64 === 0)).toBe(true);
    const original = await runModel(model, unetFeeds(8));
    expect(Array.from((await runFile(out)).out_sample.data)).toEqual(Array.from(original.out_sample.data));
  });

  it('leaves no temp files behind and overwrites atomically', async () => {
    const model = await loadFixture('tiny_unet.onnx');
    const out = path.join(cache, 'atomic', 'unet.onnx');
    await writeModel(model, out);
    await writeModel(model, out);
    expect(fs.readdirSync(path.dirname(out))).toEqual(['unet.onnx']);
  });

  it('reports missing files, missing weights and non-ONNX files as user errors', async () => {
    await expect(readModel(path.join(cache, 'none.onnx'))).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
    const junk = path.join(cache, 'junk.onnx');
    fs.writeFileSync(junk, 'this is not a protobuf \u00ff\u00ff\u00ff\u00ff\u00ff');
    await expect(readModel(junk)).rejects.toMatchObject({ code: 'MODEL_INVALID' });
    const orphan = path.join(cache, 'orphan');
    fs.mkdirSync(orphan);
    fs.copyFileSync(fixture('external/model.onnx'), path.join(orphan, 'model.onnx'));
    await expect(readModel(path.join(orphan, 'model.onnx'))).rejects.toMatchObject({ code: 'FILE_NOT_FOUND', message: expect.stringContaining('weights.pb') });
  });
});

describe('rewriteCacheKey', () => {
  it('is a stable file-name-safe key of the source hash and the rewrite version', () => {
    const key = rewriteCacheKey('abc123', 'chord-lora-branches/1');
    expect(key).toMatch(/^[0-9a-f]{32}$/);
    expect(rewriteCacheKey('abc123', 'chord-lora-branches/1')).toBe(key);
    expect(rewriteCacheKey('abc124', 'chord-lora-branches/1')).not.toBe(key);
    expect(rewriteCacheKey('abc123', 'chord-lora-branches/2')).not.toBe(key);
  });
});
