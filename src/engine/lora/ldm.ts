/**
 * SD 1.5 original (LDM/SGM) UNet names -> diffusers module names, both in kohya's underscore form.
 * Some LoRA trainers name UNet modules after the original checkpoint
 * (`lora_unet_input_blocks_1_1_proj_in`) instead of diffusers (`lora_unet_down_blocks_0_attentions_0_proj_in`).
 *
 * SD 1.5 layout (4 levels, 2 resnets per down level, attentions in levels 0..2 / up levels 1..3):
 *   input_blocks.0            conv_in
 *   input_blocks.1,2 / 4,5 / 7,8 / 10,11   down_blocks.0..3: [.0 = resnets.k, .1 = attentions.k]
 *   input_blocks.3 / 6 / 9    down_blocks.0..2.downsamplers.0 (`.0.op` = `.conv`)
 *   middle_block.0 / 1 / 2    mid_block.resnets.0 / attentions.0 / resnets.1
 *   output_blocks.0..11       up_blocks[i / 3], k = i % 3: [.0 = resnets.k, .1 = attentions.k
 *                             (up_blocks.0 has none, so its upsampler is .1), .2 = upsamplers.0]
 *   time_embed.0 / .2         time_embedding.linear_1 / linear_2
 *   out.2                     conv_out
 * Inside resnets: in_layers.2 = conv1, out_layers.3 = conv2, emb_layers.1 = time_emb_proj,
 * skip_connection = conv_shortcut. Inside attentions the names are the same in both layouts.
 * SDXL uses different numbers (only 3 levels, 2 and 10 transformer blocks); a file in that layout
 * maps to the wrong places or to nothing, which the mapping turns into a clear error.
 */

const RESNET_PARTS: ReadonlyArray<readonly [string, string]> = [
  ['in_layers_2', 'conv1'],
  ['out_layers_3', 'conv2'],
  ['emb_layers_1', 'time_emb_proj'],
  ['skip_connection', 'conv_shortcut'],
];

function resnet(prefix: string, rest: string): string | undefined {
  for (const [ldm, diffusers] of RESNET_PARTS) if (rest === ldm) return `${prefix}_${diffusers}`;
  return undefined;
}

/** Translate an underscore-form SD 1.5 LDM UNet module name; `undefined` if it is not one. */
export function sd15LdmToDiffusers(name: string): string | undefined {
  if (name === 'input_blocks_0_0') return 'conv_in';
  if (name === 'out_2') return 'conv_out';
  if (name === 'time_embed_0') return 'time_embedding_linear_1';
  if (name === 'time_embed_2') return 'time_embedding_linear_2';

  let m = /^input_blocks_(\d+)_(\d+)_(.+)$/.exec(name);
  if (m) {
    const i = Number(m[1]);
    const j = Number(m[2]);
    const rest = m[3];
    if (i < 1 || i > 11) return undefined;
    if (i % 3 === 0) {
      // 3, 6, 9: the stride-2 conv of down_blocks 0..2
      return j === 0 && rest === 'op' ? `down_blocks_${i / 3 - 1}_downsamplers_0_conv` : undefined;
    }
    const block = Math.floor((i - 1) / 3);
    const k = (i - 1) % 3;
    if (j === 0) return resnet(`down_blocks_${block}_resnets_${k}`, rest);
    if (j === 1 && block < 3) return `down_blocks_${block}_attentions_${k}_${rest}`;
    return undefined;
  }

  m = /^middle_block_(\d+)_(.+)$/.exec(name);
  if (m) {
    const j = Number(m[1]);
    const rest = m[2];
    if (j === 0) return resnet('mid_block_resnets_0', rest);
    if (j === 1) return `mid_block_attentions_0_${rest}`;
    if (j === 2) return resnet('mid_block_resnets_1', rest);
    return undefined;
  }

  m = /^output_blocks_(\d+)_(\d+)_(.+)$/.exec(name);
  if (m) {
    const i = Number(m[1]);
    const j = Number(m[2]);
    const rest = m[3];
    if (i > 11) return undefined;
    const block = Math.floor(i / 3);
    const k = i % 3;
    if (j === 0) return resnet(`up_blocks_${block}_resnets_${k}`, rest);
    const isUpsampler = rest === 'conv' && k === 2 && block < 3 && j === (block === 0 ? 1 : 2);
    if (isUpsampler) return `up_blocks_${block}_upsamplers_0_conv`;
    if (j === 1 && block > 0) return `up_blocks_${block}_attentions_${k}_${rest}`;
    return undefined;
  }
  return undefined;
}
