import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fer_edu.losses import PAPER_ALPHA, FocalLoss, build_loss, class_weights, dynamic_alpha


def test_focal_equals_cross_entropy_at_gamma_0_alpha_1():
    torch.manual_seed(0)
    logits, target = torch.randn(16, 7), torch.randint(0, 7, (16,))
    assert torch.allclose(FocalLoss(gamma=0.0)(logits, target), F.cross_entropy(logits, target), atol=1e-6)


def test_focal_by_hand():
    # One sample, p_y = 0.5 (two equal logits among seven? use a 2-way setup padded with -inf-like logits).
    logits = torch.tensor([[0.0, 0.0, -1e4, -1e4, -1e4, -1e4, -1e4]])
    target = torch.tensor([0])
    # FL = -alpha (1 - 0.5)^2 log 0.5 = 0.25 * ln 2 * alpha
    assert FocalLoss(gamma=2.0)(logits, target).item() == pytest.approx(0.25 * math.log(2), rel=1e-5)
    assert FocalLoss(gamma=2.0, alpha=0.25)(logits, target).item() == pytest.approx(0.0625 * math.log(2), rel=1e-5)
    alpha = [3.0, 1, 1, 1, 1, 1, 1]
    assert FocalLoss(gamma=1.0, alpha=alpha)(logits, target).item() == pytest.approx(3 * 0.5 * math.log(2), rel=1e-5)


def test_paper_alpha_vector_is_in_canonical_order():
    # canonical: angry, disgust, fear, happy, sad, surprise, neutral
    assert PAPER_ALPHA == (1.1, 1.3, 1.1, 1.0, 1.2, 1.0, 1.1)


def test_dynamic_alpha_rule():
    recall = np.array([0.5, 0.0, 0.5, 0.9, 0.5, 0.8, 0.6])
    alpha = dynamic_alpha(recall)
    assert alpha.mean() == pytest.approx(1.0)
    assert alpha.argmax() == 1 and alpha.argmin() == 3
    miss = 1 - recall + 0.05
    assert alpha == pytest.approx(7 * miss / miss.sum())


def test_class_weights_inverse_frequency():
    labels = torch.tensor([0] * 6 + [1] * 2 + [2, 3, 4, 5, 6] * 2)
    w = class_weights(labels)
    assert w[1] == pytest.approx(18 / (7 * 2)) and w[0] == pytest.approx(18 / (7 * 6))


def test_build_loss_and_errors():
    assert isinstance(build_loss("focal", alpha=PAPER_ALPHA), FocalLoss)
    with pytest.raises(ValueError, match="needs the training labels"):
        build_loss("weighted_ce")
    with pytest.raises(ValueError, match="unknown loss"):
        build_loss("hinge")
    with pytest.raises(ValueError, match="7 per-class"):
        FocalLoss(alpha=[1.0, 2.0])
