"""Data quality: duplicated images within and across splits, conflicting labels, blank faces."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from .dataset import FERData

#: A face whose pixel standard deviation is below this (out of 255) is a flat, blank square.
BLANK_STD = 2.0


@dataclass
class DuplicateStats:
    """Groups of identical images (by stored bytes or by decoded pixels)."""

    images: int
    distinct: int
    groups: int  # contents that occur more than once
    images_in_groups: int
    cross_split_groups: int  # groups with members in two or more splits
    conflicting_groups: int  # groups whose members carry different labels


@dataclass
class QualityReport:
    """What :func:`quality_report` measures; :meth:`lines` prints it."""

    byte_identical: DuplicateStats
    pixel_identical: DuplicateStats
    blank: list[str]
    training_in_test: int  # Training images whose pixels also occur in PublicTest or PrivateTest

    def lines(self) -> list[str]:
        out = []
        for name, s in (("byte-identical", self.byte_identical), ("pixel-identical", self.pixel_identical)):
            out.append(
                f"{name}: {s.images:,} images, {s.distinct:,} distinct; {s.groups:,} groups of duplicates "
                f"({s.images_in_groups:,} images), {s.cross_split_groups:,} spanning two or more splits, "
                f"{s.conflicting_groups:,} with conflicting labels"
            )
        out.append(f"Training images also in a test split (pixel-identical): {self.training_in_test:,}")
        shown = ", ".join(self.blank[:5]) + (", ..." if len(self.blank) > 5 else "")
        out.append(f"blank images (pixel std < {BLANK_STD:g}): {len(self.blank)}"
                   + (f": {shown}" if self.blank else ""))
        return out


def pixel_hashes(data: FERData) -> np.ndarray:
    """A 16-byte fingerprint of each image's decoded pixels."""
    return np.array([hashlib.blake2b(im.tobytes(), digest_size=16).digest() for im in data.images], dtype="S16")


def duplicate_groups(keys: np.ndarray) -> list[np.ndarray]:
    """Indices of the images in each group of equal ``keys`` that has more than one member."""
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    members_of = np.split(np.argsort(inverse, kind="stable"), np.cumsum(counts)[:-1])
    return [m for m in members_of if len(m) > 1]


def duplicate_stats(keys: np.ndarray, data: FERData) -> DuplicateStats:
    """Count the groups of equal ``keys`` and how many cross splits or disagree on the label."""
    groups = duplicate_groups(keys)
    cross = sum(len(set(data.splits[g])) > 1 for g in groups)
    conflicting = sum(len(set(data.labels[g])) > 1 for g in groups)
    return DuplicateStats(len(keys), len(np.unique(keys)), len(groups), int(sum(len(g) for g in groups)),
                          int(cross), int(conflicting))


def conflicting_groups(data: FERData) -> list[np.ndarray]:
    """Groups of pixel-identical images that carry different labels."""
    return [g for g in duplicate_groups(pixel_hashes(data)) if len(set(data.labels[g])) > 1]


def blank_images(data: FERData, threshold: float = BLANK_STD) -> np.ndarray:
    """Indices of images that are flat (nearly one grey level)."""
    return np.flatnonzero(data.images.reshape(len(data), -1).std(axis=1) < threshold)


def test_duplicate_mask(data: FERData) -> np.ndarray:
    """True for Training images whose pixels also occur in PublicTest or PrivateTest."""
    keys = pixel_hashes(data)
    test_keys = set(keys[np.isin(data.splits, ("PublicTest", "PrivateTest"))].tolist())
    return (data.splits == "Training") & np.array([k in test_keys for k in keys.tolist()])


def drop_test_duplicates(data: FERData) -> FERData:
    """The data without the Training images that also appear in a test split (a leak)."""
    return data.subset(~test_duplicate_mask(data))


def drop_random_training(data: FERData, seed: int) -> FERData:
    """The data without as many random Training images as :func:`drop_test_duplicates` removes, none of
    them a copy of a test image: the control that tells a smaller training set from the copies' leak."""
    copies = test_duplicate_mask(data)
    others = np.flatnonzero((data.splits == "Training") & ~copies)
    dropped = np.random.default_rng(seed).choice(others, size=int(copies.sum()), replace=False)
    keep = np.ones(len(data), dtype=bool)
    keep[dropped] = False
    return data.subset(keep)


def quality_report(data: FERData) -> QualityReport:
    """Duplicates (by bytes as stored and by pixels), cross-split leaks, conflicting labels, blanks."""
    return QualityReport(
        byte_identical=duplicate_stats(data.content_hashes, data),
        pixel_identical=duplicate_stats(pixel_hashes(data), data),
        blank=[str(s) for s in data.source_ids[blank_images(data)]],
        training_in_test=int(test_duplicate_mask(data).sum()),
    )
