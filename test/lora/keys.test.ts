import { describe, expect, it } from 'vitest';
import { groupLoraKeys, parseLoraKey } from '../../src/engine/lora/keys';
import { sd15LdmToDiffusers } from '../../src/engine/lora/ldm';
import { patternValue, peftConfigsFromMetadata } from '../../src/engine/lora/peft';

describe('parseLoraKey', () => {
  it('reads kohya names (underscore form, part from prefix)', () => {
    expect(parseLoraKey('lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight')).toMatchObject({
      part: 'unet',
      name: 'down_blocks_0_attentions_0_proj_in',
      dotted: false,
      role: 'down',
      style: 'kohya',
    });
    expect(parseLoraKey('lora_te_text_model_encoder_layers_0_mlp_fc1.alpha')).toMatchObject({ part: 'text_encoder', role: 'alpha' });
    expect(parseLoraKey('lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_up.weight')).toMatchObject({ part: 'text_encoder', sdxlTextEncoder: 2 });
    expect(parseLoraKey('lora_unet_x.hada_w1_a')).toMatchObject({ role: 'hada_w1_a' });
    expect(parseLoraKey('lora_unet_x.lokr_w1')).toMatchObject({ role: 'lokr_w1' });
    expect(parseLoraKey('lora_unet_x.lokr_w1_b')).toMatchObject({ role: 'lokr_w1_b' });
    expect(parseLoraKey('lora_unet_x.diff')).toMatchObject({ role: 'diff' });
    expect(parseLoraKey('lora_unet_x.dora_scale')).toMatchObject({ role: 'dora' });
  });

  it('reads PEFT / diffusers names with their prefixes', () => {
    expect(parseLoraKey('base_model.model.down_blocks.0.attentions.0.proj_in.lora_A.weight')).toMatchObject({
      part: 'unet',
      name: 'down_blocks.0.attentions.0.proj_in',
      dotted: true,
      role: 'down',
      style: 'peft',
    });
    expect(parseLoraKey('base_model.model.text_model.encoder.layers.0.self_attn.q_proj.lora_B.weight')).toMatchObject({
      part: 'text_encoder',
      name: 'text_model.encoder.layers.0.self_attn.q_proj',
      role: 'up',
    });
    expect(parseLoraKey('unet.mid_block.attentions.0.proj_in.lora.down.weight')).toMatchObject({ part: 'unet', name: 'mid_block.attentions.0.proj_in', style: 'diffusers' });
    expect(parseLoraKey('text_encoder.text_model.encoder.layers.0.mlp.fc1.lora_linear_layer.up.weight')).toMatchObject({
      part: 'text_encoder',
      name: 'text_model.encoder.layers.0.mlp.fc1',
      role: 'up',
    });
    expect(parseLoraKey('text_encoder_2.text_model.encoder.layers.0.mlp.fc1.lora_A.weight')).toMatchObject({ sdxlTextEncoder: 2 });
  });

  it('reads the attention-processor format (to_out_lora = to_out.0)', () => {
    expect(parseLoraKey('down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_out_lora.up.weight')).toMatchObject({
      part: 'unet',
      name: 'down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0',
      role: 'up',
      style: 'attn-procs',
    });
  });

  it('groups a module and lists what it cannot read', () => {
    const { groups, ignored } = groupLoraKeys([
      'lora_unet_a.lora_down.weight',
      'lora_unet_a.lora_up.weight',
      'lora_unet_a.alpha',
      'lora_unet_b.oft_blocks',
      'lora_unet_a.diff_b',
      'something_else',
    ]);
    expect(groups).toHaveLength(1);
    expect(groups[0].tensors).toEqual({ down: 'lora_unet_a.lora_down.weight', up: 'lora_unet_a.lora_up.weight', alpha: 'lora_unet_a.alpha' });
    expect(ignored.map((i) => i.reason)).toEqual(['OFT/BOFT (not supported)', 'bias update (not supported)', 'unknown tensor']);
  });
});

describe('sd15LdmToDiffusers', () => {
  const table: Array<[string, string | undefined]> = [
    ['input_blocks_0_0', 'conv_in'],
    ['input_blocks_1_0_in_layers_2', 'down_blocks_0_resnets_0_conv1'],
    ['input_blocks_1_1_proj_in', 'down_blocks_0_attentions_0_proj_in'],
    ['input_blocks_2_1_transformer_blocks_0_attn1_to_out_0', 'down_blocks_0_attentions_1_transformer_blocks_0_attn1_to_out_0'],
    ['input_blocks_3_0_op', 'down_blocks_0_downsamplers_0_conv'],
    ['input_blocks_4_0_skip_connection', 'down_blocks_1_resnets_0_conv_shortcut'],
    ['input_blocks_5_0_emb_layers_1', 'down_blocks_1_resnets_1_time_emb_proj'],
    ['input_blocks_6_0_op', 'down_blocks_1_downsamplers_0_conv'],
    ['input_blocks_8_1_transformer_blocks_0_attn2_to_k', 'down_blocks_2_attentions_1_transformer_blocks_0_attn2_to_k'],
    ['input_blocks_9_0_op', 'down_blocks_2_downsamplers_0_conv'],
    ['input_blocks_10_0_out_layers_3', 'down_blocks_3_resnets_0_conv2'],
    ['input_blocks_11_0_in_layers_2', 'down_blocks_3_resnets_1_conv1'],
    ['input_blocks_10_1_proj_in', undefined], // SD 1.5 down_blocks.3 has no attention
    ['input_blocks_12_0_in_layers_2', undefined],
    ['input_blocks_1_0_in_layers_0', undefined], // a norm, not a LoRA target
    ['middle_block_0_in_layers_2', 'mid_block_resnets_0_conv1'],
    ['middle_block_1_proj_out', 'mid_block_attentions_0_proj_out'],
    ['middle_block_2_emb_layers_1', 'mid_block_resnets_1_time_emb_proj'],
    ['output_blocks_0_0_skip_connection', 'up_blocks_0_resnets_0_conv_shortcut'],
    ['output_blocks_2_1_conv', 'up_blocks_0_upsamplers_0_conv'],
    ['output_blocks_2_1_proj_in', undefined], // up_blocks.0 has no attention
    ['output_blocks_3_1_proj_in', 'up_blocks_1_attentions_0_proj_in'],
    ['output_blocks_5_1_transformer_blocks_0_attn1_to_q', 'up_blocks_1_attentions_2_transformer_blocks_0_attn1_to_q'],
    ['output_blocks_5_2_conv', 'up_blocks_1_upsamplers_0_conv'],
    ['output_blocks_8_2_conv', 'up_blocks_2_upsamplers_0_conv'],
    ['output_blocks_11_1_transformer_blocks_0_ff_net_2', 'up_blocks_3_attentions_2_transformer_blocks_0_ff_net_2'],
    ['output_blocks_11_2_conv', undefined], // the last up block has no upsampler
    ['time_embed_0', 'time_embedding_linear_1'],
    ['time_embed_2', 'time_embedding_linear_2'],
    ['out_2', 'conv_out'],
    ['down_blocks_0_attentions_0_proj_in', undefined], // already diffusers
  ];
  for (const [ldm, diffusers] of table) {
    it(`${ldm} -> ${diffusers ?? '(none)'}`, () => expect(sd15LdmToDiffusers(ldm)).toBe(diffusers));
  }
});

describe('PEFT patterns', () => {
  it('matches a key at the end of the module name on a dot boundary', () => {
    const p = { 'attn1.to_q': 16, 'to_k': 2, 'ff\\.net\\.\\d\\.proj': 32 };
    expect(patternValue(p, 'down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q')).toBe(16);
    expect(patternValue(p, 'down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k')).toBe(2);
    expect(patternValue(p, 'mid_block.attentions.0.transformer_blocks.0.ff.net.0.proj')).toBe(32);
    expect(patternValue(p, 'x.add_to_k')).toBeUndefined();
    expect(patternValue(p, 'x.attn2.to_q')).toBeUndefined();
  });

  it('reads the diffusers lora_adapter_metadata per component', () => {
    const cfg = peftConfigsFromMetadata({
      lora_adapter_metadata: JSON.stringify({ 'unet.r': 4, 'unet.lora_alpha': 2, 'text_encoder.r': 8, 'text_encoder.lora_alpha': 16, 'text_encoder.use_rslora': true }),
    });
    expect(cfg?.unet).toMatchObject({ r: 4, loraAlpha: 2, useRsLora: false });
    expect(cfg?.text_encoder).toMatchObject({ r: 8, loraAlpha: 16, useRsLora: true });
    expect(peftConfigsFromMetadata({ lora_adapter_metadata: 'not json' })).toBeUndefined();
  });
});
