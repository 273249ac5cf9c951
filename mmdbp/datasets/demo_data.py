"""Deterministic generator of the embedded demo data sets.

No data set can be downloaded on the machines mmdbp is developed on, so the demo and the tests run on
two small synthetic sets written in the layouts of the real ones:

* an **ImageNet-format** classification set, read by mmpretrain's ``ImageNet`` dataset::

      demo_in1k/
      ├── train/<class>/<class>_00000.JPEG ...
      ├── val/<class>/<class>_00000.JPEG ...
      └── meta/{train,val}.txt  ("<class>/<file> <label>" per line), meta/classes.txt

  Every image shows one textured shape on a smooth, noisy background. Shape, texture and hue are
  fixed by the class; position, size, rotation, texture frequency and colours are drawn per image, so a
  classifier must learn the shape/texture (accuracy well above chance after a short training) and
  masked reconstruction has fine structure to restore.

* an **ADE20K-format** segmentation set (``ADEChallengeData2016`` layout), read by mmseg's
  ``ADE20KDataset`` with ``reduce_zero_label=True``::

      demo_ade20k/
      ├── images/{training,validation}/ADE_{train,val}_00000001.jpg ...
      └── annotations/{training,validation}/ADE_{train,val}_00000001.png ...

  Annotations hold ADE20K's raw labels (0 = "other"/ignore, 1..150 = the 150 classes). Each scene is a
  sky above a ground (grass, road or water) with buildings, trees, cars and persons in front; every
  class has its own colour and texture, a few small clutter patches are labelled 0.

Every image is drawn from its own random stream, seeded by ``(seed, split, index)``: the same seed
always gives the same bytes, and growing a split keeps the images it already had.
"""
import colorsys
import os
import os.path as osp
import re
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image

# -------------------------------------------------------------------------------------------------
# random streams and small drawing helpers
# -------------------------------------------------------------------------------------------------
_SPLIT_IDS = {'train': 0, 'val': 1}
_TASK_IDS = {'cls': 0, 'seg': 1}


def _image_rng(seed: int, task: str, split: str, index: int) -> np.random.Generator:
    """An independent random stream per image (stable when the number of images changes)."""
    return np.random.default_rng(np.random.SeedSequence([seed, _TASK_IDS[task], _SPLIT_IDS[split], index]))


def _grid(size: int) -> Tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates ``(y, x)``, each ``(size, size)``."""
    coords = np.arange(size, dtype=np.float64) + 0.5
    return np.meshgrid(coords, coords, indexing='ij')


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, float(np.clip(s, 0, 1)), float(np.clip(v, 0, 1)))) * 255.0


def _smooth_field(rng: np.random.Generator, size: int, cells: int = 4) -> np.ndarray:
    """Low-frequency random field in [0, 1], ``(size, size)``: bilinear upsampling of a coarse grid."""
    coarse = rng.random((cells + 1, cells + 1))
    t = np.linspace(0, cells, size)
    i0 = np.clip(np.floor(t).astype(int), 0, cells - 1)
    f = t - i0
    rows = coarse[i0] * (1 - f)[:, None] + coarse[i0 + 1] * f[:, None]  # size, cells+1
    return rows[:, i0] * (1 - f)[None] + rows[:, i0 + 1] * f[None]


def _mix(weight: np.ndarray, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    """Blend two RGB colours with a weight map in [0, 1] -> ``(H, W, 3)``."""
    return c0[None, None] * (1 - weight[..., None]) + c1[None, None] * weight[..., None]


# -------------------------------------------------------------------------------------------------
# textures: (rng, y, x) -> weight map in [0, 1]; frequencies/phases/angles jittered per image
# -------------------------------------------------------------------------------------------------
def _rotated(rng: np.random.Generator, y: np.ndarray, x: np.ndarray, spread: float = 0.3):
    a = rng.uniform(-spread, spread)
    return np.cos(a) * x + np.sin(a) * y, -np.sin(a) * x + np.cos(a) * y


def _stripes(rng, y, x, angle: float) -> np.ndarray:
    a = angle + rng.uniform(-0.3, 0.3)
    period = rng.uniform(5.0, 7.0)
    u = np.cos(a) * x + np.sin(a) * y
    return (np.sin(2 * np.pi * u / period + rng.uniform(0, 2 * np.pi)) > 0).astype(np.float64)


def _checker(rng, y, x) -> np.ndarray:
    u, v = _rotated(rng, y, x)
    period = rng.uniform(7.0, 10.0)
    return ((np.floor(u / (period / 2)) + np.floor(v / (period / 2))) % 2).astype(np.float64)


def _dots(rng, y, x) -> np.ndarray:
    period = rng.uniform(6.0, 8.0)
    u, v = (x + rng.uniform(0, period)) % period - period / 2, (y + rng.uniform(0, period)) % period - period / 2
    return (np.hypot(u, v) < period * 0.28).astype(np.float64)


def _rings(rng, y, x) -> np.ndarray:
    cy, cx = y.mean() + rng.uniform(-4, 4), x.mean() + rng.uniform(-4, 4)
    period = rng.uniform(5.0, 7.0)
    return (np.sin(2 * np.pi * np.hypot(y - cy, x - cx) / period) > 0).astype(np.float64)


def _waves(rng, y, x) -> np.ndarray:
    period, amp = rng.uniform(6.0, 8.0), rng.uniform(2.0, 4.0)
    return 0.5 + 0.5 * np.sin(2 * np.pi * (y + amp * np.sin(x / 4.0 + rng.uniform(0, 6))) / period)


def _crosshatch(rng, y, x) -> np.ndarray:
    u, v = _rotated(rng, y, x)
    period = rng.uniform(6.0, 8.0)
    return ((np.abs((u % period) - period / 2) < 1.0) | (np.abs((v % period) - period / 2) < 1.0)).astype(float)


def _speckle(rng, y, x) -> np.ndarray:
    return (rng.random(y.shape) < 0.35).astype(np.float64)


def _gradient(rng, y, x) -> np.ndarray:
    a = rng.uniform(0, 2 * np.pi)
    g = np.cos(a) * x + np.sin(a) * y
    return (g - g.min()) / max(g.max() - g.min(), 1e-6)


TEXTURES: Dict[str, Callable[..., np.ndarray]] = {
    'hstripes': lambda rng, y, x: _stripes(rng, y, x, np.pi / 2),
    'vstripes': lambda rng, y, x: _stripes(rng, y, x, 0.0),
    'diagstripes': lambda rng, y, x: _stripes(rng, y, x, np.pi / 4),
    'checker': _checker,
    'dots': _dots,
    'rings': _rings,
    'waves': _waves,
    'crosshatch': _crosshatch,
    'speckle': _speckle,
    'gradient': _gradient,
}


# -------------------------------------------------------------------------------------------------
# shapes: (u, v, r) in the shape's own rotated frame, radius R -> boolean mask
# -------------------------------------------------------------------------------------------------
def _polygon(u, v, radius, sides: int) -> np.ndarray:
    angle = np.arctan2(v, u)
    sector = 2 * np.pi / sides
    local = (angle % sector) - sector / 2
    return np.hypot(u, v) * np.cos(local) < radius * np.cos(sector / 2)


SHAPES: Dict[str, Callable[[np.ndarray, np.ndarray, float], np.ndarray]] = {
    'circle': lambda u, v, R: np.hypot(u, v) < R,
    'square': lambda u, v, R: np.maximum(np.abs(u), np.abs(v)) < 0.8 * R,
    'triangle': lambda u, v, R: _polygon(u, v, R, 3),
    'diamond': lambda u, v, R: np.abs(u) + np.abs(v) < R,
    'cross': lambda u, v, R: ((np.abs(u) < R / 3) & (np.abs(v) < R)) | ((np.abs(v) < R / 3) & (np.abs(u) < R)),
    'ring': lambda u, v, R: (np.hypot(u, v) < R) & (np.hypot(u, v) > 0.55 * R),
    'ellipse': lambda u, v, R: (u / R)**2 + (v / (0.5 * R))**2 < 1,
    'star': lambda u, v, R: np.hypot(u, v) < R * (0.62 + 0.38 * np.cos(5 * np.arctan2(v, u))),
    'hexagon': lambda u, v, R: _polygon(u, v, R, 6),
    'crescent': lambda u, v, R: (np.hypot(u, v) < R) & (np.hypot(u - 0.45 * R, v) > 0.8 * R),
}

#: The classes of the demo classification set: (shape, texture, hue); the class determines all three.
CLASSES: List[Tuple[str, str, float]] = [
    ('circle', 'hstripes', 0.00),
    ('square', 'checker', 0.10),
    ('triangle', 'dots', 0.20),
    ('diamond', 'vstripes', 0.30),
    ('cross', 'rings', 0.40),
    ('ring', 'waves', 0.50),
    ('ellipse', 'diagstripes', 0.60),
    ('star', 'crosshatch', 0.70),
    ('hexagon', 'speckle', 0.80),
    ('crescent', 'gradient', 0.90),
]


def class_names(num_classes: int = len(CLASSES)) -> List[str]:
    """Folder names of the first ``num_classes`` demo classes, e.g. ``'c00_circle_hstripes'``."""
    _check_num_classes(num_classes)
    return [f'c{i:02d}_{shape}_{tex}' for i, (shape, tex, _) in enumerate(CLASSES[:num_classes])]


def _check_num_classes(num_classes: int) -> None:
    if not 2 <= num_classes <= len(CLASSES):
        raise ValueError(f'num_classes must be in [2, {len(CLASSES)}], got {num_classes}')


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Muted smooth colour field plus pixel noise, ``(size, size, 3)`` float."""
    c0 = _hsv(rng.random(), rng.uniform(0.0, 0.3), rng.uniform(0.25, 0.6))
    c1 = _hsv(rng.random(), rng.uniform(0.0, 0.3), rng.uniform(0.25, 0.6))
    return _mix(_smooth_field(rng, size), c0, c1)


def draw_class_image(label: int, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """Draw one classification image of class ``label``.

    Returns:
        np.ndarray: ``(size, size, 3)`` uint8 RGB image.
    """
    shape, texture, hue = CLASSES[label]
    y, x = _grid(size)
    img = _background(rng, size)
    radius = rng.uniform(0.22, 0.34) * size
    cy, cx = rng.uniform(radius * 0.8, size - radius * 0.8, size=2)
    theta = rng.uniform(0, 2 * np.pi)
    u = np.cos(theta) * (x - cx) + np.sin(theta) * (y - cy)
    v = -np.sin(theta) * (x - cx) + np.cos(theta) * (y - cy)
    mask = SHAPES[shape](u, v, radius)
    fg = _hsv(hue + rng.uniform(-0.03, 0.03), rng.uniform(0.65, 0.95), rng.uniform(0.8, 1.0))
    fg_dark = fg * rng.uniform(0.2, 0.45)
    obj = _mix(TEXTURES[texture](rng, y, x), fg_dark, fg)
    img[mask] = obj[mask]
    img += rng.normal(0, 6.0, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


# -------------------------------------------------------------------------------------------------
# segmentation scenes (labels are ADE20K's raw ids: 0 other/ignore, 1..150 classes)
# -------------------------------------------------------------------------------------------------
#: ADE20K raw label ids (1-based, index into ``ADE20KDataset.METAINFO['classes']`` + 1) used in the demo.
SEG_CLASSES: Dict[str, int] = {
    'building': 2, 'sky': 3, 'tree': 5, 'road': 7, 'grass': 10, 'person': 13, 'car': 21, 'water': 22
}


def _paint(img: np.ndarray, ann: np.ndarray, mask: np.ndarray, colour: np.ndarray, label: int) -> None:
    img[mask] = colour[mask]
    ann[mask] = label


def draw_seg_scene(rng: np.random.Generator, size: int = 64) -> Tuple[np.ndarray, np.ndarray]:
    """Draw one street/landscape scene.

    Returns:
        tuple: ``(image, annotation)``: ``(size, size, 3)`` uint8 RGB and ``(size, size)`` uint8 raw
        ADE20K labels.
    """
    y, x = _grid(size)
    s = size / 64.0
    img = np.zeros((size, size, 3))
    ann = np.zeros((size, size), np.uint8)

    # sky: light blue vertical gradient with soft clouds
    horizon = rng.uniform(0.35, 0.6) * size + 3 * s * np.sin(x / (9 * s) + rng.uniform(0, 6))
    sky = _mix(np.clip(y / size * 1.5, 0, 1), _hsv(0.58, 0.55, 0.95), _hsv(0.55, 0.25, 1.0))
    sky = sky * (1 - 0.15 * _smooth_field(rng, size)[..., None]) + 30 * _smooth_field(rng, size, 3)[..., None]
    _paint(img, ann, y < horizon, sky, SEG_CLASSES['sky'])

    # ground: grass (green, vertical blades), road (grey, dashed centre line) or water (blue waves)
    ground = rng.choice(['grass', 'road', 'water'])
    below = y >= horizon
    if ground == 'grass':
        blades = _stripes(rng, y, x, 0.0) * 0.5 + rng.random((size, size)) * 0.5
        colour = _mix(blades, _hsv(0.30, 0.8, 0.35), _hsv(0.27, 0.7, 0.75))
    elif ground == 'road':
        colour = _mix(rng.random((size, size)) * 0.3, _hsv(0, 0, 0.35), _hsv(0, 0, 0.6))
        dash = (np.abs(x - size / 2) < 1.2 * s) & ((y // (6 * s)) % 2 == 0)
        colour[dash] = _hsv(0.15, 0.1, 0.95)
    else:
        colour = _mix(_waves(rng, y, x), _hsv(0.62, 0.9, 0.35), _hsv(0.55, 0.7, 0.7))
    _paint(img, ann, below, colour, SEG_CLASSES[ground])

    base = float(np.median(horizon))
    # buildings: brick-red/brown blocks standing on the horizon, with a grid of bright windows
    for _ in range(rng.integers(0, 3)):
        w, h = rng.uniform(10, 22) * s, rng.uniform(12, 28) * s
        x0 = rng.uniform(-w / 2, size - w / 2)
        mask = (x >= x0) & (x < x0 + w) & (y >= base - h) & (y < base + 2 * s)
        wall = _hsv(0.05 + rng.uniform(-0.02, 0.02), 0.6, rng.uniform(0.45, 0.65))
        windows = ((((x - x0) % (5 * s)) > 2 * s) & (((y - base) % (6 * s)) > 3 * s)).astype(float)
        _paint(img, ann, mask, _mix(windows, wall, _hsv(0.14, 0.5, 0.95)), SEG_CLASSES['building'])

    # trees: dark-green dotted canopy (round) on a brown trunk
    for _ in range(rng.integers(0, 3)):
        r = rng.uniform(5, 9) * s
        cx, cy = rng.uniform(0, size), base - rng.uniform(4, 10) * s
        trunk = (np.abs(x - cx) < 1.5 * s) & (y >= cy) & (y < base + 3 * s)
        _paint(img, ann, trunk, np.broadcast_to(_hsv(0.07, 0.7, 0.35), img.shape).copy(), SEG_CLASSES['tree'])
        canopy = np.hypot(x - cx, y - cy) < r
        leaves = _mix(_dots(rng, y, x), _hsv(0.33, 0.9, 0.25), _hsv(0.36, 0.8, 0.5))
        _paint(img, ann, canopy, leaves, SEG_CLASSES['tree'])

    # cars: saturated body with a dark window band and two black wheels, standing on the ground
    for _ in range(rng.integers(0, 3)):
        w, h = rng.uniform(10, 16) * s, rng.uniform(5, 7) * s
        x0, y1 = rng.uniform(0, size - w), rng.uniform(base + 6 * s, size)
        body = (x >= x0) & (x < x0 + w) & (y >= y1 - h) & (y < y1)
        colour = np.broadcast_to(_hsv(rng.choice([0.0, 0.12, 0.75]), 0.9, 0.85), img.shape).copy()
        colour[(y >= y1 - h) & (y < y1 - h + 2 * s)] = _hsv(0.6, 0.3, 0.2)
        wheels = (np.hypot(x - x0 - 0.25 * w, y - y1) < 2 * s) | (np.hypot(x - x0 - 0.75 * w, y - y1) < 2 * s)
        colour[wheels] = 15.0
        _paint(img, ann, body | wheels, colour, SEG_CLASSES['car'])

    # persons: thin upright figures, purple clothes and a skin-coloured head
    for _ in range(rng.integers(0, 3)):
        cx, y1 = rng.uniform(2, size - 2), rng.uniform(base + 4 * s, size)
        hgt = rng.uniform(10, 14) * s
        body = ((x - cx) / (1.8 * s))**2 + ((y - (y1 - hgt * 0.4)) / (hgt * 0.4))**2 < 1
        head = np.hypot(x - cx, y - (y1 - hgt * 0.9)) < 1.8 * s
        colour = np.broadcast_to(_hsv(0.8, 0.7, 0.55), img.shape).copy()
        colour[head] = _hsv(0.07, 0.45, 0.9)
        _paint(img, ann, body | head, colour, SEG_CLASSES['person'])

    # clutter labelled 0 ("other", ignored after reduce_zero_label)
    for _ in range(rng.integers(0, 3)):
        r = rng.uniform(1.5, 3.5) * s
        cy, cx = rng.uniform(0, size, size=2)
        mask = np.hypot(x - cx, y - cy) < r
        _paint(img, ann, mask, rng.uniform(0, 255, img.shape), 0)

    img += rng.normal(0, 5.0, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8), ann


# -------------------------------------------------------------------------------------------------
# writers
# -------------------------------------------------------------------------------------------------
def _save_jpeg(path: str, rgb: np.ndarray) -> None:
    Image.fromarray(rgb, 'RGB').save(path, format='JPEG', quality=95, subsampling=0, optimize=False)


def make_demo_in1k(out_dir: str = 'data/demo_in1k',
                   num_classes: int = 10,
                   train_per_class: int = 20,
                   val_per_class: int = 5,
                   img_size: int = 64,
                   seed: int = 0) -> Dict[str, int]:
    """Write the ImageNet-format demo classification set.

    Args:
        out_dir (str): Root of the set (``data_root`` of mmpretrain's ``ImageNet``).
            Defaults to ``'data/demo_in1k'``.
        num_classes (int): Number of classes (2..10). Defaults to 10.
        train_per_class (int): Training images per class. Defaults to 20.
        val_per_class (int): Validation images per class. Defaults to 5.
        img_size (int): Side of the square images in pixels. Defaults to 64.
        seed (int): Seed of all random draws. Defaults to 0.

    Returns:
        dict: number of images written per split.
    """
    _check_num_classes(num_classes)
    names = class_names(num_classes)
    os.makedirs(osp.join(out_dir, 'meta'), exist_ok=True)
    counts = {}
    for split, per_class in (('train', train_per_class), ('val', val_per_class)):
        if per_class < 1:
            raise ValueError(f'{split}_per_class must be >= 1, got {per_class}')
        lines = []
        for label, name in enumerate(names):
            os.makedirs(osp.join(out_dir, split, name), exist_ok=True)
            for i in range(per_class):
                rng = _image_rng(seed, 'cls', split, label * 1_000_000 + i)
                rel = f'{name}/{name}_{i:05d}.JPEG'
                _save_jpeg(osp.join(out_dir, split, rel), draw_class_image(label, rng, img_size))
                lines.append(f'{rel} {label}')
        with open(osp.join(out_dir, 'meta', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
        counts[split] = len(lines)
    with open(osp.join(out_dir, 'meta', 'classes.txt'), 'w') as f:
        f.write('\n'.join(names) + '\n')
    return counts


def make_demo_ade20k(out_dir: str = 'data/demo_ade20k',
                     num_train: int = 100,
                     num_val: int = 20,
                     img_size: int = 64,
                     seed: int = 0) -> Dict[str, int]:
    """Write the ADE20K-format (``ADEChallengeData2016`` layout) demo segmentation set.

    Args:
        out_dir (str): Root of the set (``data_root`` of mmseg's ``ADE20KDataset``).
            Defaults to ``'data/demo_ade20k'``.
        num_train (int): Training scenes. Defaults to 100.
        num_val (int): Validation scenes. Defaults to 20.
        img_size (int): Side of the square images in pixels. Defaults to 64.
        seed (int): Seed of all random draws. Defaults to 0.

    Scenes of an earlier run beyond ``num_train`` / ``num_val`` (files named
    ``ADE_{train,val}_<8 digits>``) are deleted, so the folders hold exactly this set.

    Returns:
        dict: number of images written per split.
    """
    counts = {}
    for split, folder, prefix, num in (('train', 'training', 'ADE_train', num_train),
                                       ('val', 'validation', 'ADE_val', num_val)):
        if num < 1:
            raise ValueError(f'num_{split} must be >= 1, got {num}')
        img_dir, ann_dir = osp.join(out_dir, 'images', folder), osp.join(out_dir, 'annotations', folder)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        for i in range(num):
            img, ann = draw_seg_scene(_image_rng(seed, 'seg', split, i), img_size)
            name = f'{prefix}_{i + 1:08d}'
            _save_jpeg(osp.join(img_dir, name + '.jpg'), img)
            Image.fromarray(ann, 'L').save(osp.join(ann_dir, name + '.png'), format='PNG', optimize=False)
        # mmseg's ADE20KDataset reads every image in the folder: drop the scenes an earlier, larger
        # run left behind, or a smaller --seg-train would silently train on the old count
        written = {f'{prefix}_{i + 1:08d}' for i in range(num)}
        for folder, suffix in ((img_dir, '.jpg'), (ann_dir, '.png')):
            for file in os.listdir(folder):
                stem, ext = osp.splitext(file)
                if ext == suffix and re.fullmatch(rf'{prefix}_\d{{8}}', stem) and stem not in written:
                    os.remove(osp.join(folder, file))
        counts[split] = num
    return counts


def demo_seg_label_ids() -> Sequence[int]:
    """Raw ADE20K label ids that occur in the demo segmentation set (besides 0)."""
    return sorted(SEG_CLASSES.values())
