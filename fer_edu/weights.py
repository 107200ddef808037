"""Trained weights as safetensors files, with what is needed to use them stored beside the tensors.

The metadata says which architecture and width the weights belong to, the label order of the
outputs, the input normalisation and the PrivateTest accuracy, so a demo or a chapter can build
the right network, and a file that does not match its architecture fails with a clear message.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .data import CLASSES
from .data.tensors import MEAN, STD
from .models import build_model


def save_weights(state: dict[str, torch.Tensor], path: str | Path, *, architecture: str, width: float,
                 dtype: torch.dtype = torch.float32, **info) -> Path:
    """Write a state dict (floats cast to ``dtype``, e.g. float16 to halve the file) with its metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in state.items()}
    meta = {"architecture": architecture, "width": width, "classes": list(CLASSES), "label_order": "canonical",
            "normalisation": {"mean": MEAN, "std": STD}, **info}
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={"fer_edu": json.dumps(meta)})
    tmp.replace(path)
    return path


def read_metadata(path: str | Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if "fer_edu" not in meta:
        raise ValueError(f"{path}: not a fer_edu weights file (no fer_edu metadata)")
    return json.loads(meta["fer_edu"])


def load_model(path: str | Path, device: str = "cpu") -> tuple[torch.nn.Module, dict]:
    """Build the architecture the file names and load its weights (in float32), in eval mode."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no weights file at {path}")
    meta = read_metadata(path)
    model = build_model(meta["architecture"], meta["width"])
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"{path}: weights do not fit {meta['architecture']} at width {meta['width']}: "
                         f"{str(exc).splitlines()[0]}") from None
    return model.to(device).eval(), meta


def load_file_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file as stored (no model built)."""
    return load_file(str(path))
