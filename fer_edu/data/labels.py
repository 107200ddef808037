"""The seven FER-2013 classes and the three label orders in circulation.

The package's one canonical order is the order of ``fer2013.csv`` (also torchvision's
``FER2013``). Everything indexed by class inside ``fer_edu`` uses it. The alphabetical order
(what ``torchvision.datasets.ImageFolder`` assigns to the Kaggle folders) and the order of the
paper are only ever met at the edges, and converted explicitly with the functions below.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: The canonical order: ``fer2013.csv``'s ``emotion`` column, 0..6.
CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: The order ``ImageFolder`` gives the Kaggle image folders (sorted folder names).
ALPHABETICAL: tuple[str, ...] = tuple(sorted(CLASSES))
#: The order of the paper (section 1.2): happy 0, sad 1, angry 2, disgust 3, fear 4, surprise 5, neutral 6.
PAPER: tuple[str, ...] = ("happy", "sad", "angry", "disgust", "fear", "surprise", "neutral")

ORDERS: dict[str, tuple[str, ...]] = {
    "canonical": CLASSES,
    "fer2013": CLASSES,
    "alphabetical": ALPHABETICAL,
    "imagefolder": ALPHABETICAL,
    "paper": PAPER,
}
NUM_CLASSES = len(CLASSES)


def order(name: str) -> tuple[str, ...]:
    """The class names of a label order by its name (``canonical``, ``alphabetical``, ``paper``)."""
    try:
        return ORDERS[name]
    except KeyError:
        raise ValueError(f"unknown label order {name!r}; expected one of {sorted(ORDERS)}") from None


def permutation(src: str, dst: str) -> np.ndarray:
    """Index array ``p`` such that a label ``i`` in order ``src`` is label ``p[i]`` in ``dst``."""
    a, b = order(src), order(dst)
    return np.array([b.index(name) for name in a], dtype=np.int64)


def convert_labels(labels: Sequence[int] | np.ndarray, src: str, dst: str) -> np.ndarray:
    """Convert integer labels from one order to another (e.g. ``"paper"`` to ``"canonical"``)."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise ValueError(f"labels must lie in 0..{NUM_CLASSES - 1}, got {labels.min()}..{labels.max()}")
    return permutation(src, dst)[labels]


def reorder_per_class(values: Sequence[float] | np.ndarray, src: str, dst: str) -> np.ndarray:
    """Reorder a per-class vector (e.g. the paper's focal-loss alpha) from ``src`` order to ``dst``.

    ``values[i]`` belongs to class ``order(src)[i]``; the result's entry ``j`` belongs to
    ``order(dst)[j]``.
    """
    values = np.asarray(values)
    if values.shape[0] != NUM_CLASSES:
        raise ValueError(f"a per-class vector needs {NUM_CLASSES} entries, got {values.shape[0]}")
    out = np.empty_like(values)
    out[permutation(src, dst)] = values
    return out
