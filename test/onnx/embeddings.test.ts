import { Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { addEmbeddingRows, EXTRA_ROWS_INPUT } from '../../src/engine/onnx/embeddings';
import { tensorFloat32 } from '../../src/engine/onnx/proto';
import { readModel } from '../../src/engine/onnx/io';
import { runModel, loadFixture } from './helpers';

const GLYPH_TE = 'models/glyph-sd/text_encoder/model.onnx';

function tableOf(model: Awaited<ReturnType<typeof readModel>>): Float32Array {
  const t = model.graph?.initializer?.find((i) => i.name === 'text_model.embeddings.token_embedding.weight');
  if (!t) throw new Error('no token table');
  return tensorFloat32(t);
}

const ids = (type: 'int64' | 'int32', values: number[], length: number) =>
  type === 'int64' ? new Tensor('int64', BigInt64Array.from(values.map(BigInt)), [values.length / length, length]) : new Tensor('int32', Int32Array.from(values), [values.length / length, length]);

describe.each([
  { name: 'tiny text encoder', file: 'tiny', vocab: 16, width: 8, length: 4, idType: 'int64' as const },
  { name: 'glyph-sd text encoder', file: GLYPH_TE, vocab: 250, width: 64, length: 77, idType: 'int32' as const },
])('addEmbeddingRows on the $name', ({ file, vocab, width, length, idType }) => {
  const load = () => (file === 'tiny' ? loadFixture('tiny_text_encoder.onnx') : readModel(file));
  const prompt = (a: number, b: number) => {
    const v = new Array<number>(length).fill(vocab - 1);
    v[0] = vocab - 2;
    v[1] = a;
    v[2] = b;
    return v;
  };

  it('finds the token table and adds an extra-rows input', async () => {
    const { model, table } = addEmbeddingRows(await load());
    expect(table).toMatchObject({ vocabSize: vocab, width });
    expect(model.graph?.input?.map((i) => i.name)).toContain(EXTRA_ROWS_INPUT);
  });

  it('gives the original output bit for bit for ordinary ids, and a placeholder id picks its fed row', async () => {
    const original = await load();
    const { model } = addEmbeddingRows(original);
    const table = tableOf(original);
    const r = 3;
    // two extra rows: a copy of row r and something else
    const extra = new Float32Array(2 * width);
    extra.set(table.subarray(r * width, (r + 1) * width), 0);
    extra.fill(0.25, width);
    const plainIds = prompt(r, 5);
    const before = await runModel(original, { input_ids: ids(idType, plainIds, length) });
    const after = await runModel(model, { input_ids: ids(idType, plainIds, length), [EXTRA_ROWS_INPUT]: new Tensor('float32', extra, [2, width]) });
    const out = Object.keys(before)[0];
    expect(after[out].data).toEqual(before[out].data);
    // the placeholder id vocab + 0 stands for row r: same output as the id r itself
    const viaPlaceholder = await runModel(model, { input_ids: ids(idType, prompt(vocab, 5), length), [EXTRA_ROWS_INPUT]: new Tensor('float32', extra, [2, width]) });
    expect(viaPlaceholder[out].data).toEqual(before[out].data);
    // another row changes it
    const other = await runModel(model, { input_ids: ids(idType, prompt(vocab + 1, 5), length), [EXTRA_ROWS_INPUT]: new Tensor('float32', extra, [2, width]) });
    expect(other[out].data).not.toEqual(before[out].data);
  });

  it('runs with zero extra rows', async () => {
    const original = await load();
    const { model } = addEmbeddingRows(original);
    const before = await runModel(original, { input_ids: ids(idType, prompt(1, 2), length) });
    const after = await runModel(model, { input_ids: ids(idType, prompt(1, 2), length), [EXTRA_ROWS_INPUT]: new Tensor('float32', new Float32Array(0), [0, width]) });
    const out = Object.keys(before)[0];
    expect(after[out].data).toEqual(before[out].data);
  });

  it('refuses to rewrite twice', async () => {
    const { model } = addEmbeddingRows(await load());
    expect(() => addEmbeddingRows(model)).toThrow(/already/);
  });
});
