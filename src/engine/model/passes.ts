/**
 * The graph passes of a model's own graphs (graph-passes.ts): fp16 -> fp32 for the CPU, and the
 * run-time LoRA branches (docs/runtime-lora.md), whose feeds the LoRA stack binds
 * (lora-stack.ts). The UNet cut has passes of its own (unet-cut-passes.ts).
 */
import { ChordError } from '../errors';
import type { LoraTarget, ModelPart } from '../lora/types';
import { addLoraBranches, findLoraTargets, LORA_REWRITE_VERSION, upcastToFloat32 } from '../onnx';
import type { GraphPass } from './graph-passes';

/** Bump when the upcast changes what it writes. */
const UPCAST_VERSION = 'chord-upcast/1';

/** An fp16 graph upcast for the CPU provider, which has few float16 kernels. */
export const UPCAST_PASS: GraphPass = {
  key: 'fp32',
  version: UPCAST_VERSION,
  rewrite: (model) => ({ model: upcastToFloat32(model) }),
};

/**
 * Every targetable layer of the text encoder or UNet gets a run-time LoRA branch. `convSum`
 * 'fused' sums conv branches inside ONNX Runtime's FusedConv, a kernel only the CPU (and CUDA)
 * providers have: the engine uses it for CPU sessions. Info: the LoRA targets (LoraTarget[]).
 */
export function loraPass(convSum: 'add' | 'fused'): GraphPass {
  return {
    key: convSum === 'fused' ? 'lora-cpu' : 'lora',
    version: LORA_REWRITE_VERSION,
    rewrite(model, part) {
      if (part === 'vae_decoder') throw new RangeError('LoRA branches are for the text encoder and UNet');
      const targets: LoraTarget[] = findLoraTargets(model, part as ModelPart);
      if (targets.length === 0) {
        throw new ChordError('MODEL_INVALID', `the ${part} graph has no layer a LoRA can attach to.`, 'The graph was exported in a way Chord does not recognise; re-export it with the standard diffusers exporter.');
      }
      return { model: addLoraBranches(model, targets, { convSum }), info: targets };
    },
  };
}

export const LORA_PASS = loraPass('add');
export const LORA_CPU_PASS = loraPass('fused');

/** Whether a chain carries LoRA branches (either form). */
export function hasLoraPass(passes: readonly GraphPass[]): boolean {
  return passes.some((p) => p === LORA_PASS || p === LORA_CPU_PASS);
}
