import pytest
import torch

from fer_edu.models import build_model
from fer_edu.weights import load_model, read_metadata, save_weights


def test_round_trip_in_float16(tmp_path):
    torch.manual_seed(0)
    model = build_model("vgg11_lstm_attention", 0.125).eval()
    path = save_weights(model.state_dict(), tmp_path / "m.safetensors", architecture="vgg11_lstm_attention",
                        width=0.125, dtype=torch.float16, private_accuracy=0.5)
    loaded, meta = load_model(path)
    assert meta["classes"][0] == "angry" and meta["normalisation"] == {"mean": 0.5, "std": 0.5}
    assert meta["private_accuracy"] == 0.5
    x = torch.randn(2, 1, 48, 48)
    assert torch.allclose(loaded(x), model(x), atol=2e-2)


def test_mismatched_architecture_is_a_clear_error(tmp_path):
    path = save_weights(build_model("vgg11", 0.125).state_dict(), tmp_path / "m.safetensors",
                        architecture="vgg19", width=0.125)
    with pytest.raises(ValueError, match="do not fit vgg19 at width 0.125"):
        load_model(path)


def test_not_a_weights_file(tmp_path):
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not a fer_edu weights file"):
        read_metadata(tmp_path / "other.safetensors")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.safetensors")
