import { cpSync, utimesSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { derivedGraph } from '../../src/engine/model/derived-graphs';
import { LORA_CPU_PASS, LORA_PASS } from '../../src/engine/model/passes';
import { readModel } from '../../src/engine/onnx';
import { makeTmpDir } from './helpers';

describe('derived graph cache', () => {
  const tmp = makeTmpDir('chord-derived-');
  afterAll(tmp.cleanup);

  it('is keyed by the external weights too, not only model.onnx', async () => {
    const model = join(tmp.dir, 'unet');
    cpSync(resolve('test/fixtures/onnx/external'), model, { recursive: true });
    const cache = join(tmp.dir, 'cache');
    const first = await derivedGraph(join(model, 'model.onnx'), 'unet', [LORA_PASS], cache);
    const again = await derivedGraph(join(model, 'model.onnx'), 'unet', [LORA_PASS], cache);
    expect(again.path).toBe(first.path);
    // same model.onnx, re-exported weights: a new cache entry, never the stale one
    utimesSync(join(model, 'weights.pb'), new Date(), new Date(Date.now() + 60_000));
    const after = await derivedGraph(join(model, 'model.onnx'), 'unet', [LORA_PASS], cache);
    expect(after.path).not.toBe(first.path);
  });

  it('keeps the CPU form (conv branches in FusedConv) apart from the form every provider runs', async () => {
    const unet = resolve('test/fixtures/onnx/tiny_unet.onnx');
    const cache = join(tmp.dir, 'cache-cpu');
    const plain = await derivedGraph(unet, 'unet', [LORA_PASS], cache);
    const cpu = await derivedGraph(unet, 'unet', [LORA_CPU_PASS], cache);
    expect(cpu.path).not.toBe(plain.path);
    expect(cpu.targets).toEqual(plain.targets);
    const contrib = async (path: string) => ((await readModel(path)).graph?.node ?? []).filter((n) => n.domain === 'com.microsoft').length;
    expect(await contrib(plain.path)).toBe(0);
    expect(await contrib(cpu.path)).toBe(plain.targets.filter((t) => t.op === 'Conv').length);
  });
});
