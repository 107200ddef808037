"""The in-memory form every loader returns: uint8 faces, labels, split and source of each image."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .labels import CLASSES

#: The official FER-2013 splits (the ``Usage`` column; the Kaggle file-name prefix).
SPLITS: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")
#: Splits a partial download can produce: a test folder whose files lost their prefixes, and the
#: unlabelled ``test.csv`` of the Kaggle competition.
EXTRA_SPLITS: tuple[str, ...] = ("Test", "Unlabelled")
UNLABELLED = -1
IMAGE_SIZE = 48


@dataclass
class FERData:
    """A FER-2013-like data set held in memory.

    ``images`` is ``(N, 48, 48)`` uint8; ``labels`` is ``(N,)`` int64 in the canonical order of
    :data:`fer_edu.data.CLASSES` (``-1`` where the source has no label); ``splits`` names each
    image's split; ``source_ids`` says where each image came from (file name or CSV row);
    ``content_hashes`` fingerprints the bytes as stored in the source (for the quality report);
    ``info`` records the source: format, path, sha256, whether it is synthetic.
    """

    images: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    source_ids: np.ndarray
    content_hashes: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.dtype != np.uint8 or self.images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"images must be uint8 (N, 48, 48), got {self.images.dtype} {self.images.shape}")
        for name in ("labels", "splits", "source_ids", "content_hashes"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries for {n} images")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def synthetic(self) -> bool:
        """True for the embedded synthetic faces: their numbers say nothing about FER-2013."""
        return bool(self.info.get("synthetic", False))

    def subset(self, index: np.ndarray) -> FERData:
        """The images selected by a boolean mask or an index array, with the same ``info``."""
        return FERData(
            self.images[index], self.labels[index], self.splits[index],
            self.source_ids[index], self.content_hashes[index], dict(self.info),
        )

    def split(self, name: str) -> FERData:
        """One split (``Training``, ``PublicTest``, ``PrivateTest``, ...)."""
        if name not in SPLITS + EXTRA_SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {SPLITS + EXTRA_SPLITS}")
        return self.subset(self.splits == name)

    def counts(self) -> dict[str, dict[str, int]]:
        """Images per split and class: ``{split: {class: n, ..., "total": n}}``."""
        out: dict[str, dict[str, int]] = {}
        for s in [s for s in SPLITS + EXTRA_SPLITS if (self.splits == s).any()]:
            labels = self.labels[self.splits == s]
            row = {c: int((labels == i).sum()) for i, c in enumerate(CLASSES)}
            if (labels == UNLABELLED).any():
                row["unlabelled"] = int((labels == UNLABELLED).sum())
            row["total"] = int(len(labels))
            out[s] = row
        return out

    def split_counts(self) -> dict[str, int]:
        """Images per split, e.g. ``{"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}``."""
        return {s: row["total"] for s, row in self.counts().items()}
