"""Figures the book and the command line share. Figures of synthetic data carry the banner."""

from __future__ import annotations

import matplotlib

if matplotlib.get_backend().lower() not in ("module://matplotlib_inline.backend_inline",):
    matplotlib.use("Agg", force=False)  # headless unless a notebook already chose its backend
import matplotlib.pyplot as plt
import numpy as np

from .data import BANNER, CLASSES, FERData


def add_banner(fig: plt.Figure, data: FERData) -> None:
    """Stamp the synthetic-data banner on a figure made from synthetic faces (no-op for FER-2013)."""
    if data.synthetic:
        fig.text(0.5, 0.995, BANNER, ha="center", va="top", color="white", fontsize=9, weight="bold",
                 bbox={"facecolor": "crimson", "edgecolor": "none", "pad": 3})


def sample_grid(data: FERData, per_class: int = 8, split: str | None = "Training", seed: int = 0) -> plt.Figure:
    """A grid of random faces, one row per class (canonical order)."""
    part = data.split(split) if split else data
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(CLASSES), per_class, figsize=(per_class * 0.9, len(CLASSES) * 1.0 + 0.4),
                             squeeze=False)
    for row, name in enumerate(CLASSES):
        idx = np.flatnonzero(part.labels == row)
        chosen = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []
        for col, ax in enumerate(axes[row]):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.spines[:].set_visible(False)
            if col < len(chosen):
                ax.imshow(part.images[chosen[col]], cmap="gray", vmin=0, vmax=255)
        axes[row, 0].set_ylabel(f"{name}\n({len(idx):,})", rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(f"{'Synthetic faces' if data.synthetic else 'FER-2013'}, {split or 'all splits'}", y=0.97)
    add_banner(fig, data)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig
