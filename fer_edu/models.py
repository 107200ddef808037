"""The paper's networks, built from configuration lists (as torchvision's ``models/vgg.py``).

Every model takes ``(B, 1, 48, 48)`` images normalised to [-1, 1] and returns class logits in the
canonical label order. ``width`` multiplies every channel count (1.0 is the paper's network).

Choices the paper leaves open, and why:

- **Head.** A compact head on the last block's features (``Linear(C, 256) - ReLU - Dropout(0.3)
  - Linear(256, 7)``, ``HEAD_HIDDEN`` and ``HEAD_DROPOUT``, at every width), not torchvision's
  4096-wide ImageNet head: with five 2x2 max-pools a 48x48 face is 1x1 after the last block, and
  torchvision's VGG19-BN with that head (on its 7x7 pooled grid) has about 140 M parameters for
  seven classes, 120 M of them in the head, against about 20 M here.
- **LSTM.** 2 layers, hidden size 128 at width 1 (scaled with ``width``, at least 32): the paper
  gives no size; 128 keeps the LSTM branch small beside VGG11 (the final model has about 9.6 M
  parameters at width 1). It reads the 48 image rows as 48 time steps of 48 pixels, as the paper
  describes (its published code does not).
- **Fusion.** The VGG feature vector and the LSTM feature vector are concatenated before the
  head (the paper's Figure 3).
- **Attention** (equations 1-2, with a bias the paper does not write): ``e_t = tanh(w . h_t + b)``,
  ``alpha = softmax_t(e)``, context ``c = sum_t alpha_t h_t``, concatenated with the last hidden state
  ``h_T``. Because ``e_t`` is in [-1, 1], no row can get more than ``e^2 = 7.4`` times another's weight.
  The labelled variant ``additive`` uses unbounded scores ``v . tanh(W h_t + b)`` (Bahdanau et al. 2015).
- **Dropout variant.** ``Dropout2d(0.25)`` after each VGG max-pool layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

# Numbers are convolution output channels, "M" a 2x2 max-pool (Simonyan & Zisserman 2015, table 1).
VGG_CONFIGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
NUM_CLASSES = 7
ROWS = 48  # image rows = LSTM time steps


def _scaled(channels: int, width: float) -> int:
    return max(8, int(round(channels * width)))


# Printed in chapter 2: within 80 columns, the width of the book's code cells.
def make_vgg_features(config: list[int | str], width: float = 1.0,
                      pool_dropout: float = 0.0) -> nn.Sequential:
    """Convolution-BN-ReLU blocks and max-pools from a configuration list."""
    layers: list[nn.Module] = []
    channels = 1
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
            if pool_dropout:
                layers.append(nn.Dropout2d(pool_dropout))
        else:
            out = _scaled(int(item), width)
            layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False),
                       nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            channels = out
    return nn.Sequential(*layers)


HEAD_HIDDEN = 256
HEAD_DROPOUT = 0.3


def _head(features: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(features, HEAD_HIDDEN), nn.ReLU(inplace=True), nn.Dropout(HEAD_DROPOUT),
                         nn.Linear(HEAD_HIDDEN, NUM_CLASSES))


class VGG(nn.Module):
    """VGG with batch norm for 48x48 grayscale faces and a compact head."""

    def __init__(self, depth: str = "vgg19", width: float = 1.0) -> None:
        super().__init__()
        self.features = make_vgg_features(VGG_CONFIGS[depth], width)
        self.head = _head(_scaled(512, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.features(x), 1))


# Printed in chapter 4: within 80 columns, the width of the book's code cells.
class RowAttention(nn.Module):
    """Attention over the LSTM's hidden states, one weight per image row.

    ``kind="tanh"`` follows the paper's equations 1-2 (bounded scores; the
    bias inside the tanh and the weighted sum of the states are the course's
    reading); ``kind="additive"`` is the unbounded additive form, a labelled
    variant.
    """

    def __init__(self, hidden: int, kind: str = "tanh") -> None:
        super().__init__()
        if kind not in ("tanh", "additive"):
            raise ValueError(f"unknown attention {kind!r}; "
                             "expected 'tanh' or 'additive'")
        self.kind = kind
        if kind == "tanh":
            self.score = nn.Linear(hidden, 1)
        else:
            self.project = nn.Linear(hidden, hidden)
            self.score = nn.Linear(hidden, 1, bias=False)

    def forward(
        self, states: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``states`` (B, T, H) -> context (B, H), weights (B, T)."""
        if self.kind == "tanh":  # e_t = tanh(W h_t), in [-1, 1]
            scores = torch.tanh(self.score(states)).squeeze(-1)
        else:  # unbounded
            scores = self.score(torch.tanh(self.project(states))).squeeze(-1)
        weights = torch.softmax(scores.float(), dim=1).to(states.dtype)
        return torch.bmm(weights.unsqueeze(1), states).squeeze(1), weights


# Printed in chapter 3: within 80 columns, the width of the book's code cells.
class VGGLSTM(nn.Module):
    """A VGG branch and a 2-layer LSTM over the 48 image rows, in parallel,
    fused before the head."""

    def __init__(self, depth: str = "vgg11", width: float = 1.0,
                 attention: str | None = None, pool_dropout: float = 0.0,
                 lstm_layers: int = 2) -> None:
        super().__init__()
        self.features = make_vgg_features(VGG_CONFIGS[depth], width,
                                          pool_dropout)
        hidden = max(32, int(round(128 * width)))
        self.lstm = nn.LSTM(ROWS, hidden, num_layers=lstm_layers,
                            batch_first=True)
        self.attention = RowAttention(hidden, attention) if attention else None
        lstm_features = hidden * (2 if attention else 1)
        self.head = _head(_scaled(512, width) + lstm_features)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        visual = torch.flatten(self.features(x), 1)
        # (B, 48 rows, 48 pixels): each row is one step of the sequence
        rows = x[:, 0].contiguous(memory_format=torch.contiguous_format)
        states, _ = self.lstm(rows)
        last = states[:, -1]
        weights = None
        if self.attention is not None:
            context, weights = self.attention(states)
            last = torch.cat([context, last], dim=1)
        fused = torch.cat([visual, last.to(visual.dtype)], dim=1)
        logits = self.head(fused)
        if return_attention:
            return logits, weights
        return logits


@dataclass(frozen=True)
class Architecture:
    """A named architecture: what :func:`build_model` builds."""

    name: str
    depth: str
    lstm: bool = False
    attention: str | None = None
    pool_dropout: float = 0.0
    description: str = ""


ARCHITECTURES: dict[str, Architecture] = {a.name: a for a in [
    Architecture("vgg19", "vgg19", description="VGG19-BN baseline"),
    Architecture("vgg11", "vgg11", description="VGG11-BN alone, to isolate the LSTM's contribution"),
    Architecture("vgg11_lstm", "vgg11", lstm=True, description="VGG11-BN + 2-layer row-LSTM in parallel"),
    Architecture("vgg11_lstm_dropout", "vgg11", lstm=True, pool_dropout=0.25,
                 description="VGG11-BN + row-LSTM, dropout after each max-pool"),
    Architecture("vgg11_lstm_attention", "vgg11", lstm=True, attention="tanh",
                 description="the paper's final model: VGG11-BN + row-LSTM + tanh attention (eq. 1-2)"),
    Architecture("vgg11_lstm_additive", "vgg11", lstm=True, attention="additive",
                 description="variant: additive attention with unbounded scores"),
    Architecture("vgg19_lstm", "vgg19", lstm=True, description="VGG19-BN + row-LSTM"),
]}


def build_model(name: str, width: float = 1.0) -> nn.Module:
    """Build a registered architecture by name at a channel ``width``."""
    try:
        arch = ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; expected one of {sorted(ARCHITECTURES)}") from None
    if not arch.lstm:
        return VGG(arch.depth, width)
    return VGGLSTM(arch.depth, width, attention=arch.attention, pool_dropout=arch.pool_dropout)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


#: How :func:`for_inference` prepares a model, as the demo's timings record it (older timings, made
#: before the demo prepared its model, ran it as trained).
INFERENCE = "batch norm folded, channels-last"


def for_inference(model: nn.Module) -> nn.Module:
    """The model prepared to predict only, as the demo runs it: eval mode, each convolution's batch norm
    folded into its weights, channels-last memory. Changed in place and returned.

    Its outputs equal the unprepared model's to float rounding, so a run's recorded accuracy still
    applies; it can no longer train (the batch norms are gone). Why: at batch 1 on one CPU thread the
    separate batch-norm pass and the conversions between memory layouts around each convolution cost
    about a fifth of the student's forward pass (2.4 ms against 1.9 on an Intel Xeon, fp32).
    """
    model.eval()
    for blocks in model.modules():
        if not isinstance(blocks, nn.Sequential):
            continue
        for i in range(len(blocks) - 1):
            if isinstance(blocks[i], nn.Conv2d) and isinstance(blocks[i + 1], nn.BatchNorm2d):
                blocks[i] = fuse_conv_bn_eval(blocks[i], blocks[i + 1])
                blocks[i + 1] = nn.Identity()
    return model.to(memory_format=torch.channels_last)
