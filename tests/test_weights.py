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


def test_demo_model_is_chosen_on_publictest_never_privatetest(tmp_path, monkeypatch):
    import json

    import torch

    from fer_edu import results
    from fer_edu.models import build_model, count_parameters
    from fer_edu.runner import export_demo_model
    from fer_edu.weights import load_model, read_metadata, save_weights

    monkeypatch.setattr(results, "RUNS_DIR", tmp_path / "runs")
    model = build_model("vgg11", 0.125)
    # "a" is better on PrivateTest, "b" on PublicTest: the demo must be "b".
    for name, public, private in (("a", 0.50, 0.70), ("b", 0.60, 0.55)):
        run = {"seed": 0, "device_kind": "cpu", "public_accuracy": public, "private_accuracy": private,
               "parameters": count_parameters(model), "commit": "c0ffee"}
        (tmp_path / "laptop").mkdir(exist_ok=True)
        (tmp_path / "laptop" / f"{name}.json").write_text(json.dumps(
            {"name": name, "config": {"architecture": "vgg11", "width": 0.125}, "runs": [run]}))
        save_weights(model.state_dict(), tmp_path / "runs" / "models" / "laptop" / name / "seed0.safetensors",
                     architecture="vgg11", width=0.125)
    meta = export_demo_model("laptop", out=tmp_path / "demo.safetensors", root=tmp_path)
    assert meta["name"] == "b" and meta["candidates"] == ["a/seed0", "b/seed0"]
    assert meta["tta_flip"] is False  # evaluated in one pass: the demo predicts in one pass
    stored = read_metadata(tmp_path / "demo.safetensors")
    assert stored["name"] == "b" and stored["public_accuracy"] == 0.60
    loaded, _ = load_model(tmp_path / "demo.safetensors")
    assert next(loaded.parameters()).dtype == torch.float32  # stored in float16, loaded as float32
    with pytest.raises(ValueError, match="fits"):
        export_demo_model("laptop", budget_mb=0.001, out=tmp_path / "x.safetensors", root=tmp_path)
    # A machine that kept only a worse run's weights leaves the better demo in place...
    (tmp_path / "runs" / "models" / "laptop" / "b" / "seed0.safetensors").unlink()
    kept = export_demo_model("laptop", out=tmp_path / "demo.safetensors", root=tmp_path)
    assert kept["kept"] and kept["name"] == "b" and kept["best_candidate"] == "a/seed0"
    assert read_metadata(tmp_path / "demo.safetensors")["name"] == "b"
    # ...and a more accurate one replaces it, saying what it replaced.
    run = {"seed": 1, "device_kind": "cpu", "public_accuracy": 0.65, "private_accuracy": 0.6,
           "parameters": count_parameters(model), "commit": "c0ffee"}
    (tmp_path / "laptop" / "c.json").write_text(json.dumps(
        {"name": "c", "config": {"architecture": "vgg11", "width": 0.125}, "runs": [run]}))
    save_weights(model.state_dict(), tmp_path / "runs" / "models" / "laptop" / "c" / "seed1.safetensors",
                 architecture="vgg11", width=0.125)
    new = export_demo_model("laptop", out=tmp_path / "demo.safetensors", root=tmp_path)
    assert not new["kept"] and new["name"] == "c" and new["replaces"]["name"] == "b"
    assert read_metadata(tmp_path / "demo.safetensors")["replaces"]["public_accuracy"] == 0.60


def test_committed_demo_model_is_the_publictest_choice():
    from fer_edu.demo import DEFAULT_WEIGHTS
    from fer_edu.results import load_result
    from fer_edu.weights import read_metadata

    meta = read_metadata(DEFAULT_WEIGHTS)
    run = next(r for r in load_result(meta["name"], meta["scale"])["runs"] if r["seed"] == meta["seed"])
    assert run["public_accuracy"] == meta["public_accuracy"] and run["private_accuracy"] == meta["private_accuracy"]
    assert f"{meta['name']}/seed{meta['seed']}" in meta["candidates"]
    assert DEFAULT_WEIGHTS.stat().st_size < 3e6
