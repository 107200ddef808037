"""Procedural synthetic faces: the embedded default when FER-2013 is not on the machine.

Each face is drawn from a handful of parameters (eyes, brows, mouth) that differ by expression,
with random pose, size, lighting, contrast and noise, and a random expression strength so that
weak expressions look close to neutral, as in real data. Classes follow FER-2013's Training
imbalance. A small network learns them well above chance in a minute on a CPU, which is what a
fresh machine needs to run every notebook and test: the numbers they give say nothing about
FER-2013, and every output made from them carries :data:`BANNER`.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .dataset import IMAGE_SIZE, SPLITS, FERData
from .labels import CLASSES

BANNER = "SYNTHETIC FACES - not FER-2013: numbers from them say nothing about real faces"
#: FER-2013 Training images per class (canonical order), the imbalance the generator copies.
FER2013_TRAIN_COUNTS = np.array([3995, 436, 4097, 7215, 4830, 3171, 4965])

# Per expression (canonical order): eye openness, brow raise, brow tilt (+ = inner ends down),
# mouth curvature (+ = corners up), mouth width, mouth opening (height), mouth asymmetry.
_EXPRESSIONS = np.array([
    # eye   brow   tilt   curve  width  open   asym
    [0.75, -0.06, 0.12, -0.10, 0.24, 0.00, 0.00],  # angry: brows drawn down and in, lips pressed
    [0.70, -0.08, 0.06, -0.05, 0.26, 0.03, 0.35],  # disgust: lowered brows, one lip corner raised
    [1.50, 0.08, -0.10, -0.05, 0.28, 0.08, 0.00],  # fear: wide eyes, brows up and in, mouth stretched
    [0.80, 0.00, 0.00, 0.80, 0.34, 0.04, 0.00],  # happy: corners up, wide mouth, slight squint
    [0.90, 0.02, -0.14, -0.70, 0.26, 0.00, 0.00],  # sad: corners down, inner brows up
    [1.70, 0.14, 0.00, 0.00, 0.14, 0.18, 0.00],  # surprise: wide eyes, high brows, round open mouth
    [1.00, 0.00, 0.00, 0.00, 0.26, 0.00, 0.00],  # neutral
])
_NEUTRAL = _EXPRESSIONS[6]


def _segment_distance(x, y, x0, y0, x1, y1):
    """Distance from points (x, y) to segments (x0, y0)-(x1, y1), all broadcast."""
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy), 0, 1)
    return np.hypot(x - x0 - t * dx, y - y0 - t * dy)


def render_faces(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one 48x48 uint8 face per label (canonical order), vectorised over the batch."""
    n = len(labels)

    def r(lo, hi):
        return rng.uniform(lo, hi, (n, 1, 1))

    strength = r(0.55, 1.0)
    params = _NEUTRAL + strength[..., 0] * (_EXPRESSIONS[labels] - _NEUTRAL)
    params = params + rng.normal(0, 0.03, params.shape)
    eye, brow, tilt, curve, width, mouth_open, asym = (params[:, i, None, None] for i in range(7))

    grid = (np.arange(IMAGE_SIZE) + 0.5) / IMAGE_SIZE * 2 - 1
    gy, gx = np.meshgrid(grid, grid, indexing="ij")
    # Face pose: centre, scale, in-plane rotation; (u, v) are face coordinates, v down.
    cx, cy, scale, angle = r(-0.08, 0.08), r(-0.06, 0.08), r(0.85, 1.08), r(-0.25, 0.25)
    cos, sin = np.cos(angle), np.sin(angle)
    u = ((gx - cx) * cos + (gy - cy) * sin) / scale
    v = (-(gx - cx) * sin + (gy - cy) * cos) / scale

    background = r(0.05, 0.55) + r(-0.15, 0.15) * gx
    skin = r(0.5, 0.85)
    face = (u / 0.66) ** 2 + (v / 0.84) ** 2 < 1
    img = np.where(face, skin + r(-0.15, 0.15) * u + r(-0.1, 0.1) * v, background)
    dark = skin - r(0.3, 0.45)

    # Eyes: dark ellipses whose height is the openness.
    for side in (-1, 1):
        eyes = ((u - side * 0.28) / 0.11) ** 2 + ((v + 0.14) / (0.055 * eye)) ** 2 < 1
        img = np.where(eyes, dark, img)
        # Brows: thick segments; tilt lowers (angry) or raises (sad, fear) the inner end.
        by = -0.36 - brow
        d = _segment_distance(u, v, side * 0.1, by + tilt, side * 0.42, by - tilt * 0.3)
        img = np.where(d < 0.035, dark, img)
    # Nose: a short shaded line.
    img = np.where(_segment_distance(u, v, 0.0, -0.05, 0.02, 0.18) < 0.025, skin - 0.12, img)
    # Mouth: a curve y = v0 - curve * (u^2 - w^2 / 2) - asym * u * |u|, opened into a band.
    v0 = 0.45
    centre_line = v0 - curve * (u**2 - width**2 / 2) - asym * u * np.abs(u) * 2
    in_width = np.abs(u) < width
    lips = in_width & (np.abs(v - centre_line) < 0.03 + mouth_open * np.sqrt(np.clip(1 - (u / width) ** 2, 0, 1)))
    img = np.where(lips, dark - 0.05, img)

    img = img + rng.normal(0, 0.04, img.shape)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def synthetic_faces(
    n_train: int = 2400, n_public: int = 600, n_private: int = 600, seed: int = 0
) -> FERData:
    """A seeded synthetic stand-in for FER-2013 with its three splits and its class imbalance."""
    rng = np.random.default_rng(seed)
    p = FER2013_TRAIN_COUNTS / FER2013_TRAIN_COUNTS.sum()
    sizes = dict(zip(SPLITS, (n_train, n_public, n_private)))
    labels = np.concatenate([rng.choice(len(CLASSES), size=k, p=p) for k in sizes.values()])
    splits = np.repeat(np.array(SPLITS), list(sizes.values()))
    images = render_faces(labels, rng)
    hashes = np.array([hashlib.blake2b(im.tobytes(), digest_size=16).digest() for im in images], dtype="S16")
    info = {
        "format": "synthetic", "synthetic": True, "seed": seed, "banner": BANNER,
        "source": "fer_edu.data.synthetic", "sha256": None, "split_counts": sizes,
    }
    ids = np.array([f"synthetic:{seed}:{i}" for i in range(len(labels))])
    return FERData(images, labels.astype(np.int64), splits, ids, hashes, info)
