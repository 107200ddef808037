"""The paper's published protocol, measured on purpose: the ONE place that looks at test data every epoch.

The paper's code evaluates its "test" set, PublicTest and PrivateTest together (7,178 images), after
every epoch and keeps the epoch with the best *test* accuracy (``../shared/paper/NOTES.md``). The
number it reports is therefore chosen on the data it is reported on. The course trains honestly
(epoch chosen on PublicTest, PrivateTest evaluated once); to say what the paper's protocol is
worth, a run configured with ``measure_leak=True`` also records, after each epoch, what this module
computes. :func:`fer_edu.train.train` stores these numbers in the history and never uses them to
choose anything; :func:`leak_summary` turns them into the comparison the book shows.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .evaluation import evaluate


# Printed in chapter 10: within 80 columns, the width of the book's code cells.
def paper_protocol_epoch(model: nn.Module, x_public: torch.Tensor,
                         y_public: torch.Tensor, x_private: torch.Tensor,
                         y_private: torch.Tensor, rt,
                         tta_flip: bool = False) -> dict:
    """LEAKY BY DESIGN. One epoch's accuracy on the paper's code's "test" set
    and on PrivateTest.

    Returns ``leak_test_accuracy`` (PublicTest + PrivateTest pooled, as the
    paper's code) and ``leak_private_accuracy``. Recorded for the leak
    measurement only, never used for a decision.
    """
    public = evaluate(model, x_public, y_public, rt, tta_flip=tta_flip)
    private = evaluate(model, x_private, y_private, rt, tta_flip=tta_flip)
    correct = (public["accuracy"] * len(y_public)
               + private["accuracy"] * len(y_private))
    return {"leak_test_accuracy": correct / (len(y_public) + len(y_private)),
            "leak_private_accuracy": private["accuracy"]}


def leak_summary(run: dict) -> dict:
    """Honest protocol against the paper's, for one recorded run trained with ``measure_leak=True``.

    - ``honest``: PrivateTest at the epoch chosen on PublicTest (what the course reports);
    - ``paper_protocol``: the best epoch's accuracy on PublicTest + PrivateTest pooled, the epoch
      chosen on that same pooled set (what the paper's code reports);
    - ``paper_private``: PrivateTest at the epoch the paper's protocol picks. The pooled comparison
      (``leak_points``) understates the paper's leak, because its honest reference, the epoch chosen on
      PublicTest, is already the best epoch for half of the pool; PrivateTest, the half the honest
      protocol never looked at, shows the leak alone (``paper_private_leak_points``);
    - ``private_peak``: the best epoch's PrivateTest accuracy (the epoch chosen on PrivateTest);
    - the epochs each protocol picks, and the leaks (differences) in percentage points.
    """
    history = run["history"]
    if not history or "leak_test_accuracy" not in history[0]:
        raise ValueError("this run was not trained with measure_leak=True: it has no per-epoch test accuracy")
    pooled = np.array([h["leak_test_accuracy"] for h in history])
    private = np.array([h["leak_private_accuracy"] for h in history])
    # argmax keeps the earliest of tied epochs, as train() does on PublicTest.
    paper_epoch, peak_epoch = int(pooled.argmax()) + 1, int(private.argmax()) + 1
    honest = run["private_accuracy"]
    honest_pooled, paper_private = float(pooled[run["selected_epoch"] - 1]), float(private[paper_epoch - 1])
    paper_protocol, private_peak = float(pooled.max()), float(private.max())
    return {
        "seed": run["seed"],
        "honest": honest, "honest_epoch": run["selected_epoch"],
        "paper_protocol": paper_protocol, "paper_epoch": paper_epoch,
        "private_peak": private_peak, "peak_epoch": peak_epoch,
        "honest_pooled": honest_pooled,
        "leak_points": 100 * (paper_protocol - honest_pooled),
        "paper_private": paper_private,
        "paper_private_leak_points": 100 * (paper_private - honest),
        "peak_leak_points": 100 * (private_peak - honest),
    }
