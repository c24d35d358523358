"""Renders the labelled calibration set of the concept detectors (bench/detectors/).

  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 models/recipe/calibration.py bench/fixtures/calibration
  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 models/recipe/calibration.py --vae-roundtrip DIR

With --vae-roundtrip every render is passed through the recipe's VAE (encoder mean, then decoder;
needs models/recipe/work/vae.pt and torch) before it is written: the detectors' hit rates on that
set are the ceiling any sample of the model can reach, since every sample is a decoded latent.
Such a set is a diagnosis, not a fixture: write it to a scratch folder, not bench/fixtures.

Every image is a glyph-world scene drawn by `world.render`, so its labels are exact ground truth:
the concepts drawn in it and its base description (shapes with colour and position, background).
Four groups, all seeded:
  base          base scenes only (negatives for every concept; ground truth for caption checks)
  alone         one concept on a base scene, the way its LoRA was trained (`random_concept_scene`)
  composition   ComposLoRA-style: exactly one character plus N-1 concepts of distinct other
                categories (N = 2..5), the character at varied positions
  extra         harder mixes the evaluation set may meet: both clothing items on one wearer,
                both objects, clothing on a shape under a style
An image is a positive for the concepts it lists and a negative for all the others.

Writes NNNN-<group>.png (64 x 64) and labels.json, one image per line:
  {"file", "group", "concepts": [...], "caption", "base": {"shapes": [{"shape", "colour", "pos"}],
   "background"}}
602 images, about 0.6 MB, in under a second. Deterministic: rerunning gives the same bytes.
"""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import world  # noqa: E402

SEED = 20240611
COUNTS = {'base': 150, 'alone': 16, 'composition': 240, 'extra': 36}
OTHER_CATEGORIES = ['clothing', 'style', 'background', 'object']


def by_category(cat):
    return [c for c, (k, _) in world.CONCEPTS.items() if k == cat]


def concepts_of(scene):
    """The concepts actually drawn (clothing is only drawn when something wears it)."""
    out = []
    if scene.get('character'):
        out.append(scene['character']['name'])
    has_wearer = bool(scene.get('character')) or any(s.get('wearer') for s in scene.get('shapes', []))
    if has_wearer:
        out += list(scene.get('clothing', []))
    if scene.get('style'):
        out.append(scene['style'])
    if scene['background'] in ('sunset', 'meadow'):
        out.append(scene['background'])
    out += list(scene.get('objects', []))
    return sorted(set(out))


def base_of(scene):
    return {'shapes': [{'shape': s['shape'], 'colour': s['colour'], 'pos': s['pos']}
                       for s in scene.get('shapes', [])],
            'background': scene['background']}


def place_character(rng, scene):
    """Characters sit in the centre in compositions; move some aside with a little jitter."""
    ch = scene.get('character')
    if ch:
        ch['pos'] = str(rng.choice(['left', 'centre', 'right'], p=[0.25, 0.5, 0.25]))
        ch['jx'], ch['jy'] = float(rng.uniform(-2, 2)), float(rng.uniform(-2, 2))
    scene['ojx'], scene['ojy'] = float(rng.uniform(-2, 2)), float(rng.uniform(-2, 2))


def composition(rng):
    n = int(rng.integers(2, 6))
    cats = list(rng.choice(OTHER_CATEGORIES, size=n - 1, replace=False))
    concepts = [str(rng.choice(by_category('character')))]
    concepts += [str(rng.choice(by_category(c))) for c in cats]
    scene = world.composition_scene(rng, concepts)
    place_character(rng, scene)
    return scene


def extra(rng, i):
    kind = i % 3
    if kind == 0:  # hat and scarf on one character, maybe a style
        scene = world.composition_scene(rng, [str(rng.choice(by_category('character'))), 'hat', 'scarf'])
        if rng.random() < 0.5:
            scene['style'] = str(rng.choice(by_category('style')))
        place_character(rng, scene)
    elif kind == 1:  # both objects, with a character and a background
        scene = world.composition_scene(rng, [str(rng.choice(by_category('character'))), 'ball', 'cube',
                                              str(rng.choice(by_category('background')))])
        place_character(rng, scene)
    else:  # clothing on a base shape under a style (a clothing LoRA scene, styled)
        scene = world.random_concept_scene(rng, str(rng.choice(by_category('clothing'))))
        scene['style'] = str(rng.choice(by_category('style')))
    return scene


def scenes(rng):
    out = []
    for _ in range(COUNTS['base']):
        out.append(('base', world.random_base_scene(rng)))
    for name in world.CONCEPTS:
        for _ in range(COUNTS['alone']):
            out.append(('alone', world.random_concept_scene(rng, name)))
    for _ in range(COUNTS['composition']):
        out.append(('composition', composition(rng)))
    for i in range(COUNTS['extra']):
        out.append(('extra', extra(rng, i)))
    return out


def vae_roundtrip(images):
    """Encoder mean -> decoder, as every sample of the model is a decoded latent."""
    import torch
    import recipe
    vae = recipe.load_vae()
    with torch.no_grad():
        out = []
        for i in range(0, len(images), 64):
            rec = vae.decode(vae.encode(recipe.to_tensor(images[i:i + 64]))[0]).clamp(-1, 1)
            out += list(((rec + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy())
    return out


def main():
    args = sys.argv[1:]
    roundtrip = '--vae-roundtrip' in args
    args = [a for a in args if a != '--vae-roundtrip']
    if len(args) != 1:
        sys.exit('usage: calibration.py [--vae-roundtrip] OUTDIR')
    outdir = args[0]
    os.makedirs(outdir, exist_ok=True)
    # The committed calibration set (and so the detectors' thresholds) was drawn with the first
    # character scenes; keep drawing those so that this script still reproduces it bit for bit.
    world.CHARACTER_SCENES = 'v1'
    rng = np.random.default_rng(SEED)
    labels = []
    made = scenes(rng)
    images = [world.render(scene) for _, scene in made]
    if roundtrip:
        images = vae_roundtrip(images)
    for i, ((group, scene), image) in enumerate(zip(made, images)):
        name = f'{i:04d}-{group}.png'
        world.write_png(os.path.join(outdir, name), image)
        labels.append({'file': name, 'group': group, 'concepts': concepts_of(scene),
                       'caption': world.caption(scene), 'base': base_of(scene)})
    with open(os.path.join(outdir, 'labels.json'), 'w') as f:  # one image per line: small, diffable
        f.write('[\n' + ',\n'.join(json.dumps(l) for l in labels) + '\n]\n')
    counts = {c: sum(c in l['concepts'] for l in labels) for c in world.CONCEPTS}
    print(f'{len(labels)} images in {outdir}; positives per concept: {counts}')


if __name__ == '__main__':
    main()
