"""Losses: cross entropy, class-weighted cross entropy, focal loss with static or dynamic alpha.

All per-class vectors are in the canonical label order (:data:`fer_edu.data.CLASSES`). The paper's
focal-loss alpha vector is given in the paper's own order: use :data:`PAPER_ALPHA`, converted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import NUM_CLASSES, reorder_per_class

#: The paper's alpha vector, as printed: happy, sad, angry, disgust, fear, surprise, neutral.
PAPER_ALPHA_PAPER_ORDER = (1.0, 1.2, 1.1, 1.3, 1.1, 1.0, 1.1)
#: The same vector in the canonical order (angry 1.1, disgust 1.3, fear 1.1, happy 1.0, sad 1.2, surprise 1.0,
#: neutral 1.1).
PAPER_ALPHA = tuple(float(a) for a in reorder_per_class(PAPER_ALPHA_PAPER_ORDER, "paper", "canonical"))


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017), multi-class: ``FL = -alpha_y (1 - p_y)^gamma log p_y``, averaged.

    ``alpha`` is ``None`` (1 for every class), a scalar (every class alike: in the multi-class
    case this only rescales the loss: under plain SGD without weight decay a learning-rate factor,
    with weight decay also a shift towards the decay; Adam without weight decay and AdamW all but
    cancel it) or a per-class
    vector in canonical order. ``gamma = 0`` and ``alpha = None`` is cross entropy.
    """

    def __init__(self, gamma: float = 2.0, alpha: float | Sequence[float] | None = None) -> None:
        super().__init__()
        self.gamma = gamma
        self.set_alpha(alpha)

    def set_alpha(self, alpha: float | Sequence[float] | torch.Tensor | None) -> None:
        """Replace alpha (the dynamic-alpha rule calls this after each epoch)."""
        if alpha is None:
            value = torch.ones(NUM_CLASSES)
        elif np.ndim(alpha) == 0:
            value = torch.full((NUM_CLASSES,), float(alpha))
        else:
            value = torch.as_tensor(np.asarray(alpha, dtype=np.float32))
            if value.shape != (NUM_CLASSES,):
                raise ValueError(f"alpha needs {NUM_CLASSES} per-class values, got shape {tuple(value.shape)}")
        if (value < 0).any():
            raise ValueError("alpha must be non-negative")
        self.register_buffer("alpha", value.float(), persistent=False)

    # Printed in chapter 5: within 80 columns, the width of the book's code cells.
    def forward(self, logits: torch.Tensor,
                target: torch.Tensor) -> torch.Tensor:
        # The log-probability of each image's true class.
        log_p = F.log_softmax(logits.float(), dim=1)
        log_p = log_p.gather(1, target[:, None]).squeeze(1)
        modulating = (1 - log_p.exp()).clamp(min=0) ** self.gamma
        alpha = self.alpha.to(logits.device)[target]
        return -(alpha * modulating * log_p).mean()


def class_weights(labels: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Inverse-frequency weights ``w_c = N / (K n_c)`` (mean 1 over the data), for weighted cross entropy."""
    counts = torch.bincount(torch.as_tensor(labels), minlength=NUM_CLASSES).float()
    return counts.sum() / (NUM_CLASSES * counts.clamp(min=1))


# Printed in chapter 5: within 80 columns, the width of the book's code cells.
def dynamic_alpha(recall: Sequence[float] | np.ndarray,
                  floor: float = 0.05) -> np.ndarray:
    """The dynamic-alpha rule, applied after each epoch from per-class recall
    ``r_c`` on PublicTest:

    ``alpha_c = K (1 - r_c + floor) / sum_k (1 - r_k + floor)``

    Classes the model misses get more weight; alpha averages 1 over the
    classes (not over the images, whose classes are unequal in number);
    ``floor`` keeps a perfectly recalled class from vanishing.
    """
    miss = 1.0 - np.asarray(recall, dtype=np.float64) + floor
    return NUM_CLASSES * miss / miss.sum()


def build_loss(kind: str, *, gamma: float = 2.0, alpha=None, labels=None, label_smoothing: float = 0.0) -> nn.Module:
    """``ce``, ``weighted_ce`` (needs the training ``labels``) or ``focal``."""
    if kind == "ce":
        return nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    if kind == "weighted_ce":
        if labels is None:
            raise ValueError("weighted_ce needs the training labels to compute class weights")
        return nn.CrossEntropyLoss(weight=class_weights(labels), label_smoothing=label_smoothing)
    if kind == "focal":
        return FocalLoss(gamma, alpha)
    raise ValueError(f"unknown loss {kind!r}; expected 'ce', 'weighted_ce' or 'focal'")
