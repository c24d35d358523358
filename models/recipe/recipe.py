"""The glyph-sd recipe: one command per stage, each seeded and resumable.

  python3 models/recipe/recipe.py vae      --minutes 8     # train the 4x VAE on crops
  python3 models/recipe/recipe.py latents                  # render + encode the training sets
  python3 models/recipe/recipe.py vae-decoder --minutes 60 # sharpen the decoder; latents stay valid
  python3 models/recipe/recipe.py base     --minutes 60    # text encoder + UNet, resumable
  python3 models/recipe/recipe.py loras    --minutes 25    # the 11 LoRAs on the frozen base
  python3 models/recipe/recipe.py loras --only scarf       # more training for some LoRAs alone
  python3 models/recipe/recipe.py export                   # ONNX folder + LoRA files + previews
  python3 models/recipe/recipe.py sd15-random --out DIR    # SD 1.5-sized random UNet (benchmarks)

Run with Debian's /usr/bin/python3 (python3-torch, python3-onnx, python3-numpy) and
OPENBLAS_NUM_THREADS=1. Work files go to models/recipe/work/ (not committed); outputs to
models/glyph-sd/.
"""
import argparse
import json
import math
import os
import signal
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lora as loralib  # noqa: E402
import nets  # noqa: E402
import tokenizer as toklib  # noqa: E402
import world  # noqa: E402

WORK = os.path.join(HERE, 'work')
OUT = os.path.join(HERE, '..', 'glyph-sd')
T = 1000
BETAS = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, T, dtype=torch.float64) ** 2
ALPHAS_CUM = torch.cumprod(1 - BETAS, 0).float()
LORA_RANK, LORA_ALPHA = 8, 4.0
CONCEPT_NAMES = list(world.CONCEPTS)


def log(*a):
    print(time.strftime('%H:%M:%S'), *a, flush=True)


def seed_all(s):
    torch.manual_seed(s)
    np.random.seed(s)


def save_ckpt(path, obj):
    tmp = path + '.tmp'
    torch.save(obj, tmp)
    os.replace(tmp, path)


def to_tensor(imgs):
    return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 127.5 - 1


def text_model(tok):
    return nets.CLIPTextModel(dict(nets.TEXT_CONFIG, vocab_size=len(tok.vocab)))


# ------------------------------------------------------------------------------------------ VAE
def vae_batch(rng, n, crop):
    imgs = []
    for _ in range(n):
        u = rng.random()
        if u < 0.4:
            s = world.random_base_scene(rng)
        elif u < 0.85:
            s = world.random_concept_scene(rng, str(rng.choice(CONCEPT_NAMES)))
        else:
            cs = [str(rng.choice(['zorb', 'quill', 'mippet']))]
            for cat in ['clothing', 'style', 'background', 'object']:
                if rng.random() < 0.5:
                    cs.append(str(rng.choice([c for c, (k, _) in world.CONCEPTS.items() if k == cat])))
            s = world.composition_scene(rng, cs)
        img = world.render(s)
        if crop < world.SIZE:
            y, x = rng.integers(0, world.SIZE - crop + 1, size=2)
            img = img[y:y + crop, x:x + crop]
        imgs.append(img)
    return to_tensor(imgs)


def stage_vae(args):
    os.makedirs(WORK, exist_ok=True)
    path = os.path.join(WORK, 'vae.pt')
    seed_all(1)
    vae = nets.AutoencoderKL(nets.VAE_CONFIG)
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    it, rng = 0, np.random.default_rng(1)
    if os.path.exists(path):
        ck = torch.load(path)
        vae.load_state_dict(ck['model']); opt.load_state_dict(ck['opt']); it = ck['it']
        rng = np.random.default_rng(1000 + it)
        log('resumed vae at', it)
    for g in opt.param_groups:
        g['lr'] = args.lr or 1e-3

    def save(it):
        save_ckpt(path, {'model': vae.state_dict(), 'opt': opt.state_dict(), 'it': it})

    def step(_):
        x = vae_batch(rng, 32, 32)
        mean, logvar = vae.encode(x)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        rec = vae.decode(z)
        kl = 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).mean()
        loss = (rec - x).abs().mean() + 0.5 * ((rec - x) ** 2).mean() + 1e-6 * kl
        opt.zero_grad(); loss.backward(); opt.step()
        return loss.item()
    it = train_loop('vae', step, it, args.minutes, args.max_iters, save, log_every=100, save_every=120)
    vae.eval()
    log(f'vae done: {it} iterations, PSNR on whole 64x64 scenes {vae_psnr(vae):.1f} dB')


def vae_psnr(vae, n=64, seed=999):
    """PSNR of a round trip (encoder mean -> decoder) over n whole 64 x 64 scenes of the VAE's mix."""
    with torch.no_grad():
        x = vae_batch(np.random.default_rng(seed), n, world.SIZE)
        rec = vae.decode(vae.encode(x)[0]).clamp(-1, 1)
        mse = ((rec - x) / 2).pow(2).mean().item()
    return 10 * math.log10(1 / mse)


def stage_vae_decoder(args):
    """Fine-tune only the decoder (and post_quant_conv) on the frozen encoder's latent means.

    The encoder does not move, so the latent space, the base model and the LoRAs trained on it all
    stay valid; only what the latents decode to gets sharper. Trained on whole 64 x 64 scenes (batch
    8), so the mid-block attention sees the same 16 x 16 latents as at sampling time.
    """
    path = os.path.join(WORK, 'vae.pt')
    ck = torch.load(path)
    seed_all(6)
    vae = nets.AutoencoderKL(nets.VAE_CONFIG)
    vae.load_state_dict(ck['model'])
    for p in list(vae.encoder.parameters()) + list(vae.quant_conv.parameters()):
        p.requires_grad_(False)
    params = list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    it, rng = 0, np.random.default_rng(6)
    if 'dec_opt' in ck:
        opt.load_state_dict(ck['dec_opt']); it = ck['dec_it']
        rng = np.random.default_rng(6000 + it)
        log('resumed vae-decoder at', it)
    else:
        log(f'vae-decoder from the vae stage: PSNR {vae_psnr(vae):.1f} dB')
    for g in opt.param_groups:
        g['lr'] = args.lr

    def save(it):
        save_ckpt(path, dict(ck, model=vae.state_dict(), dec_opt=opt.state_dict(), dec_it=it))

    # --latent-noise S: half of each batch decodes its latents plus Gaussian noise of a standard
    # deviation drawn from [0, S] (in units of the scaled latents the UNet samples), against the
    # clean image, so that a sampled latent's small residual noise decodes flat instead of as the
    # dot and hatching textures the decoder has learnt
    noise = args.latent_noise
    if noise > 0:
        unit = 1 / torch.load(os.path.join(WORK, 'base_latents.pt'))['scaling_factor']
        gen = torch.Generator().manual_seed(7000 + it)
        log(f'vae-decoder with latent noise up to {noise} (x {unit:.2f} in raw latent units) on half of each batch')

    def step(_):
        x = vae_batch(rng, 8, world.SIZE)
        with torch.no_grad():
            z = vae.encode(x)[0]
            if noise > 0:
                sigma = torch.rand(len(z), 1, 1, 1, generator=gen) * noise * unit
                sigma[len(z) // 2:] = 0
                z = z + sigma * torch.randn(z.shape, generator=gen)
        rec = vae.decode(z)
        loss = (rec - x).abs().mean() + 0.5 * ((rec - x) ** 2).mean()
        opt.zero_grad(); loss.backward(); opt.step()
        return loss.item()
    it = train_loop('vae-decoder', step, it, args.minutes, args.max_iters, save, log_every=100, save_every=180)
    vae.eval()
    log(f'vae-decoder done: {it} iterations, PSNR on whole 64x64 scenes {vae_psnr(vae):.1f} dB')


def train_loop(name, step, it, minutes, max_iters, save, log_every, save_every):
    """The time-boxed, resumable loop every training stage shares: run `step(it)` until the time box,
    the iteration cap or a SIGTERM / Ctrl-C (which finish the current iteration, then checkpoint),
    log the mean loss of the iterations actually run, checkpoint every `save_every` seconds."""
    stop = []
    previous = {sig: signal.signal(sig, lambda *_: stop.append(True)) for sig in (signal.SIGTERM, signal.SIGINT)}
    t_end, t_save, acc, n = time.time() + minutes * 60, time.time(), 0.0, 0
    while time.time() < t_end and it < max_iters and not stop:
        acc += step(it); it += 1; n += 1
        if it % log_every == 0:
            log(f'{name} it {it} loss {acc / n:.4f}'); acc, n = 0.0, 0
        if time.time() - t_save > save_every:
            save(it); t_save = time.time()
    save(it)
    for sig, handler in previous.items():
        signal.signal(sig, handler)
    log(f'{name} stopped at iteration {it}' + (' (signal)' if stop else ''))
    return it


def load_vae():
    vae = nets.AutoencoderKL(nets.VAE_CONFIG)
    vae.load_state_dict(torch.load(os.path.join(WORK, 'vae.pt'))['model'])
    return vae.eval()


# -------------------------------------------------------------------------------------- latents
def encode_set(vae, scenes, tok, captions):
    lat = []
    with torch.no_grad():
        for i in range(0, len(scenes), 256):
            x = to_tensor([world.render(s) for s in scenes[i:i + 256]])
            lat.append(vae.encode(x)[0])
    ids = torch.tensor([tok(c) for c in captions], dtype=torch.int32)
    return torch.cat(lat), ids


def stage_latents(args):
    tok = toklib.Tokenizer()
    vae = load_vae()
    if not args.concepts_only:  # the base set (and the scaling factor) only change with the encoder
        rng = np.random.default_rng(2)
        scenes = [world.random_base_scene(rng) for _ in range(args.base_count)]
        caps = [world.base_caption(s) for s in scenes]
        lat, ids = encode_set(vae, scenes, tok, caps)
        scale = float(1.0 / lat.std())
        log('base latents', tuple(lat.shape), 'std', float(lat.std()), '-> scaling_factor', scale)
        torch.save({'latents': lat, 'ids': ids, 'captions': caps, 'scaling_factor': scale},
                   os.path.join(WORK, 'base_latents.pt'))
    rng = np.random.default_rng(3)
    all_lat, all_ids, all_k = [], [], []
    for k, name in enumerate(CONCEPT_NAMES):
        sc = [world.random_concept_scene(rng, name) for _ in range(args.concept_count)]
        cp = [world.caption(s, with_base=rng.random() < 0.5) for s in sc]
        l, i = encode_set(vae, sc, tok, cp)
        all_lat.append(l); all_ids.append(i); all_k.append(torch.full((len(sc),), k))
        log('concept', name, 'example caption:', cp[0], '|', cp[1])
    torch.save({'latents': torch.cat(all_lat), 'ids': torch.cat(all_ids), 'concept': torch.cat(all_k)},
               os.path.join(WORK, 'concept_latents.pt'))


# ------------------------------------------------------------------------------------- diffusion
def diffusion_loss(unet, te, lat, ids, gen, ema_weight=None):
    b = lat.shape[0]
    t = torch.randint(0, T, (b,), generator=gen)
    noise = torch.randn(lat.shape, generator=gen)
    a = ALPHAS_CUM[t].view(b, 1, 1, 1)
    x = a.sqrt() * lat + (1 - a).sqrt() * noise
    ctx, _ = te(ids)
    pred = unet(x, t.float(), ctx)
    snr = ALPHAS_CUM[t] / (1 - ALPHAS_CUM[t])
    w = torch.clamp(snr, max=5.0) / snr  # min-SNR-gamma weighting (gamma 5), epsilon prediction
    return (w * ((pred - noise) ** 2).mean(dim=(1, 2, 3))).mean()


def drop_captions(ids, gen, empty, p=0.1):
    keep = torch.rand(ids.shape[0], generator=gen) >= p
    return torch.where(keep[:, None], ids, empty[None])


class Ema:
    def __init__(self, params, decay):
        self.decay, self.params = decay, list(params)
        self.shadow = [p.detach().clone() for p in self.params]

    def update(self):
        with torch.no_grad():
            for s, p in zip(self.shadow, self.params):
                s.mul_(self.decay).add_(p.detach(), alpha=1 - self.decay)


def stage_base(args):
    tok = toklib.Tokenizer()
    data = torch.load(os.path.join(WORK, 'base_latents.pt'))
    lat_all, ids_all, scale = data['latents'], data['ids'], data['scaling_factor']
    seed_all(4)
    te, unet = text_model(tok), nets.UNet2DConditionModel(nets.UNET_CONFIG)
    params = list(te.parameters()) + list(unet.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    ema = Ema(params, 0.999)
    gen = torch.Generator().manual_seed(4)
    empty = torch.tensor(tok(''), dtype=torch.int32)
    path = os.path.join(WORK, 'base.pt')
    it = 0
    if os.path.exists(path):
        ck = torch.load(path)
        te.load_state_dict(ck['te']); unet.load_state_dict(ck['unet']); opt.load_state_dict(ck['opt'])
        ema.shadow = ck['ema']; it = ck['it']; gen.set_state(ck['gen'])
        log('resumed base at', it)

    def save(it):
        save_ckpt(path, {'te': te.state_dict(), 'unet': unet.state_dict(), 'opt': opt.state_dict(),
                         'ema': ema.shadow, 'it': it, 'gen': gen.get_state()})

    def step(it):
        idx = torch.randint(0, lat_all.shape[0], (args.batch,), generator=gen)
        lat = lat_all[idx] * scale
        ids = drop_captions(ids_all[idx], gen, empty)
        for g in opt.param_groups:
            g['lr'] = args.lr * min(1.0, (it + 1) / 300)
        loss = diffusion_loss(unet, te, lat, ids, gen)
        opt.zero_grad(); loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step(); ema.update()
        return loss.item()
    train_loop('base', step, it, args.minutes, args.max_iters, save, log_every=100, save_every=300)


def load_base(tok, use_ema=True):
    ck = torch.load(os.path.join(WORK, 'base.pt'))
    te, unet = text_model(tok), nets.UNet2DConditionModel(nets.UNET_CONFIG)
    te.load_state_dict(ck['te']); unet.load_state_dict(ck['unet'])
    if use_ema:
        params = list(te.parameters()) + list(unet.parameters())
        with torch.no_grad():
            for p, s in zip(params, ck['ema']):
                p.copy_(s)
    return te.eval(), unet.eval(), ck['it']


@torch.no_grad()
def sample(te, unet, vae, scale, tok, prompts, seed, steps=25, cfg=5.0, before=None):
    """DDIM (eta 0), leading spacing with offset 1, as the engine's default does."""
    n = len(prompts)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((n, 4, 16, 16), generator=g)
    ids = torch.tensor([tok(p) for p in prompts] + [tok('')] * n, dtype=torch.int32)
    if before:
        before(None)
    ctx, _ = te(ids)
    ts = list(range(0, T, T // steps))[::-1]
    ts = [t + 1 for t in ts]
    for i, t in enumerate(ts):
        out = unet(torch.cat([x, x]), torch.full((2 * n,), float(t)), ctx)
        c, u = out[:n], out[n:]
        eps = u + cfg * (c - u)
        a = ALPHAS_CUM[t]
        a_prev = ALPHAS_CUM[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(ALPHAS_CUM[0].item())
        x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    img = vae.decode(x / scale).clamp(-1, 1)
    return ((img + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()


def grid(imgs, cols):
    rows = [np.concatenate(list(imgs[i:i + cols]) + [np.zeros_like(imgs[0])] * (cols - len(imgs[i:i + cols])), axis=1)
            for i in range(0, len(imgs), cols)]
    return np.concatenate(rows, axis=0)


def stage_preview_base(args):
    tok = toklib.Tokenizer()
    te, unet, it = load_base(tok)
    vae = load_vae()
    scale = torch.load(os.path.join(WORK, 'base_latents.pt'))['scaling_factor']
    prompts = ['a red circle on the left, gray background', 'a blue square in the centre, white background',
               'a yellow triangle on the right, black background',
               'a green circle on the left and a red square on the right, white background']
    rows = [sample(te, unet, vae, scale, tok, prompts, seed) for seed in range(4)]
    out = grid([im for r in zip(*rows) for im in r], 4).repeat(2, 0).repeat(2, 1)
    world.write_png(args.out or os.path.join(WORK, f'base_preview_{it}.png'), out)
    log('preview written at iteration', it)


# ----------------------------------------------------------------------------------------- LoRAs
def stage_loras(args):
    tok = toklib.Tokenizer()
    te, unet, _ = load_base(tok)
    data = torch.load(os.path.join(WORK, 'concept_latents.pt'))
    scale = torch.load(os.path.join(WORK, 'base_latents.pt'))['scaling_factor']
    lat_all, ids_all, k_all = data['latents'], data['ids'], data['concept']
    n = len(CONCEPT_NAMES)
    for p in list(te.parameters()) + list(unet.parameters()):
        p.requires_grad_(False)
    holder = loralib.RankMask()
    seed_all(5)
    wu = loralib.wrap(unet, loralib.UNET_TARGET_SUFFIXES, n, LORA_RANK, LORA_ALPHA, holder)
    wt = loralib.wrap(te, loralib.TE_TARGET_SUFFIXES, n, LORA_RANK, LORA_ALPHA, holder)
    params = [p for w in list(wu.values()) + list(wt.values()) for p in (w.down, w.up)]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(5)
    empty = torch.tensor(tok(''), dtype=torch.int32)
    path = os.path.join(WORK, 'loras.pt')
    it = 0
    concept_steps = {c: 0 for c in CONCEPT_NAMES}
    if os.path.exists(path):
        ck = torch.load(path)
        for p, s in zip(params, ck['params']):
            p.data.copy_(s)
        opt.load_state_dict(ck['opt']); it = ck['it']; gen.set_state(ck['gen'])
        # iterations each LoRA took part in (they differ once --only was used)
        concept_steps.update(ck.get('concept_steps', {c: it for c in CONCEPT_NAMES}))
        log('resumed loras at', it)
    # --only trains the named LoRAs and keeps every other one exactly as it is: the batch holds
    # their samples alone, and after each step the other LoRAs' rank columns are put back (their
    # gradient is zero, but Adam's momentum would still move them)
    trained = [CONCEPT_NAMES.index(c) for c in args.only.split(',')] if args.only else list(range(n))
    per = args.batch // len(trained)
    by_k = [torch.nonzero(k_all == k).flatten() for k in range(n)]
    frozen = torch.ones(n * LORA_RANK, dtype=torch.bool)
    for k in trained:
        frozen[k * LORA_RANK:(k + 1) * LORA_RANK] = False
    wrappers = list(wu.values()) + list(wt.values())
    if args.only:
        log('training only', ', '.join(CONCEPT_NAMES[k] for k in trained), f'({per} samples each per batch)')

    def save(it):
        save_ckpt(path, {'params': [p.detach() for p in params], 'opt': opt.state_dict(), 'it': it,
                         'gen': gen.get_state(), 'paths_unet': list(wu), 'paths_te': list(wt),
                         'concept_steps': concept_steps})

    def step(_):
        idx = torch.cat([by_k[k][torch.randint(0, len(by_k[k]), (per,), generator=gen)] for k in trained])
        ks = k_all[idx]
        mask = torch.zeros(len(idx), n * LORA_RANK)
        for j, k in enumerate(ks.tolist()):
            mask[j, k * LORA_RANK:(k + 1) * LORA_RANK] = 1
        holder.mask = mask
        ids = drop_captions(ids_all[idx], gen, empty, p=0.05)
        loss = diffusion_loss(unet, te, lat_all[idx] * scale, ids, gen)
        kept = [(w.down.data[frozen].clone(), w.up.data[:, frozen].clone()) for w in wrappers] if args.only else None
        opt.zero_grad(); loss.backward(); opt.step()
        for k in trained:
            concept_steps[CONCEPT_NAMES[k]] += 1
        if kept:
            with torch.no_grad():
                for w, (d, u) in zip(wrappers, kept):
                    w.down.data[frozen] = d
                    w.up.data[:, frozen] = u
        return loss.item()
    te.train(); unet.train()
    train_loop('loras', step, it, args.minutes, args.max_iters, save, log_every=50, save_every=240)


# ---------------------------------------------------------------------------------------- entry
def warn_reference_blas():
    """Debian's torch uses whatever libblas.so.3 the system provides: the reference BLAS trains about
    7x slower than OpenBLAS, silently. Linux only (reads the process's loaded libraries)."""
    try:
        with open('/proc/self/maps') as f:
            libs = {line.split()[-1] for line in f if 'libblas.so' in line}
    except OSError:
        return
    # Debian installs the reference implementation as .../blas/libblas.so.3 (OpenBLAS: .../openblas-pthread/)
    reference = sorted(lib for lib in libs if os.path.basename(os.path.dirname(lib)) == 'blas')
    if reference:
        log('warning: torch runs on the reference BLAS (' + ', '.join(reference) + '), about 7x slower; '
            'install OpenBLAS: apt-get install libopenblas0-pthread')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('stage')
    ap.add_argument('--minutes', type=float, default=10)
    ap.add_argument('--max-iters', type=int, default=10 ** 9)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--lr', type=float, default=None)
    ap.add_argument('--base-count', type=int, default=20000)
    ap.add_argument('--concept-count', type=int, default=1500)
    ap.add_argument('--out', default=None)
    ap.add_argument('--only', default=None,
                    help='loras: train only these LoRAs (comma-separated concept names); the others stay as they are. '
                         'export: write only these LoRAs (not the model folder)')
    ap.add_argument('--concepts-only', action='store_true',
                    help='latents: re-encode only the concept sets (after a change to a concept design)')
    ap.add_argument('--latent-noise', type=float, default=0.0,
                    help='vae-decoder: also train on latents with added noise up to this std (scaled units)')
    ap.add_argument('--cube-edge', default=None, metavar='R,G,B',
                    help="draw the cube's dark edge in this colour instead of world.CUBE_EDGE (the vae-decoder "
                         'run of the committed family drew it 95,15,15)')
    ap.add_argument('--character-scenes', choices=['v1', 'v2'], default=None,
                    help="latents: the character scenes to encode (default world.CHARACTER_SCENES, v2; v1 is what "
                         'the character LoRAs were trained on before their fine-tune)')
    args = ap.parse_args()
    if args.only:
        unknown = [c for c in args.only.split(',') if c not in CONCEPT_NAMES]
        if unknown:
            sys.exit(f'--only: no concept named {", ".join(unknown)} (the concepts: {", ".join(CONCEPT_NAMES)})')
    if args.character_scenes:
        world.CHARACTER_SCENES = args.character_scenes
    if args.cube_edge:
        edge = tuple(int(v) for v in args.cube_edge.split(','))
        if len(edge) != 3 or not all(0 <= v <= 255 for v in edge):
            sys.exit(f'--cube-edge: expected three numbers 0..255 like 95,15,15, got {args.cube_edge}')
        world.CUBE_EDGE = edge
    torch.set_num_threads(int(os.environ.get('RECIPE_THREADS', '2')))
    warn_reference_blas()
    os.makedirs(WORK, exist_ok=True)
    if args.stage == 'vae':
        stage_vae(args)
    elif args.stage == 'vae-decoder':
        args.lr = args.lr or 3e-4
        stage_vae_decoder(args)
    elif args.stage == 'latents':
        stage_latents(args)
    elif args.stage == 'base':
        args.lr = args.lr or 5e-4
        stage_base(args)
    elif args.stage == 'preview-base':
        stage_preview_base(args)
    elif args.stage == 'loras':
        args.lr = args.lr or 2e-3
        if not args.only:
            args.batch = args.batch if args.batch % len(CONCEPT_NAMES) == 0 else 33
        stage_loras(args)
    elif args.stage in ('export', 'sd15-random', 'preview-loras'):
        import export
        getattr(export, 'stage_' + args.stage.replace('-', '_'))(args)
    else:
        ap.error(f'unknown stage {args.stage}')


if __name__ == '__main__':
    main()
