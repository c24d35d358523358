"""Low-rank adapters for training all eleven LoRAs in one run.

Each wrapped layer holds the ranks of every LoRA side by side (down: [n*r, in], up: [out, n*r]) and a
per-sample rank mask selects which LoRA acts on which sample of the batch. Concatenating ranks and
gating them is exactly how Chord's engine runs several LoRAs at once, so training this way is the
same maths as n separate trainings, at the cost of one."""
import torch
import torch.nn as nn
import torch.nn.functional as F

UNET_TARGET_SUFFIXES = ('attn1.to_q', 'attn1.to_k', 'attn1.to_v', 'attn1.to_out.0',
                        'attn2.to_q', 'attn2.to_k', 'attn2.to_v', 'attn2.to_out.0',
                        'ff.net.0.proj', 'ff.net.2', 'proj_in', 'proj_out',
                        'conv1', 'conv2', 'time_emb_proj')
TE_TARGET_SUFFIXES = ('self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.out_proj',
                      'mlp.fc1', 'mlp.fc2')


class RankMask:
    """Shared holder of the current [batch, n*r] rank mask."""
    def __init__(self):
        self.mask = None


class LoraLinear(nn.Module):
    def __init__(self, base, n, rank, alpha, holder):
        super().__init__()
        self.base, self.n, self.rank, self.alpha, self.holder = base, n, rank, alpha, holder
        self.down = nn.Parameter(torch.randn(n * rank, base.in_features) / base.in_features ** 0.5)
        self.up = nn.Parameter(torch.zeros(base.out_features, n * rank))

    def forward(self, x):
        h = x @ self.down.t()
        m = self.holder.mask
        h = h * (m[:, None, :] if h.dim() == 3 else m)
        return self.base(x) + (h @ self.up.t()) * (self.alpha / self.rank)


class LoraConv(nn.Module):
    def __init__(self, base, n, rank, alpha, holder):
        super().__init__()
        self.base, self.n, self.rank, self.alpha, self.holder = base, n, rank, alpha, holder
        k = base.kernel_size
        fan_in = base.in_channels * k[0] * k[1]
        self.down = nn.Parameter(torch.randn(n * rank, base.in_channels, *k) / fan_in ** 0.5)
        self.up = nn.Parameter(torch.zeros(base.out_channels, n * rank, 1, 1))

    def forward(self, x):
        b = self.base
        h = F.conv2d(x, self.down, None, b.stride, b.padding, b.dilation, b.groups)
        h = h * self.holder.mask[:, :, None, None]
        return b(x) + F.conv2d(h, self.up) * (self.alpha / self.rank)


def wrap(model, suffixes, n, rank, alpha, holder):
    """Replace every targeted Linear/Conv2d by its LoRA wrapper; returns {module path: wrapper}."""
    found = {}
    for path, mod in list(model.named_modules()):
        if not path.endswith(suffixes):
            continue
        parent_path, _, name = path.rpartition('.')
        parent = model.get_submodule(parent_path) if parent_path else model
        if isinstance(mod, nn.Linear):
            w = LoraLinear(mod, n, rank, alpha, holder)
        elif isinstance(mod, nn.Conv2d):
            w = LoraConv(mod, n, rank, alpha, holder)
        else:
            continue
        if isinstance(parent, nn.ModuleList):
            parent[int(name)] = w
        else:
            setattr(parent, name, w)
        found[path] = w
    return found


def unwrap(model, wrappers):
    for path in wrappers:
        parent_path, _, name = path.rpartition('.')
        parent = model.get_submodule(parent_path) if parent_path else model
        base = wrappers[path].base
        if isinstance(parent, nn.ModuleList):
            parent[int(name)] = base
        else:
            setattr(parent, name, base)


def slice_lora(wrapper, k):
    """LoRA k's own (down, up) in kohya layout: linear down [r,in], up [out,r]; conv down [r,in,kh,kw], up [out,r,1,1]."""
    r = wrapper.rank
    down = wrapper.down[k * r:(k + 1) * r].detach().clone()
    up = wrapper.up[:, k * r:(k + 1) * r].detach().clone()
    return down, up
