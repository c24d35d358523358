"""Glyph world: a seeded procedural generator of small scenes and their captions.

Every scene is 64 x 64 RGB. The base world has a background colour and one or two generic shapes;
the eleven LoRA concepts (3 characters, 2 clothing, 2 styles, 2 backgrounds, 2 objects) are drawn
on top of it. Colours are few and far apart so a simple detector can find each concept, and the
categories differ in spectrum the way the CMLoRA paper says real ones do (styles: a high-frequency
texture over the whole image; backgrounds: smooth gradients).

A scene is a plain dict (see `random_base_scene` and `random_concept_scene`); `render(scene)` draws
it deterministically and `caption(scene)` writes its caption.
"""
import numpy as np

SIZE = 64

SHAPE_COLOURS = {
    'red': (220, 35, 35),
    'green': (40, 175, 50),
    'blue': (40, 70, 225),
    'yellow': (240, 215, 30),
}
BACKGROUNDS = {
    'gray': (128, 128, 128),
    'white': (232, 232, 232),
    'black': (28, 28, 28),
}
SHAPES = ['circle', 'square', 'triangle']
POSITIONS = {'left': 16, 'centre': 32, 'right': 48}
# Characters also stand at the top or the bottom of the image (centred horizontally): x, y of
# their centre. Shapes keep the three mid-height places.
CHARACTER_PLACES = {**{pos: (x, 34) for pos, x in POSITIONS.items()}, 'top': (32, 19), 'bottom': (32, 47)}
# Which character scenes the concept sets hold: 'v2' (characters at five places, their place
# always in the caption, half of them beside a shape on the other side) or 'v1' (the first
# family's: alone, mostly in the centre, the place named in half the captions). The recipe's
# --character-scenes switches it; the committed character LoRAs were fine-tuned on v2.
CHARACTER_SCENES = 'v2'

# The eleven concepts: name -> (category, trigger word). Trigger words are made-up words the base
# model never sees in training.
CONCEPTS = {
    'zorb': ('character', 'zorb'),
    'quill': ('character', 'quill'),
    'mippet': ('character', 'mippet'),
    'hat': ('clothing', 'hatz'),
    'scarf': ('clothing', 'scarfu'),
    'hatching': ('style', 'hatchy'),
    'dots': ('style', 'dotty'),
    'sunset': ('background', 'sunsa'),
    'meadow': ('background', 'meadu'),
    'ball': ('object', 'ballo'),
    'cube': ('object', 'cubo'),
}
CATEGORIES = ['character', 'clothing', 'style', 'background', 'object']

CHARACTER_COLOURS = {
    'zorb': (150, 50, 210),    # purple round creature with antennae
    'quill': (250, 140, 20),   # orange ghost with a wavy hem
    'mippet': (20, 200, 210),  # cyan pointed creature with feet
}
HAT_COLOUR = (110, 60, 20)      # brown top hat
SCARF_COLOUR = (255, 100, 170)  # pink band with a tail
# The props use shape colours: the 4x VAE's encoder keeps blue and red apart from every other
# world colour, but mapped the first designs' magenta onto pink and lime onto yellow. Place and
# size tell them from the base shapes, which never sit in the lower corners.
BALL_COLOUR = (40, 70, 225)     # blue ball, lower-right corner
BALL_LIGHT = (160, 180, 250)    # its highlight
CUBE_COLOUR = (220, 35, 35)     # red cube, lower-left corner
CUBE_EDGE = (45, 12, 12)        # its dark edge
EYE_WHITE = (250, 250, 250)
PUPIL = (15, 15, 15)
STYLE_PERIOD = 6               # pixels between hatching lines / halftone dots

_yy, _xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)


def _paint(img, mask, colour):
    img[mask] = np.asarray(colour, dtype=np.float32)


def _disk(cx, cy, r):
    return (_xx - cx) ** 2 + (_yy - cy) ** 2 <= r * r


def _rect(x0, y0, x1, y1):
    return (_xx >= x0) & (_xx < x1) & (_yy >= y0) & (_yy < y1)


def _triangle(cx, cy, r):
    # upward isosceles triangle inside a box of half-size r
    top, bottom = cy - r, cy + r
    t = (_yy - top) / max(bottom - top, 1e-6)
    half = t * r
    return (_yy >= top) & (_yy <= bottom) & (np.abs(_xx - cx) <= half)


def shape_mask(kind, cx, cy, r):
    if kind == 'circle':
        return _disk(cx, cy, r)
    if kind == 'square':
        s = r * 0.88
        return _rect(cx - s, cy - s, cx + s, cy + s)
    if kind == 'triangle':
        return _triangle(cx, cy, r * 1.05)
    raise ValueError(kind)


def _eyes(img, cx, cy, spread=3.6, r=2.6):
    for dx in (-spread, spread):
        _paint(img, _disk(cx + dx, cy, r), EYE_WHITE)
        _paint(img, _disk(cx + dx + 0.6, cy + 0.4, r * 0.5), PUPIL)


def draw_character(img, name, cx, cy):
    """Returns the wearer box (x0, y0, x1, y1) clothing attaches to."""
    col = CHARACTER_COLOURS[name]
    if name == 'zorb':
        r = 10
        for dx in (-5, 5):  # antennae
            _paint(img, _rect(cx + dx - 0.8, cy - r - 5, cx + dx + 0.8, cy - r + 2), col)
            _paint(img, _disk(cx + dx, cy - r - 5, 1.8), col)
        _paint(img, _disk(cx, cy, r), col)
        _eyes(img, cx, cy - 2)
        return (cx - r, cy - r, cx + r, cy + r)
    if name == 'quill':
        w, h = 9, 11
        body = _disk(cx, cy - h + w, w) | _rect(cx - w, cy - h + w, cx + w + 0.5, cy + h - 2)
        hem = _rect(cx - w, cy + h - 2, cx + w + 0.5, cy + h + 1) & (np.mod(_xx - (cx - w), 6) < 3)
        _paint(img, body | hem, col)
        _eyes(img, cx, cy - 3)
        return (cx - w, cy - h, cx + w, cy + h)
    if name == 'mippet':
        r = 11
        _paint(img, _triangle(cx, cy - 1, r), col)
        for dx in (-5, 3):  # feet
            _paint(img, _rect(cx + dx, cy + r - 1, cx + dx + 3, cy + r + 3), (30, 90, 95))
        _eyes(img, cx, cy + 3, spread=3.2, r=2.3)
        return (cx - r, cy - r, cx + r, cy + r)
    raise ValueError(name)


def draw_hat(img, box):
    x0, y0, x1, _ = box
    cx = (x0 + x1) / 2
    _paint(img, _rect(cx - 8, y0 - 3, cx + 8, y0 + 1), HAT_COLOUR)      # brim
    _paint(img, _rect(cx - 5, y0 - 11, cx + 5, y0 - 2), HAT_COLOUR)     # crown


def draw_scarf(img, box):
    x0, y0, x1, y1 = box
    y = y0 + (y1 - y0) * 0.62
    _paint(img, _rect(x0 - 2, y, x1 + 2, y + 4), SCARF_COLOUR)
    _paint(img, _rect(x1 - 5, y + 3, x1 - 1, y + 10), SCARF_COLOUR)     # tail


def draw_background(img, kind, shade):
    t = (_yy / (SIZE - 1))[..., None]
    if kind in BACKGROUNDS:
        base = np.asarray(BACKGROUNDS[kind], dtype=np.float32)
        img[:] = base + (t - 0.5) * shade
    elif kind == 'sunset':
        top = np.array([190, 45, 60], dtype=np.float32)
        bottom = np.array([250, 205, 90], dtype=np.float32)
        img[:] = top * (1 - t) + bottom * t
    elif kind == 'meadow':
        sky = np.array([125, 185, 240], dtype=np.float32)
        grass = np.array([70, 150, 55], dtype=np.float32)
        horizon = 0.58 + 0.04 * np.sin(_xx / 9.0)[..., None]
        w = np.clip((t - horizon) / 0.06 + 0.5, 0, 1)
        img[:] = sky * (1 - w) + grass * w
    else:
        raise ValueError(kind)


def apply_style(img, kind):
    lum = img.mean(axis=2, keepdims=True) / 255.0
    ink = np.where(lum > 0.4, 0.0, 235.0).astype(np.float32)
    p = STYLE_PERIOD
    if kind == 'hatching':
        mask = np.mod(_xx + _yy, p) < 2
    elif kind == 'dots':
        mask = ((np.mod(_xx, p) - p / 2 + 0.5) ** 2 + (np.mod(_yy, p) - p / 2 + 0.5) ** 2) <= 2.3
    else:
        raise ValueError(kind)
    m = mask[..., None]
    img[:] = np.where(m, img * 0.3 + ink * 0.7, img)


def draw_ball(img, jx, jy):
    cx, cy = 53 + jx, 53 + jy
    _paint(img, _disk(cx, cy, 5.5), BALL_COLOUR)
    _paint(img, _disk(cx - 2, cy - 2, 1.6), BALL_LIGHT)


def draw_cube(img, jx, jy):
    x0, y0 = 6 + jx, 46 + jy
    _paint(img, _rect(x0 - 1, y0 - 1, x0 + 11, y0 + 11), CUBE_EDGE)
    _paint(img, _rect(x0, y0, x0 + 10, y0 + 10), CUBE_COLOUR)


def render(scene):
    """Draw a scene dict into a uint8 [64, 64, 3] array."""
    img = np.zeros((SIZE, SIZE, 3), dtype=np.float32)
    draw_background(img, scene['background'], scene.get('shade', 0.0))
    wearer = None
    for s in scene.get('shapes', []):
        cx, cy = POSITIONS[s['pos']] + s.get('jx', 0), 32 + s.get('jy', 0)
        r = s.get('r', 10)
        _paint(img, shape_mask(s['shape'], cx, cy, r), SHAPE_COLOURS[s['colour']])
        if s.get('wearer'):
            wearer = (cx - r, cy - r, cx + r, cy + r)
    ch = scene.get('character')
    if ch:
        px, py = CHARACTER_PLACES[ch['pos']]
        cx, cy = px + ch.get('jx', 0), py + ch.get('jy', 0)
        wearer = draw_character(img, ch['name'], cx, cy)
    for c in scene.get('clothing', []):
        if wearer is None:
            continue
        (draw_hat if c == 'hat' else draw_scarf)(img, wearer)
    for o in scene.get('objects', []):
        (draw_ball if o == 'ball' else draw_cube)(img, scene.get('ojx', 0), scene.get('ojy', 0))
    if scene.get('style'):
        apply_style(img, scene['style'])
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def base_caption(scene):
    parts = []
    for i, s in enumerate(scene.get('shapes', [])):
        parts.append(f"a {s['colour']} {s['shape']} {place_words(s['pos'])}")
    text = ' and '.join(parts)
    bg = scene['background']
    if bg in BACKGROUNDS:
        text = f"{text}, {bg} background" if text else f"{bg} background"
    return text


def place_words(pos):
    return {'centre': 'in the centre', 'top': 'at the top', 'bottom': 'at the bottom'}.get(pos, f'on the {pos}')


def caption(scene, rng=None, with_base=True):
    """Caption: concept trigger words first, then (optionally) the base description."""
    words = []
    ch = scene.get('character')
    if ch:
        words.append(CONCEPTS[ch['name']][1])
    words += [CONCEPTS[c][1] for c in scene.get('clothing', [])]
    if scene.get('style'):
        words.append(CONCEPTS[scene['style']][1])
    if scene['background'] in ('sunset', 'meadow'):
        words.append(CONCEPTS[scene['background']][1])
    words += [CONCEPTS[o][1] for o in scene.get('objects', [])]
    base = base_caption(scene) if with_base else ''
    if ch and (with_base or CHARACTER_SCENES == 'v2'):
        words[0] = f"{words[0]} {place_words(ch['pos'])}"
    return ', '.join([w for w in [' '.join(words)] if w] + ([base] if base else []))


def random_base_scene(rng, n_shapes=None):
    n = n_shapes or int(rng.integers(1, 3))
    positions = list(rng.choice(['left', 'centre', 'right'], size=1)) if n == 1 else ['left', 'right']
    colours = rng.choice(list(SHAPE_COLOURS), size=n, replace=False)
    shapes = []
    for pos, col in zip(positions, colours):
        shapes.append({'shape': str(rng.choice(SHAPES)), 'colour': str(col), 'pos': str(pos),
                       'jx': float(rng.uniform(-2, 2)), 'jy': float(rng.uniform(-3, 3)),
                       'r': float(rng.uniform(8.5, 11))})
    return {'background': str(rng.choice(list(BACKGROUNDS))), 'shade': float(rng.uniform(-20, 20)),
            'shapes': shapes}


def random_concept_scene(rng, concept):
    """A training scene for one concept's LoRA: the concept on a varied base scene."""
    cat = CONCEPTS[concept][0]
    scene = random_base_scene(rng, n_shapes=1)
    if cat == 'character' and CHARACTER_SCENES == 'v2':
        # Anywhere of five places, and beside a shape on the other side in half the left/right
        # scenes: a character LoRA that has only ever seen itself alone in the middle draws one
        # centred creature whatever the prompt says, which regional composition cannot place.
        pos = str(rng.choice(['left', 'centre', 'right', 'top', 'bottom'], p=[0.25, 0.14, 0.25, 0.18, 0.18]))
        other = {'left': 'right', 'right': 'left'}.get(pos)
        if other and rng.random() < 0.5:
            scene['shapes'][0]['pos'] = other
        else:
            scene['shapes'] = []
        scene['character'] = {'name': concept, 'pos': pos, 'jx': float(rng.uniform(-2, 2)),
                              'jy': float(rng.uniform(-2, 2))}
    elif cat == 'character':
        pos = str(rng.choice(['left', 'centre', 'right'], p=[0.25, 0.5, 0.25]))
        scene['shapes'] = []
        scene['character'] = {'name': concept, 'pos': pos, 'jx': float(rng.uniform(-2, 2)),
                              'jy': float(rng.uniform(-2, 2))}
    elif cat == 'clothing':
        scene['shapes'][0]['pos'] = 'centre'
        scene['shapes'][0]['wearer'] = True
        scene['clothing'] = [concept]
    elif cat == 'style':
        scene['style'] = concept
    elif cat == 'background':
        scene['background'] = concept
    elif cat == 'object':
        scene['objects'] = [concept]
        scene['ojx'], scene['ojy'] = float(rng.uniform(-2, 2)), float(rng.uniform(-2, 2))
        if scene['shapes'][0]['pos'] != 'centre' and rng.random() < 0.5:
            scene['shapes'][0]['pos'] = 'centre'
    return scene


def composition_scene(rng, concepts):
    """Ground truth for a composition: one character plus concepts of other categories."""
    scene = random_base_scene(rng, n_shapes=1)
    scene['shapes'] = []
    for c in concepts:
        cat = CONCEPTS[c][0]
        if cat == 'character':
            scene['character'] = {'name': c, 'pos': 'centre'}
        elif cat == 'clothing':
            scene.setdefault('clothing', []).append(c)
        elif cat == 'style':
            scene['style'] = c
        elif cat == 'background':
            scene['background'] = c
        elif cat == 'object':
            scene.setdefault('objects', []).append(c)
    return scene


def write_png(path, rgb):
    """Minimal PNG writer (zlib + struct) so the recipe needs no imaging library."""
    import struct
    import zlib
    h, w, _ = rgb.shape
    raw = b''.join(b'\x00' + rgb[y].tobytes() for y in range(h))

    def chunk(tag, data):
        return struct.pack('>I', len(data)) + tag + data + struct.pack('>I', zlib.crc32(tag + data) & 0xffffffff)
    png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
    png += chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b'')
    with open(path, 'wb') as f:
        f.write(png)
