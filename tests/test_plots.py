import json
from pathlib import Path

import numpy as np

from fer_edu import plots
from fer_edu.data import synthetic_faces

REPO = Path(__file__).resolve().parents[1]


def _fake_result():
    h = [{"epoch": e, "train_loss": 1.0 / e, "public_loss": 1.1 / e, "train_accuracy": 0.1 * e,
          "public_accuracy": 0.09 * e} for e in (1, 2, 3)]
    confusion = (np.eye(7) * 10 + 1).astype(int).tolist()
    return {"name": "x", "scale": "smoke", "runs": [{"seed": 0, "history": h, "selected_epoch": 3,
                                                     "private": {"confusion": confusion}}]}


def test_figures_of_synthetic_data_carry_the_banner():
    data = synthetic_faces(70, 14, 14)
    for fig in (plots.sample_grid(data, per_class=2), plots.class_distribution(data)):
        assert any("SYNTHETIC" in t.get_text() for t in fig.texts)


def test_result_figures():
    result = _fake_result()
    assert len(plots.training_curves(result).axes) == 2
    fig = plots.confusion_matrix_plot(result)
    # rows normalised: the diagonal shows each class recall (11 of 17 = 65 %)
    assert any(t.get_text() == "65%" for t in fig.axes[0].texts)


def test_attention_on_faces_draws_one_bar_per_row():
    data = synthetic_faces(20, 5, 5)
    w = np.full((2, 48), 1 / 48)
    fig = plots.attention_on_faces(data.images[:2], w, ["a", "b"], data)
    assert len(fig.axes[0].patches) == 48


def test_committed_demo_weights_load_and_say_what_they_are():
    from fer_edu.weights import load_model

    path = REPO / "results" / "models" / "final-laptop-seed0.safetensors"
    model, meta = load_model(path)
    assert meta["architecture"] == "vgg11_lstm_attention" and meta["label_order"] == "canonical"
    result = json.loads((REPO / "results" / "laptop" / "final.json").read_text())
    seed0 = [r for r in result["runs"] if r["seed"] == 0][0]
    assert meta["private_accuracy"] == seed0["private_accuracy"]  # the re-run reproduced the committed seed 0
