/**
 * `chord lora fuse` on a folder that holds only some components (a UNet fine-tune shipped as unet/
 * alone): what is there is fused exactly as in a complete folder, and the skipped part is reported.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/engine/cli';
import { ChordError } from '../../src/engine/errors';
import { fuseLorasIntoFolder } from '../../src/engine/model/fuse';
import { writeSafetensors, type TensorToWrite } from '../../src/engine/safetensors';
import { withSafetensors } from '../../src/engine/safetensors/reader';
import { makeTmpDir } from './helpers';

const GLYPH = resolve('models/glyph-sd');
const ZORB = join(GLYPH, 'loras', 'zorb.safetensors');
const tmp = makeTmpDir('chord-fuse-');
afterAll(() => tmp.cleanup());

/** A folder with only the given components of the demo model. */
function partialModel(name: string, parts: string[]): string {
  const dir = join(tmp.dir, name);
  mkdirSync(dir);
  for (const p of parts) cpSync(join(GLYPH, p), join(dir, p), { recursive: true });
  return dir;
}

describe('lora fuse on a partial model folder', () => {
  it('fuses the UNet of a unet/-only folder exactly as in the complete folder, and counts the skipped text-encoder modules', async () => {
    const unetOnly = partialModel('unet-only', ['unet']);
    const partial = await fuseLorasIntoFolder(unetOnly, [{ path: ZORB, weight: 0.8 }], join(tmp.dir, 'out-partial'));
    const full = await fuseLorasIntoFolder(GLYPH, [{ path: ZORB, weight: 0.8 }], join(tmp.dir, 'out-full'));

    expect(partial.fusedParts).toEqual(['unet']);
    expect(partial.absentParts).toEqual(['text_encoder']);
    // zorb has 18 text-encoder modules (54 tensors: down, up, alpha each)
    expect(partial.loras[0].absentModules).toEqual({ text_encoder: 18 });
    expect(partial.loras[0].fusedModules + 18).toBe(full.loras[0].fusedModules);
    expect(full.absentParts).toEqual([]);
    expect(full.loras[0].absentModules).toEqual({});

    expect(readdirSync(partial.outDir)).toEqual(['unet']);
    const unet = (r: { outDir: string }) => readFileSync(join(r.outDir, 'unet', 'model.onnx'));
    expect(unet(partial).equals(unet(full))).toBe(true);
    expect(unet(partial).equals(readFileSync(join(GLYPH, 'unet', 'model.onnx')))).toBe(false);
  });

  it('the CLI says what was skipped', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const outDir = join(tmp.dir, 'out-cli');
    const code = await runCli(['lora', 'fuse', '--model', join(tmp.dir, 'unet-only'), '--lora', `${ZORB}:0.5`, '--out', outDir], { out: (l) => out.push(l), err: (l) => err.push(l) });
    expect(err).toEqual([]);
    expect(code).toBe(0);
    expect(out[0]).toMatch(/; fused \d+ modules, skipped 18 text_encoder modules \(no text_encoder\/ in the model folder\)$/);
    expect(out).toContain('note: the model folder has no text_encoder/; fused unet/ only.');
    expect(existsSync(join(outDir, 'unet', 'model.onnx'))).toBe(true);
  });

  it('a LoRA with modules only for the absent component: nothing to fuse, nothing written', async () => {
    const teOnly = partialModel('te-only', ['text_encoder']);
    // zorb's UNet modules alone: nothing of it fits a folder that has only the text encoder
    const unetLora = join(tmp.dir, 'unet-part.safetensors');
    await withSafetensors(ZORB, async (f) => {
      const tensors: Record<string, TensorToWrite> = {};
      for (const n of f.names().filter((x) => x.startsWith('lora_unet_'))) tensors[n] = { dtype: 'F32', shape: f.info(n).shape, data: await f.readFloat32(n) };
      await writeSafetensors(unetLora, tensors);
    });
    const outDir = join(tmp.dir, 'out-nothing');
    const e = await fuseLorasIntoFolder(teOnly, [{ path: unetLora, weight: 1 }], outDir).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ChordError);
    expect((e as ChordError).message).toMatch(/^Nothing to fuse: the LoRAs have no modules Chord can merge into text_encoder\/, the only component in /);
    expect(existsSync(outDir)).toBe(false);
  });

  it('a folder with neither graph is refused in one line', async () => {
    const empty = partialModel('no-graphs', ['scheduler']);
    const e = await fuseLorasIntoFolder(empty, [{ path: ZORB, weight: 1 }], join(tmp.dir, 'out-none')).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ChordError);
    expect((e as ChordError).message).toMatch(/no-graphs has neither text_encoder\/model\.onnx nor unet\/model\.onnx, so there is nothing to fuse LoRAs into\.$/);
  });
});
