"""Export stages: the ONNX folder in the diffusers layout, the LoRA files (kohya, diffusers and PEFT
key formats) with kohya-style metadata and previews, and an SD 1.5-sized random UNet for benchmarks."""
import json
import os
import shutil
import struct

import numpy as np
import torch
import torch.nn as nn

import lora as loralib
import nets
import tokenizer as toklib
import world
from recipe import (CONCEPT_NAMES, LORA_ALPHA, LORA_RANK, OUT, WORK, grid, load_base, load_vae, log,
                    sample)

OPSET = 17
SCHEDULER_CONFIG = {
    '_class_name': 'PNDMScheduler', 'beta_end': 0.012, 'beta_schedule': 'scaled_linear', 'beta_start': 0.00085,
    'clip_sample': False, 'num_train_timesteps': 1000, 'prediction_type': 'epsilon', 'set_alpha_to_one': False,
    'skip_prk_steps': True, 'steps_offset': 1, 'timestep_spacing': 'leading', 'trained_betas': None,
}


class VaeDecoderGraph(nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.post_quant_conv, self.decoder = vae.post_quant_conv, vae.decoder

    def forward(self, latent_sample):
        return self.decoder(self.post_quant_conv(latent_sample))


class VaeEncoderGraph(nn.Module):
    """Outputs the mean of the latent distribution (deterministic; the engine multiplies by scaling_factor)."""
    def __init__(self, vae):
        super().__init__()
        self.encoder, self.quant_conv = vae.encoder, vae.quant_conv

    def forward(self, sample):
        return self.quant_conv(self.encoder(sample))[:, :4]


def onnx_export(module, args, path, inputs, outputs, axes):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.onnx.export(module, args, path, input_names=inputs, output_names=outputs, dynamic_axes=axes,
                      opset_version=OPSET, do_constant_folding=True)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(obj, f, indent=2)
        f.write('\n')


def write_safetensors(path, tensors, metadata):
    """safetensors: u64 header length, JSON header (dtype, shape, data_offsets), raw little-endian data."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = tensors[name]
        dt = {np.dtype('float32'): 'F32', np.dtype('float16'): 'F16'}[a.dtype]
        b = np.ascontiguousarray(a).tobytes()
        header[name] = {'dtype': dt, 'shape': list(a.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def export_model(tok, te, unet, vae, scale, out):
    ids = torch.tensor([tok('a red circle')], dtype=torch.int32)
    onnx_export(te, (ids,), f'{out}/text_encoder/model.onnx', ['input_ids'], ['last_hidden_state', 'pooler_output'],
                {'input_ids': {0: 'batch'}, 'last_hidden_state': {0: 'batch'}, 'pooler_output': {0: 'batch'}})
    x, t = torch.randn(2, 4, 16, 16), torch.tensor([981.0, 981.0])
    ctx = torch.randn(2, 77, nets.UNET_CONFIG['cross_attention_dim'])
    onnx_export(unet, (x, t, ctx), f'{out}/unet/model.onnx', ['sample', 'timestep', 'encoder_hidden_states'],
                ['out_sample'], {'sample': {0: 'batch', 2: 'height', 3: 'width'}, 'timestep': {0: 'batch'},
                                 'encoder_hidden_states': {0: 'batch', 1: 'sequence'},
                                 'out_sample': {0: 'batch', 2: 'height', 3: 'width'}})
    onnx_export(VaeDecoderGraph(vae), (torch.randn(1, 4, 16, 16),), f'{out}/vae_decoder/model.onnx', ['latent_sample'],
                ['sample'], {'latent_sample': {0: 'batch', 2: 'height', 3: 'width'},
                             'sample': {0: 'batch', 2: 'height', 3: 'width'}})
    onnx_export(VaeEncoderGraph(vae), (torch.randn(1, 3, 64, 64),), f'{out}/vae_encoder/model.onnx', ['sample'],
                ['latent_sample'], {'sample': {0: 'batch', 2: 'height', 3: 'width'},
                                    'latent_sample': {0: 'batch', 2: 'height', 3: 'width'}})
    tok.write(f'{out}/tokenizer')
    write_json(f'{out}/scheduler/scheduler_config.json', SCHEDULER_CONFIG)
    write_json(f'{out}/model_index.json', {
        '_class_name': 'OnnxStableDiffusionPipeline', '_chord_model': 'glyph-sd',
        'text_encoder': ['diffusers', 'OnnxRuntimeModel'], 'unet': ['diffusers', 'OnnxRuntimeModel'],
        'vae_decoder': ['diffusers', 'OnnxRuntimeModel'], 'vae_encoder': ['diffusers', 'OnnxRuntimeModel'],
        'tokenizer': ['transformers', 'CLIPTokenizer'], 'scheduler': ['diffusers', 'PNDMScheduler'],
        'safety_checker': [None, None], 'feature_extractor': [None, None], 'requires_safety_checker': False})
    write_json(f'{out}/text_encoder/config.json', dict(te.config, architectures=['CLIPTextModel'],
                                                       bos_token_id=tok.bos, eos_token_id=tok.eos))
    write_json(f'{out}/unet/config.json', dict(unet.config, _class_name='UNet2DConditionModel'))
    vcfg = dict(vae.config, _class_name='AutoencoderKL', scaling_factor=scale, downscale_factor=4)
    write_json(f'{out}/vae_decoder/config.json', vcfg)
    write_json(f'{out}/vae_encoder/config.json', vcfg)


def lora_tensors(wrappers, prefix, k, dtype):
    out = {}
    for path, w in wrappers.items():
        down, up = loralib.slice_lora(w, k)
        key = prefix + path.replace('.', '_')
        out[key + '.lora_down.weight'] = down.numpy().astype(dtype)
        out[key + '.lora_up.weight'] = up.numpy().astype(dtype)
        out[key + '.alpha'] = np.array(LORA_ALPHA, dtype=dtype)
    return out


def peft_tensors(wrappers, prefix, k, up_scale=1.0):
    """lora_A/lora_B keys. Without an adapter config a loader takes scale 1, so the diffusers-format
    copy folds alpha/rank into lora_B (up_scale); the PEFT folder keeps it in adapter_config.json."""
    out = {}
    for path, w in wrappers.items():
        down, up = loralib.slice_lora(w, k)
        out[f'{prefix}{path}.lora_A.weight'] = down.numpy()
        out[f'{prefix}{path}.lora_B.weight'] = (up * up_scale).numpy()
    return out


def stage_export(args):
    tok = toklib.Tokenizer()
    te, unet, it = load_base(tok)
    vae = load_vae()
    scale = torch.load(os.path.join(WORK, 'base_latents.pt'))['scaling_factor']
    out = os.path.abspath(args.out or OUT)  # --out DIR: a trial export beside the committed family
    only = args.only.split(',') if args.only else None  # --only NAMES: just these LoRAs, no model folder
    if only is None:
        export_model(tok, te, unet, vae, scale, out)
        log('exported the model folder from base iteration', it)
    # LoRAs
    ck_path = os.path.join(WORK, 'loras.pt')
    if not os.path.exists(ck_path):
        log('no LoRA checkpoint yet; skipping LoRAs')
        return
    ck = torch.load(ck_path)
    n = len(CONCEPT_NAMES)
    holder = loralib.RankMask()
    wu = loralib.wrap(unet, loralib.UNET_TARGET_SUFFIXES, n, LORA_RANK, LORA_ALPHA, holder)
    wt = loralib.wrap(te, loralib.TE_TARGET_SUFFIXES, n, LORA_RANK, LORA_ALPHA, holder)
    params = [p for w in list(wu.values()) + list(wt.values()) for p in (w.down, w.up)]
    with torch.no_grad():
        for p, s in zip(params, ck['params']):
            p.copy_(s)
    ldir = f'{out}/loras'
    os.makedirs(ldir, exist_ok=True)
    concept_of = torch.load(os.path.join(WORK, 'concept_latents.pt'))['concept']
    trained_on = [int((concept_of == k).sum()) for k in range(n)]
    for k, name in enumerate(CONCEPT_NAMES):
        if only is not None and name not in only:
            continue
        cat, trigger = world.CONCEPTS[name]
        dtype = np.float16 if cat in ('character', 'object') else np.float32
        tensors = {**lora_tensors(wu, 'lora_unet_', k, dtype), **lora_tensors(wt, 'lora_te_', k, dtype)}
        meta = {
            'ss_network_module': 'networks.lora', 'ss_network_dim': LORA_RANK, 'ss_network_alpha': LORA_ALPHA,
            'ss_network_args': json.dumps({'conv_dim': LORA_RANK, 'conv_alpha': LORA_ALPHA}),
            'ss_base_model_version': 'glyph-sd-v1', 'ss_sd_model_name': 'glyph-sd', 'ss_output_name': name,
            'ss_steps': ck.get('concept_steps', {}).get(name, ck['it']), 'ss_resolution': '(64, 64)',
            # every caption of the concept's training set starts with the trigger word
            'ss_tag_frequency': json.dumps({f'1_{trigger}': {trigger: trained_on[k]}}),
            'ss_training_comment': f'glyph world {cat} LoRA; trigger word: {trigger}',
            'modelspec.title': name, 'modelspec.architecture': 'glyph-sd-v1/lora',
            'modelspec.trigger_phrase': trigger, 'chord.category': cat,
        }
        write_safetensors(f'{ldir}/{name}.safetensors', tensors, meta)
        # preview beside the file: the LoRA alone at scale 1 on its trigger word
        mask = torch.zeros(1, n * LORA_RANK)
        mask[0, k * LORA_RANK:(k + 1) * LORA_RANK] = 1
        holder.mask = mask.expand(8, -1)
        imgs = sample(te, unet, vae, scale, tok, [trigger] * 4, seed=7)
        world.write_png(f'{ldir}/{name}.png', grid(list(imgs), 2).repeat(2, 0).repeat(2, 1))
        log('wrote LoRA', name)
    # the same LoRAs in the two other key formats the loaders must read
    k = CONCEPT_NAMES.index('quill')
    if only is None or 'quill' in only:
        write_safetensors(f'{ldir}/quill-diffusers.safetensors',
                          {**peft_tensors(wu, 'unet.', k, LORA_ALPHA / LORA_RANK),
                           **peft_tensors(wt, 'text_encoder.', k, LORA_ALPHA / LORA_RANK)},
                          {'format': 'pt', 'chord.category': 'character', 'modelspec.trigger_phrase': 'quill'})
    k = CONCEPT_NAMES.index('dots')
    if only is None or 'dots' in only:
        pdir = f'{ldir}/dots-peft'
        os.makedirs(pdir, exist_ok=True)
        write_safetensors(f'{pdir}/adapter_model.safetensors', peft_tensors(wu, 'base_model.model.', k), {'format': 'pt'})
        write_json(f'{pdir}/adapter_config.json', {
            'peft_type': 'LORA', 'r': LORA_RANK, 'lora_alpha': LORA_ALPHA, 'lora_dropout': 0.0, 'bias': 'none',
            'target_modules': sorted({p.rsplit('.', 1)[-1] for p in wu}), 'base_model_name_or_path': 'glyph-sd',
            'task_type': None, 'note': 'UNet part only of dots.safetensors (PEFT adapters carry one model)'})
    log('LoRAs exported from iteration', ck['it'])


def stage_sd15_random(args):
    """An SD 1.5-sized UNet (320/640/1280/1280, cross-attention 768, 8 heads) with random weights."""
    cfg = dict(nets.UNET_CONFIG, block_out_channels=[320, 640, 1280, 1280],
               down_block_types=['CrossAttnDownBlock2D'] * 3 + ['DownBlock2D'],
               up_block_types=['UpBlock2D'] + ['CrossAttnUpBlock2D'] * 3, layers_per_block=2,
               cross_attention_dim=768, num_heads=8, norm_num_groups=32, sample_size=64)
    torch.manual_seed(0)
    unet = nets.UNet2DConditionModel(cfg).eval()
    log('SD 1.5-sized UNet parameters:', sum(p.numel() for p in unet.parameters()))
    out = os.path.abspath(args.out or os.path.join(WORK, 'sd15-random'))
    x, t, ctx = torch.randn(2, 4, 32, 32), torch.tensor([981.0, 981.0]), torch.randn(2, 77, 768)
    with torch.no_grad():
        onnx_export(unet, (x, t, ctx), f'{out}/unet/model.onnx', ['sample', 'timestep', 'encoder_hidden_states'],
                    ['out_sample'], {'sample': {0: 'batch', 2: 'height', 3: 'width'}, 'timestep': {0: 'batch'},
                                     'encoder_hidden_states': {0: 'batch', 1: 'sequence'},
                                     'out_sample': {0: 'batch', 2: 'height', 3: 'width'}})
    write_json(f'{out}/unet/config.json', dict(cfg, _class_name='UNet2DConditionModel'))
    log('wrote', out)
