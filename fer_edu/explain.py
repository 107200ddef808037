"""What a model looks at: Captum attributions for every model in the registry.

- ``saliency``: the gradient of the class logit with respect to the pixels (the paper's Figure 9);
- ``integrated_gradients``: gradients integrated along a path from a black image (Sundararajan et
  al. 2017);
- ``gradcam``: Grad-CAM (Selvaraju et al. 2017) on the last VGG convolution. It sees **only the
  VGG branch**: the LSTM branch of the hybrids is shown by the attention weights and by
  integrated gradients, which follow both branches;
- ``occlusion``: the drop in the class probability when an 8x8 patch is greyed out.

Attributions run in float32 with autocast off, through a forward that returns logits only, in
eval mode (batch norm uses its running statistics). On CUDA, cuDNN has no RNN backward in eval
mode, so cuDNN is disabled around the attribution instead of switching to train mode.
"""

from __future__ import annotations

import contextlib
import copy

import numpy as np
import torch
from torch import nn

from .data import normalize

METHODS = ("saliency", "integrated_gradients", "gradcam", "occlusion")


class LogitsOnly(nn.Module):
    """A model whose forward returns only the logits, in float32 (what Captum expects)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return (out[0] if isinstance(out, tuple) else out).float()


def last_conv(model: nn.Module) -> nn.Conv2d:
    """The last convolution of the VGG branch (Grad-CAM's layer)."""
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("the model has no convolution layer for Grad-CAM")
    return convs[-1]


def _no_cudnn(device: torch.device):
    return torch.backends.cudnn.flags(enabled=False) if device.type == "cuda" else contextlib.nullcontext()


# Printed in chapter 7: within 80 columns, the width of the book's code cells.
def attribute(model: nn.Module, images: torch.Tensor,
              target: torch.Tensor | int | None = None,
              method: str = "saliency", batch_size: int = 32) -> np.ndarray:
    """Attribution maps ``(N, 48, 48)`` for uint8 images ``(N, 48, 48)``.

    ``target`` is the class to explain per image (default: the model's
    prediction).
    """
    from captum import attr

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; "
                         f"expected one of {METHODS}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    wrapped = LogitsOnly(model)

    def explain(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if method == "saliency":
            saliency = attr.Saliency(wrapped)
            return saliency.attribute(x.requires_grad_(), target=t, abs=True)
        if method == "integrated_gradients":
            black = torch.full_like(x, -1.0)  # a black face, normalised
            return attr.IntegratedGradients(wrapped).attribute(
                x, baselines=black, target=t, n_steps=32,
                internal_batch_size=256)
        if method == "gradcam":
            cam = attr.LayerGradCam(wrapped, last_conv(model)).attribute(
                x, target=t, relu_attributions=True)
            return attr.LayerAttribution.interpolate(
                cam, x.shape[-2:], interpolate_mode="bilinear")
        occlusion = attr.Occlusion(lambda inp: torch.softmax(wrapped(inp), 1))
        return occlusion.attribute(x, sliding_window_shapes=(1, 8, 8),
                                   strides=(1, 4, 4), baselines=0.0, target=t)

    out = []
    try:
        with torch.autocast(device.type, enabled=False), _no_cudnn(device):
            for start in range(0, len(images), batch_size):
                batch = images[start:start + batch_size].to(device)
                x = normalize(batch).float().contiguous()
                if target is None:
                    with torch.no_grad():
                        t = wrapped(x).argmax(1)
                elif isinstance(target, int):
                    t = torch.full((len(x),), target, device=device)
                else:
                    t = target[start:start + batch_size].to(device)
                a = explain(x, t)
                out.append(a.detach()[:, 0].float().cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(out)


def randomized_copy(model: nn.Module, seed: int = 0) -> nn.Module:
    """The same architecture with every layer re-initialised: the sanity check's control
    (Adebayo et al. 2018). A method whose maps barely change under it explains the image, not the model."""
    clone = copy.deepcopy(model)
    torch.manual_seed(seed)
    for m in clone.modules():
        if hasattr(m, "reset_parameters") and m is not clone:
            m.reset_parameters()
    return clone.eval()


def rank_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation between two sets of maps, one value per image."""
    def ranks(x: np.ndarray) -> np.ndarray:
        flat = x.reshape(len(x), -1)
        return flat.argsort(1).argsort(1).astype(np.float64)

    ra, rb = ranks(np.abs(a)), ranks(np.abs(b))
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    return (ra * rb).sum(1) / np.sqrt((ra**2).sum(1) * (rb**2).sum(1))


def sanity_check(model: nn.Module, images: torch.Tensor, methods=METHODS) -> dict[str, float]:
    """Median rank correlation between maps of the trained model and of a randomised copy, per method.

    Near 1: the map ignores what the model learned. Near 0: it depends on the trained weights.
    """
    control = randomized_copy(model)
    target = LogitsOnly(model)(normalize(images.to(next(model.parameters()).device))).argmax(1).detach()
    return {m: float(np.median(rank_correlation(attribute(model, images, target, m),
                                                attribute(control, images, target, m))))
            for m in methods}
