"""The PyTorch side: whole splits as uint8 tensors, batched per-sample augmentation, a Dataset.

Training reads batches by indexing one uint8 tensor that holds the whole split (on the GPU when
there is one) and augments the batch in one go: a random affine transform per sample (flip,
rotation, optional scale and shift) through ``affine_grid``/``grid_sample``, and optional random
erasing. No per-image Python loop, no worker processes, no JPEG decoding per epoch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .dataset import FERData

MEAN, STD = 0.5, 0.5  # the paper's normalisation


@dataclass(frozen=True)
class Augment:
    """Per-sample random augmentation. The defaults are the paper's: flip and rotation up to 30 degrees.

    ``scale`` is a (low, high) zoom range, ``translate`` the largest shift as a fraction of the
    image, ``erasing`` the probability of blanking one random rectangle (Zhong et al. 2020).
    """

    flip: bool = True
    rotation: float = 30.0
    scale: tuple[float, float] = (1.0, 1.0)
    translate: float = 0.0
    erasing: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


NO_AUGMENT = Augment(flip=False, rotation=0.0)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(B, 48, 48)`` or float ``(B, 1, 48, 48)`` in [0, 1] to the network's input (mean 0.5, std 0.5)."""
    if images.dtype == torch.uint8:
        images = images.unsqueeze(1).float().div_(255)
    return (images - MEAN) / STD


# Printed in chapter 1: within 80 columns, the width of the book's code cells.
def augment(images: torch.Tensor, aug: Augment,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Augment a uint8 batch ``(B, 48, 48)``, each sample with its own random
    draw; returns normalised floats."""
    x = images.unsqueeze(1).float().div_(255)
    b, device = x.shape[0], x.device

    def uniform(lo: float, hi: float) -> torch.Tensor:
        draw = torch.rand(b, device=device, generator=generator)
        return draw * (hi - lo) + lo

    needs_affine = (aug.flip or aug.rotation or aug.scale != (1.0, 1.0)
                    or aug.translate)
    if needs_affine:
        angle = uniform(-aug.rotation, aug.rotation) * (math.pi / 180)
        zoom = uniform(*aug.scale)
        if aug.flip:
            flip = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0)
        else:
            flip = torch.ones(b, device=device)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        shift_x = uniform(-aug.translate, aug.translate) * 2
        shift_y = uniform(-aug.translate, aug.translate) * 2
        # affine_grid maps output to input coordinates: rotate, zoom, then
        # mirror x for a flip.
        theta = torch.stack([
            torch.stack([cos * flip, -sin, shift_x], 1),
            torch.stack([sin * flip, cos, shift_y], 1),
        ], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
                          align_corners=False)
    if aug.erasing:
        x = _random_erasing(x, aug.erasing, generator)
    return normalize(x)


def _random_erasing(x: torch.Tensor, p: float, generator: torch.Generator | None) -> torch.Tensor:
    """Blank one random rectangle (2-33 % of the area, aspect 0.3-3.3) in a fraction ``p`` of the batch."""
    b, _, h, w = x.shape
    r = torch.rand(b, 5, device=x.device, generator=generator)
    area = (0.02 + r[:, 0] * 0.31) * h * w
    aspect = torch.exp(math.log(0.3) + r[:, 1] * (math.log(3.3) - math.log(0.3)))
    eh = (area * aspect).sqrt().clamp(max=h)
    ew = (area / aspect).sqrt().clamp(max=w)
    top = r[:, 2] * (h - eh)
    left = r[:, 3] * (w - ew)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    rows = (ys >= top.view(-1, 1, 1)) & (ys < (top + eh).view(-1, 1, 1))
    cols = (xs >= left.view(-1, 1, 1)) & (xs < (left + ew).view(-1, 1, 1))
    box = rows & cols & (r[:, 4] < p).view(-1, 1, 1)
    return x.masked_fill(box.unsqueeze(1), 0.0)


def split_tensors(data: FERData, split: str, device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """One split as ``(uint8 images (N, 48, 48), int64 labels (N,))`` on ``device``."""
    part = data.split(split)
    if len(part) == 0:
        raise ValueError(f"the data has no {split!r} images (splits present: {sorted(set(data.splits.tolist()))})")
    return (
        torch.from_numpy(np.ascontiguousarray(part.images)).to(device),
        torch.from_numpy(part.labels).to(device),
    )


class FERDataset(Dataset):
    """A standard map-style ``Dataset`` over one split, for readers who want a ``DataLoader``.

    Items are ``(float tensor (1, 48, 48), label)``; ``transform`` (for example torchvision
    transforms) receives the uint8 image as a ``(1, 48, 48)`` tensor and should return floats;
    without one the image is only normalised.
    """

    def __init__(self, data: FERData, split: str, transform=None) -> None:
        self.images, self.labels = split_tensors(data, split)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = self.transform(self.images[i].unsqueeze(0)) if self.transform else normalize(self.images[i : i + 1])[0]
        return x, int(self.labels[i])
