import { describe, expect, it } from 'vitest';
import { DataType, metadata, type ModelProto } from '../../src/engine/onnx/proto';
import { upcastToFloat32 } from '../../src/engine/onnx/upcast';
import { loadFixture, relError, runModel, unetFeeds } from './helpers';

function float16Mentions(model: ModelProto): string[] {
  const g = model.graph ?? {};
  const found: string[] = [];
  for (const t of g.initializer ?? []) if (t.dataType === DataType.FLOAT16) found.push(`initializer ${t.name}`);
  for (const v of [...(g.input ?? []), ...(g.output ?? []), ...(g.valueInfo ?? [])]) {
    if (v.type?.tensorType?.elemType === DataType.FLOAT16) found.push(`value ${v.name}`);
  }
  for (const n of g.node ?? []) {
    for (const a of n.attribute ?? []) {
      if (a.t?.dataType === DataType.FLOAT16) found.push(`attribute ${n.name}.${a.name}`);
      if (n.opType === 'Cast' && a.name === 'to' && Number(a.i) === DataType.FLOAT16) found.push(`cast ${n.name}`);
    }
  }
  return found;
}

describe('upcastToFloat32', () => {
  it('turns an fp16 graph into a float32 one that computes the same within fp16 precision', async () => {
    const half = await loadFixture('tiny_unet_fp16.onnx');
    expect(float16Mentions(half).length).toBeGreaterThan(50);
    const up = upcastToFloat32(half);
    expect(float16Mentions(up)).toEqual([]);
    expect(metadata(up)['chord.upcast']).toBe('float16->float32');
    expect(up.graph?.node?.length).toBe(half.graph?.node?.length);

    const reference = await runModel(await loadFixture('tiny_unet.onnx'), unetFeeds(2));
    const out = await runModel(up, unetFeeds(2)); // float32 feeds
    const err = relError(out.out_sample.data, reference.out_sample.data);
    expect(err).toBeLessThan(3e-3); // the weights were rounded to fp16 once
    expect(err).toBeGreaterThan(0);
    expect(float16Mentions(half).length).toBeGreaterThan(50); // input untouched
  });

  it('upcasts fp16-stored weights of a float32 graph; their Casts become no-ops', async () => {
    const mixed = await loadFixture('tiny_unet_castweights.onnx');
    const up = upcastToFloat32(mixed);
    expect(float16Mentions(up)).toEqual([]);
    const a = await runModel(mixed, unetFeeds(3));
    const b = await runModel(up, unetFeeds(3));
    expect(Array.from(b.out_sample.data)).toEqual(Array.from(a.out_sample.data));
  });

  it('leaves a float32 graph as it is', async () => {
    const model = await loadFixture('tiny_unet.onnx');
    const up = upcastToFloat32(model);
    expect(up.graph?.initializer?.every((t, i) => t === model.graph?.initializer?.[i])).toBe(true);
    expect(up.graph?.node?.every((n, i) => n === model.graph?.node?.[i])).toBe(true);
  });
});
