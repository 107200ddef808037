import json
from pathlib import Path

import numpy as np
import pytest

from fer_edu import plots
from fer_edu.data import synthetic_faces
from fer_edu.results import FINAL_MODEL

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
    fig = plots.training_curves(result)
    assert len(fig.axes) == 2
    assert fig._suptitle.get_text() == "x, smoke scale, seed 0"  # one seed: no plural
    fig = plots.confusion_matrix_plot(result)
    # rows normalised: the diagonal shows each class recall (11 of 17 = 65 %)
    assert any(t.get_text() == "65%" for t in fig.axes[0].texts)


def test_attention_on_faces_draws_one_bar_per_row():
    data = synthetic_faces(20, 5, 5)
    w = np.full((2, 48), 1 / 48)
    fig = plots.attention_on_faces(data.images[:2], w, ["a", "b"], data)
    assert len(fig.axes[0].patches) == 48
    seven = plots.attention_on_faces(data.images[:7], np.full((7, 48), 1 / 48), list("abcdefg"))
    shown = [ax for ax in seven.axes if ax.patches]
    assert len(shown) == 7 and len(seven.axes) == 8  # two rows of four, the last cell empty
    assert [ax.get_title() for ax in shown] == list("abcdefg")


def test_committed_demo_weights_load_and_say_what_they_are():
    from fer_edu.weights import load_model

    path = FINAL_MODEL
    model, meta = load_model(path)
    assert meta["architecture"] == "vgg11_lstm_attention" and meta["label_order"] == "canonical"
    result = json.loads((REPO / "results" / "laptop" / "final.json").read_text())
    seed0 = [r for r in result["runs"] if r["seed"] == 0][0]
    assert meta["private_accuracy"] == seed0["private_accuracy"]  # the re-run reproduced the committed seed 0


def _wrong_predictions():
    """Ten faces: three angry taken for sad, one fear taken for sad, the rest right."""
    data = synthetic_faces(20, 5, 10, seed=1)
    private = data.split("PrivateTest")
    labels = np.array([0, 0, 0, 2, 3, 3, 4, 4, 6, 6])
    predicted = np.array([4, 4, 4, 4, 3, 3, 4, 4, 6, 6])
    return private.images, labels, predicted, data


def test_confusion_pairs_counts_only_errors_most_frequent_first():
    _, labels, predicted, _ = _wrong_predictions()
    assert plots.confusion_pairs(labels, predicted) == [(0, 4, 3), (2, 4, 1)]


def test_misclassified_faces_shows_the_pair_s_faces_by_index():
    images, labels, predicted, data = _wrong_predictions()
    fig = plots.misclassified_faces(images, labels, predicted, 0, 4, start=1, n=16, data=data)
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == ["#1", "#2"]  # faces 2 and 3 of the pair, from position start=1
    assert "faces 2-3 of 3" in fig._suptitle.get_text()
    assert any("SYNTHETIC" in t.get_text() for t in fig.texts)


def test_misclassified_overview_has_one_row_per_confusion():
    images, labels, predicted, data = _wrong_predictions()
    fig = plots.misclassified_overview(images, labels, predicted, n_pairs=4, per_pair=5, data=data)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 2 * 5 and len(shown) == 3 + 1
    assert "angry\ntaken for\nsad\n(3)" in [ax.get_ylabel() for ax in fig.axes]


def test_misclassified_browser_pages_through_the_chosen_pair():
    images, labels, predicted, _ = _wrong_predictions()
    labels, predicted = np.r_[labels, [0] * 20], np.r_[predicted, [4] * 20]  # 23 angry-as-sad: two pages
    images = np.concatenate([images, images, images])
    browser = plots.misclassified_browser(images, labels, predicted, per_page=16)
    pair, page = browser.children[0].children
    assert [v for _, v in pair.options] == [(0, 4), (2, 4)]
    assert page.max == 1
    page.value = 1
    pair.value = (2, 4)  # one face: back to a single page
    assert (page.value, page.max) == (0, 0)


def test_sweep_curves_leave_owed_points_out_and_ring_the_choice():
    sweeps = {"adam": {0.25: 0.50, 0.5: 0.55, 1.0: 0.58, 2.0: 0.60, 4.0: 0.57},
              "sgd": {0.25: None, 0.5: 0.40, 1.0: 0.45, 2.0: None, 4.0: None},
              "adamw": {m: None for m in (0.25, 0.5, 1.0, 2.0, 4.0)}}
    fig = plots.sweep_curves(sweeps, {"adam": 2.0, "sgd": None, "adamw": None})
    ax = fig.axes[0]
    lines = {tuple(line.get_xdata()): list(line.get_ydata()) for line in ax.lines}
    assert lines[(0.25, 0.5, 1.0, 2.0, 4.0)] == [0.50, 0.55, 0.58, 0.60, 0.57]
    assert lines[(0.5, 1.0)] == [0.40, 0.45]  # sgd: only the points that landed
    assert lines[(2.0,)] == [0.60]  # the ring on adam's choice
    assert len(ax.lines) == 4 and [t.get_text() for t in ax.get_legend().get_texts()] == ["adam", "sgd"]
    # The choice is drawn on top, a dot of its own colour inside its ring: where two optimizers score
    # alike at one rate, another line's dot must not sit in the ring.
    choice = [line for line in ax.lines if tuple(line.get_xdata()) == (2.0,)]
    assert len(choice) == 2 and {line.get_color() for line in choice} == {ax.lines[0].get_color()}
    assert min(line.get_zorder() for line in choice) > max(line.get_zorder() for line in ax.lines[:2])


def test_accuracy_against_minutes_keeps_the_names_of_close_points_apart():
    points = [{"name": name, "group": "beyond", "minutes": minutes, "accuracy": accuracy, "shared": False}
              for name, minutes, accuracy in (("best45_mild", 42.0, 0.700), ("student_mild_e60", 28.5, 0.691),
                                              ("best45", 40.0, 0.677), ("best45_e34", 41.0, 0.683))]
    fig = plots.accuracy_against_minutes(points, labelled=("best45_mild", "student_mild_e60", "best45", "best45_e34"))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = {t.get_text(): t.get_window_extent(renderer) for t in fig.axes[0].texts}
    assert sorted(boxes) == ["best45", "best45_e34", "best45_mild", "student_mild_e60"]
    assert not [(a, b) for a in boxes for b in boxes if a < b and boxes[a].overlaps(boxes[b])]


def test_accuracy_against_minutes_hollows_busy_runs_and_names_collapses():
    points = [{"name": "final", "group": "architecture", "minutes": 5.0, "accuracy": 0.62, "shared": False},
              {"name": "search_mixup", "group": "beyond", "minutes": 17.0, "accuracy": 0.60, "shared": True},
              {"name": "t1_collapse", "group": "table1", "minutes": 4.0, "accuracy": 0.25, "shared": False},
              {"name": "vgg11", "group": "architecture", "minutes": 4.5, "accuracy": 0.61, "shared": False}]
    fig = plots.accuracy_against_minutes(points, labelled=("final",))
    ax = fig.axes[0]
    markers = [line for line in ax.lines if len(line.get_xdata()) == 1]
    assert [(marker.get_xdata()[0], marker.get_mfc() == "none") for marker in markers] == [
        (5.0, False), (17.0, True), (4.0, False), (4.5, False)]
    assert markers[1].get_color() == "tab:orange" and markers[0].get_color() == "tab:blue"
    assert sorted(t.get_text() for t in ax.texts) == ["final", "t1_collapse: 25.0%, off the scale"]  # vgg11: neither
    assert markers[2].get_marker() == "v" and markers[2].get_ydata()[0] == ax.get_ylim()[0]  # the collapse on the edge
    assert ax.get_ylim()[0] == pytest.approx(0.49)  # the others are not squashed down to 25 %
    assert [t.get_text() for t in ax.get_xticklabels()] == ["3", "5", "10", "20"]
    # The legend sits under the axis, where it hides no marker and no collapse's name.
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert ax.get_legend().get_window_extent(renderer).y1 < ax.get_window_extent(renderer).y0
