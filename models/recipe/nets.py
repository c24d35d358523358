"""The glyph-sd networks: Stable Diffusion's architecture family, scaled down, with diffusers module
names so the ONNX export carries the same node paths as a real SD 1.5 export
(`/down_blocks.0/attentions.0/transformer_blocks.0/attn1/to_q/MatMul`) and kohya LoRA keys map
the same way (`lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q`)."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------- text encoder (CLIP-style)
TEXT_CONFIG = dict(vocab_size=None, hidden_size=64, intermediate_size=256, num_hidden_layers=3,
                   num_attention_heads=4, max_position_embeddings=77)


class CLIPAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x, mask):
        b, n, d = x.shape
        h = self.heads
        q = self.q_proj(x).reshape(b, n, h, d // h).transpose(1, 2) * (d // h) ** -0.5
        k = self.k_proj(x).reshape(b, n, h, d // h).transpose(1, 2)
        v = self.v_proj(x).reshape(b, n, h, d // h).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-1, -2) + mask, dim=-1)
        return self.out_proj((a @ v).transpose(1, 2).reshape(b, n, d))


class CLIPMLP(nn.Module):
    def __init__(self, d, inner):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, inner), nn.Linear(inner, d)

    def forward(self, x):
        x = self.fc1(x)
        return self.fc2(x * torch.sigmoid(1.702 * x))  # quick_gelu, as CLIP


class CLIPEncoderLayer(nn.Module):
    def __init__(self, d, inner, heads):
        super().__init__()
        self.self_attn = CLIPAttention(d, heads)
        self.layer_norm1 = nn.LayerNorm(d)
        self.mlp = CLIPMLP(d, inner)
        self.layer_norm2 = nn.LayerNorm(d)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class CLIPEmbeddings(nn.Module):
    def __init__(self, vocab, d, n):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, d)
        self.position_embedding = nn.Embedding(n, d)
        self.register_buffer('position_ids', torch.arange(n)[None], persistent=False)

    def forward(self, ids):
        return self.token_embedding(ids.long()) + self.position_embedding(self.position_ids[:, :ids.shape[1]])


class CLIPEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layers = nn.ModuleList(CLIPEncoderLayer(cfg['hidden_size'], cfg['intermediate_size'],
                                                     cfg['num_attention_heads'])
                                    for _ in range(cfg['num_hidden_layers']))

    def forward(self, x, mask):
        for layer in self.layers:
            x = layer(x, mask)
        return x


class CLIPTextTransformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = CLIPEmbeddings(cfg['vocab_size'], cfg['hidden_size'], cfg['max_position_embeddings'])
        self.encoder = CLIPEncoder(cfg)
        self.final_layer_norm = nn.LayerNorm(cfg['hidden_size'])
        n = cfg['max_position_embeddings']
        # causal mask; -1e4 (not -inf) so an fp16 export cannot overflow
        self.register_buffer('causal_mask', torch.full((n, n), -1e4).triu(1)[None, None], persistent=False)

    def forward(self, ids):
        x = self.embeddings(ids)
        n = ids.shape[1]
        mask = self.causal_mask[:, :, :n, :n]
        x = self.final_layer_norm(self.encoder(x, mask))
        # pooled output at the EOS token (the largest id, as in CLIP)
        pooled = x[torch.arange(x.shape[0]), ids.to(torch.int64).argmax(dim=-1)]
        return x, pooled


class CLIPTextModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        self.text_model = CLIPTextTransformer(cfg)

    def forward(self, input_ids):
        return self.text_model(input_ids)


# ---------------------------------------------------------------- UNet2DCondition-style
UNET_CONFIG = dict(in_channels=4, out_channels=4, block_out_channels=[32, 64, 64],
                   down_block_types=['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
                   up_block_types=['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
                   layers_per_block=1, cross_attention_dim=64, attention_head_dim=16,
                   norm_num_groups=8, sample_size=16)


def groupnorm(c, groups):
    return nn.GroupNorm(groups, c, eps=1e-5)


class Timesteps(nn.Module):
    """Sinusoidal timestep features (flip_sin_to_cos=True, downscale_freq_shift=0), as SD."""
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, t):
        half = self.dim // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
        args = t.float()[:, None] * freqs[None]
        return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimestepEmbedding(nn.Module):
    def __init__(self, cin, d):
        super().__init__()
        self.linear_1, self.linear_2 = nn.Linear(cin, d), nn.Linear(d, d)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class ResnetBlock2D(nn.Module):
    def __init__(self, cin, cout, temb, groups):
        super().__init__()
        self.norm1 = groupnorm(cin, groups)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout) if temb else None
        self.norm2 = groupnorm(cout, groups)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb=None):
        h = self.conv1(F.silu(self.norm1(x)))
        if self.time_emb_proj is not None:
            h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.conv_shortcut(x) if self.conv_shortcut is not None else x) + h


class Attention(nn.Module):
    def __init__(self, q_dim, ctx_dim, heads, head_dim):
        super().__init__()
        inner = heads * head_dim
        self.heads = heads
        self.scale = head_dim ** -0.5
        self.to_q = nn.Linear(q_dim, inner, bias=False)
        self.to_k = nn.Linear(ctx_dim, inner, bias=False)
        self.to_v = nn.Linear(ctx_dim, inner, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(inner, q_dim), nn.Dropout(0.0)])

    def forward(self, x, ctx=None):
        ctx = x if ctx is None else ctx
        b, n, _ = x.shape
        h = self.heads
        q = self.to_q(x).reshape(b, n, h, -1).transpose(1, 2)
        k = self.to_k(ctx).reshape(b, ctx.shape[1], h, -1).transpose(1, 2)
        v = self.to_v(ctx).reshape(b, ctx.shape[1], h, -1).transpose(1, 2)
        a = torch.softmax((q @ k.transpose(-1, -2)) * self.scale, dim=-1)
        out = (a @ v).transpose(1, 2).reshape(b, n, -1)
        return self.to_out[1](self.to_out[0](out))


class GEGLU(nn.Module):
    def __init__(self, d, inner):
        super().__init__()
        self.proj = nn.Linear(d, inner * 2)

    def forward(self, x):
        a, gate = self.proj(x).chunk(2, dim=-1)
        return a * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, d, mult=4):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(d, d * mult), nn.Dropout(0.0), nn.Linear(d * mult, d)])

    def forward(self, x):
        for m in self.net:
            x = m(x)
        return x


class BasicTransformerBlock(nn.Module):
    def __init__(self, d, ctx_dim, heads, head_dim):
        super().__init__()
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn1 = Attention(d, d, heads, head_dim)
        self.attn2 = Attention(d, ctx_dim, heads, head_dim)
        self.ff = FeedForward(d)

    def forward(self, x, ctx):
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), ctx) + x
        return self.ff(self.norm3(x)) + x


class Transformer2DModel(nn.Module):
    """SD 1.5 flavour: proj_in / proj_out are 1x1 convolutions."""
    def __init__(self, c, ctx_dim, head_dim, groups, heads=None):
        super().__init__()
        heads = heads or c // head_dim
        head_dim = c // heads
        self.norm = nn.GroupNorm(groups, c, eps=1e-6)
        self.proj_in = nn.Conv2d(c, c, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(c, ctx_dim, heads, head_dim)])
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x, ctx):
        b, c, hh, ww = x.shape
        h = self.proj_in(self.norm(x))
        h = h.permute(0, 2, 3, 1).reshape(b, hh * ww, c)
        for blk in self.transformer_blocks:
            h = blk(h, ctx)
        h = h.reshape(b, hh, ww, c).permute(0, 3, 1, 2)
        return self.proj_out(h) + x


class Downsample2D(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class Upsample2D(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode='nearest'))


class DownBlock(nn.Module):
    def __init__(self, cin, cout, temb, cfg, attn, down):
        super().__init__()
        n, g = cfg['layers_per_block'], cfg['norm_num_groups']
        self.resnets = nn.ModuleList(ResnetBlock2D(cin if i == 0 else cout, cout, temb, g) for i in range(n))
        if attn:
            self.attentions = nn.ModuleList(Transformer2DModel(cout, cfg['cross_attention_dim'],
                                                               cfg['attention_head_dim'], g, cfg.get('num_heads')) for _ in range(n))
        else:
            self.attentions = None
        self.downsamplers = nn.ModuleList([Downsample2D(cout)]) if down else None

    def forward(self, x, temb, ctx):
        outs = []
        for i, r in enumerate(self.resnets):
            x = r(x, temb)
            if self.attentions is not None:
                x = self.attentions[i](x, ctx)
            outs.append(x)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
            outs.append(x)
        return x, outs


class UpBlock(nn.Module):
    def __init__(self, cin, skips, cout, temb, cfg, attn, up):
        super().__init__()
        g = cfg['norm_num_groups']
        chans = []
        c = cin
        for s in skips:
            chans.append((c + s, cout))
            c = cout
        self.resnets = nn.ModuleList(ResnetBlock2D(a, b, temb, g) for a, b in chans)
        if attn:
            self.attentions = nn.ModuleList(Transformer2DModel(cout, cfg['cross_attention_dim'],
                                                               cfg['attention_head_dim'], g, cfg.get('num_heads')) for _ in skips)
        else:
            self.attentions = None
        self.upsamplers = nn.ModuleList([Upsample2D(cout)]) if up else None

    def forward(self, x, skips, temb, ctx):
        for i, r in enumerate(self.resnets):
            x = r(torch.cat([x, skips.pop()], dim=1), temb)
            if self.attentions is not None:
                x = self.attentions[i](x, ctx)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x)
        return x


class UNetMidBlock2DCrossAttn(nn.Module):
    def __init__(self, c, temb, cfg):
        super().__init__()
        g = cfg['norm_num_groups']
        self.resnets = nn.ModuleList([ResnetBlock2D(c, c, temb, g), ResnetBlock2D(c, c, temb, g)])
        self.attentions = nn.ModuleList([Transformer2DModel(c, cfg['cross_attention_dim'], cfg['attention_head_dim'], g, cfg.get('num_heads'))])

    def forward(self, x, temb, ctx):
        x = self.resnets[0](x, temb)
        x = self.attentions[0](x, ctx)
        return self.resnets[1](x, temb)


class UNet2DConditionModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        ch = cfg['block_out_channels']
        temb = ch[0] * 4
        self.conv_in = nn.Conv2d(cfg['in_channels'], ch[0], 3, padding=1)
        self.time_proj = Timesteps(ch[0])
        self.time_embedding = TimestepEmbedding(ch[0], temb)
        self.down_blocks = nn.ModuleList()
        skip_ch = [ch[0]]
        c = ch[0]
        for i, kind in enumerate(cfg['down_block_types']):
            last = i == len(ch) - 1
            self.down_blocks.append(DownBlock(c, ch[i], temb, cfg, kind.startswith('CrossAttn'), not last))
            c = ch[i]
            skip_ch += [c] * cfg['layers_per_block'] + ([] if last else [c])
        self.mid_block = UNetMidBlock2DCrossAttn(c, temb, cfg)
        self.up_blocks = nn.ModuleList()
        rev = list(reversed(ch))
        for i, kind in enumerate(cfg['up_block_types']):
            last = i == len(ch) - 1
            skips = [skip_ch.pop() for _ in range(cfg['layers_per_block'] + 1)]
            self.up_blocks.append(UpBlock(c, skips, rev[i], temb, cfg, kind.startswith('CrossAttn'), not last))
            c = rev[i]
        self.conv_norm_out = groupnorm(c, cfg['norm_num_groups'])
        self.conv_out = nn.Conv2d(c, cfg['out_channels'], 3, padding=1)

    def forward(self, sample, timestep, encoder_hidden_states):
        temb = self.time_embedding(self.time_proj(timestep))
        x = self.conv_in(sample)
        skips = [x]
        for blk in self.down_blocks:
            x, outs = blk(x, temb, encoder_hidden_states)
            skips += outs
        x = self.mid_block(x, temb, encoder_hidden_states)
        for blk in self.up_blocks:
            x = blk(x, skips, temb, encoder_hidden_states)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


# ---------------------------------------------------------------- AutoencoderKL-style VAE (4x)
VAE_CONFIG = dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=[32, 64, 64],
                  layers_per_block=1, norm_num_groups=8, sample_size=64)


class VaeAttention(nn.Module):
    """Single-head spatial self-attention with diffusers' VAE names (group_norm, to_q/k/v, to_out.0)."""
    def __init__(self, c, groups):
        super().__init__()
        self.group_norm = groupnorm(c, groups)
        self.to_q, self.to_k, self.to_v = nn.Linear(c, c), nn.Linear(c, c), nn.Linear(c, c)
        self.to_out = nn.ModuleList([nn.Linear(c, c), nn.Dropout(0.0)])

    def forward(self, x):
        b, c, h, w = x.shape
        y = self.group_norm(x).reshape(b, c, h * w).transpose(1, 2)
        q, k, v = self.to_q(y), self.to_k(y), self.to_v(y)
        a = torch.softmax(q @ k.transpose(-1, -2) * c ** -0.5, dim=-1)
        y = self.to_out[0](a @ v).transpose(1, 2).reshape(b, c, h, w)
        return x + y


class VaeMid(nn.Module):
    def __init__(self, c, groups):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(c, c, 0, groups), ResnetBlock2D(c, c, 0, groups)])
        self.attentions = nn.ModuleList([VaeAttention(c, groups)])

    def forward(self, x):
        return self.resnets[1](self.attentions[0](self.resnets[0](x)))


class VaeDownBlock(nn.Module):
    def __init__(self, cin, cout, groups, down):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin, cout, 0, groups)])
        self.downsamplers = nn.ModuleList([Downsample2D(cout)]) if down else None

    def forward(self, x):
        x = self.resnets[0](x)
        return self.downsamplers[0](x) if self.downsamplers is not None else x


class VaeUpBlock(nn.Module):
    def __init__(self, cin, cout, groups, up):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin, cout, 0, groups), ResnetBlock2D(cout, cout, 0, groups)])
        self.upsamplers = nn.ModuleList([Upsample2D(cout)]) if up else None

    def forward(self, x):
        for r in self.resnets:
            x = r(x)
        return self.upsamplers[0](x) if self.upsamplers is not None else x


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch, g = cfg['block_out_channels'], cfg['norm_num_groups']
        self.conv_in = nn.Conv2d(cfg['in_channels'], ch[0], 3, padding=1)
        self.down_blocks = nn.ModuleList(VaeDownBlock(ch[max(i - 1, 0)], ch[i], g, i < len(ch) - 1) for i in range(len(ch)))
        self.mid_block = VaeMid(ch[-1], g)
        self.conv_norm_out = groupnorm(ch[-1], g)
        self.conv_out = nn.Conv2d(ch[-1], 2 * cfg['latent_channels'], 3, padding=1)

    def forward(self, x):
        x = self.conv_in(x)
        for b in self.down_blocks:
            x = b(x)
        return self.conv_out(F.silu(self.conv_norm_out(self.mid_block(x))))


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch, g = list(reversed(cfg['block_out_channels'])), cfg['norm_num_groups']
        self.conv_in = nn.Conv2d(cfg['latent_channels'], ch[0], 3, padding=1)
        self.mid_block = VaeMid(ch[0], g)
        self.up_blocks = nn.ModuleList(VaeUpBlock(ch[max(i - 1, 0)], ch[i], g, i < len(ch) - 1) for i in range(len(ch)))
        self.conv_norm_out = groupnorm(ch[-1], g)
        self.conv_out = nn.Conv2d(ch[-1], cfg['out_channels'], 3, padding=1)

    def forward(self, z):
        x = self.mid_block(self.conv_in(z))
        for b in self.up_blocks:
            x = b(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class AutoencoderKL(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.quant_conv = nn.Conv2d(2 * cfg['latent_channels'], 2 * cfg['latent_channels'], 1)
        self.post_quant_conv = nn.Conv2d(cfg['latent_channels'], cfg['latent_channels'], 1)

    def encode(self, x):
        """-> (mean, logvar) of the latent distribution."""
        mean, logvar = self.quant_conv(self.encoder(x)).chunk(2, dim=1)
        return mean, logvar.clamp(-30, 20)

    def decode(self, z):
        return self.decoder(self.post_quant_conv(z))
