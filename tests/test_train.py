"""The engine on tiny synthetic data: every optimizer path, losses, sampling, resume."""

import numpy as np
import pytest
import torch

from fer_edu.data import synthetic_faces
from fer_edu.evaluation import predict
from fer_edu.losses import PAPER_ALPHA
from fer_edu.train import Runtime, TrainConfig, train


@pytest.fixture(scope="module")
def tiny():
    return synthetic_faces(96, 48, 48, seed=0)


def _cfg(**kw):
    base = dict(architecture="vgg11_lstm_attention", width=0.125, epochs=2, batch_size=32, lr=3e-3,
                schedule="onecycle")
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("kw", [
    dict(optimizer="adamw"),
    dict(optimizer="adam", weight_decay=0.0, schedule="constant"),
    dict(optimizer="sgd", lr=1e-2, schedule="cosine"),
    dict(optimizer="sgd", lr=1e-2, momentum=0.9, nesterov=True),
    dict(loss="focal", focal_alpha=0.25),
    dict(loss="focal", focal_alpha=PAPER_ALPHA),
    dict(loss="focal", dynamic_alpha=True),
    dict(loss="weighted_ce"),
    dict(sampling="balanced", label_smoothing=0.1, tta_flip=True),
], ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items())[:60])
def test_every_path_trains_and_reports(tiny, kw):
    r = train(_cfg(**kw), tiny, seed=0, progress=False)
    assert 1 <= r["selected_epoch"] <= 2 and len(r["history"]) == 2
    assert 0 <= r["private_accuracy"] <= 1 and len(r["private"]["recall"]) == 7
    assert sum(map(sum, r["private"]["confusion"])) == 48
    assert len(r["private"]["predictions"]) == 48 and set(r["private"]["predictions"]) <= set("0123456")
    h = r["history"][-1]
    assert set(h) >= {"train_loss", "train_accuracy", "public_loss", "public_accuracy", "lr"}
    # the chosen epoch is the best on PublicTest
    best = max(x["public_accuracy"] for x in r["history"])
    assert r["history"][r["selected_epoch"] - 1]["public_accuracy"] == best


def test_same_seed_same_result_and_resume_equals_uninterrupted(tiny, tmp_path):
    cfg = _cfg(epochs=3, loss="focal", dynamic_alpha=True)
    full = train(cfg, tiny, seed=1, progress=False)
    again = train(cfg, tiny, seed=1, progress=False)
    assert again["private_accuracy"] == full["private_accuracy"]
    ckpt = tmp_path / "run.pt"
    assert train(cfg, tiny, seed=1, checkpoint=ckpt, progress=False, stop_after_epochs=2) == {
        "interrupted_after_epoch": 2}
    assert ckpt.exists()
    resumed = train(cfg, tiny, seed=1, checkpoint=ckpt, progress=False)
    assert resumed["private_accuracy"] == full["private_accuracy"]
    assert [h["public_loss"] for h in resumed["history"]] == pytest.approx([h["public_loss"] for h in full["history"]])
    for k, v in full["model_state"].items():
        assert torch.equal(v, resumed["model_state"][k]), k


def test_checkpoint_from_before_a_new_config_field_still_resumes(tiny, tmp_path):
    ckpt = tmp_path / "run.pt"
    cfg = _cfg(epochs=2)
    train(cfg, tiny, seed=0, checkpoint=ckpt, progress=False, stop_after_epochs=1)
    saved = torch.load(ckpt, weights_only=True)
    del saved["config"]["mixup"], saved["config"]["distill_from"]  # as an older version wrote it
    torch.save(saved, ckpt)
    resumed = train(cfg, tiny, seed=0, checkpoint=ckpt, progress=False)
    assert resumed["private_accuracy"] == train(cfg, tiny, seed=0, progress=False)["private_accuracy"]


def test_checkpoint_of_another_config_is_refused(tiny, tmp_path):
    ckpt = tmp_path / "run.pt"
    train(_cfg(epochs=2), tiny, seed=0, checkpoint=ckpt, progress=False, stop_after_epochs=1)
    with pytest.raises(ValueError, match="another configuration"):
        train(_cfg(epochs=2, lr=1e-3), tiny, seed=0, checkpoint=ckpt, progress=False)


def test_bad_configs():
    with pytest.raises(ValueError, match="unknown optimizer"):
        TrainConfig(optimizer="lion")
    with pytest.raises(ValueError, match="dynamic_alpha needs"):
        TrainConfig(dynamic_alpha=True)


def test_config_round_trips_through_json_dict():
    cfg = _cfg(loss="focal", focal_alpha=PAPER_ALPHA)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_predict_probabilities(tiny):
    from fer_edu.models import build_model

    probs = predict(build_model("vgg11", 0.125), torch.from_numpy(tiny.images[:5]), Runtime.auto("cpu"))
    assert probs.shape == (5, 7) and torch.allclose(probs.sum(1), torch.ones(5), atol=1e-4)


def _with_test_copies(data, n=5):
    """The data with the first n Training images overwritten by PrivateTest images (a leak)."""
    import dataclasses

    images = data.images.copy()
    train_idx = (data.splits == "Training").nonzero()[0][:n]
    private_idx = (data.splits == "PrivateTest").nonzero()[0][:n]
    images[train_idx] = images[private_idx]
    return dataclasses.replace(data, images=images)


def test_drop_test_duplicates_trains_on_fewer_images(tiny):
    leaky = _with_test_copies(tiny)
    full = train(_cfg(epochs=1), leaky, seed=0, progress=False)
    dedup = train(_cfg(epochs=1, drop_test_duplicates=True), leaky, seed=0, progress=False)
    assert full["training_images"] == (tiny.splits == "Training").sum()
    assert dedup["training_images"] == full["training_images"] - 5
    assert len(dedup["private"]["predictions"]) == len(full["private"]["predictions"])  # test splits untouched
    control = train(_cfg(epochs=1, drop_random_training=True), leaky, seed=0, progress=False)
    assert control["training_images"] == dedup["training_images"]  # as many fewer, the copies kept
    with pytest.raises(ValueError, match="alternatives"):
        _cfg(drop_test_duplicates=True, drop_random_training=True)


def test_measure_leak_records_per_epoch_test_accuracy_and_changes_no_training(tiny):
    from fer_edu.leak import leak_summary

    honest = train(_cfg(epochs=3), tiny, seed=0, progress=False)
    leaky = train(_cfg(epochs=3, measure_leak=True), tiny, seed=0, progress=False)
    # The measurement only watches: the honest run's choices and numbers are unchanged.
    assert leaky["private_accuracy"] == honest["private_accuracy"]
    assert leaky["selected_epoch"] == honest["selected_epoch"]
    assert all("leak_test_accuracy" not in h for h in honest["history"])
    s = leak_summary(leaky)
    assert s["honest"] == honest["private_accuracy"]
    # Choosing on the data you report on can only look better (or equal) than choosing honestly.
    assert s["paper_protocol"] >= s["honest_pooled"] and s["private_peak"] >= s["honest"]
    assert s["leak_points"] >= 0 and s["peak_leak_points"] >= 0
    hist = leaky["history"][s["honest_epoch"] - 1]
    assert abs(hist["leak_private_accuracy"] - s["honest"]) < 1e-9  # the chosen epoch's weights, evaluated twice
    pooled = [h["leak_test_accuracy"] for h in leaky["history"]]
    assert s["paper_epoch"] == pooled.index(max(pooled)) + 1
    # The paper's epoch, read on PrivateTest alone: the half of its pool the honest choice never saw.
    paper_private = leaky["history"][s["paper_epoch"] - 1]["leak_private_accuracy"]
    assert s["paper_private"] == paper_private
    assert abs(s["paper_private_leak_points"] - 100 * (paper_private - s["honest"])) < 1e-9
    with pytest.raises(ValueError, match="measure_leak"):
        leak_summary(honest)


def test_mixup_and_ema_resume_exactly_and_change_training(tiny, tmp_path):
    cfg = _cfg(epochs=3, mixup=0.4, ema_decay=0.9, tta_flip=True)
    full = train(cfg, tiny, seed=2, progress=False)
    ckpt = tmp_path / "run.pt"
    train(cfg, tiny, seed=2, checkpoint=ckpt, progress=False, stop_after_epochs=1)
    resumed = train(cfg, tiny, seed=2, checkpoint=ckpt, progress=False)
    for k, v in full["model_state"].items():
        assert torch.equal(v, resumed["model_state"][k]), k
    # Each ingredient changes what is trained or kept (a silently ignored option would not).
    plain = train(_cfg(epochs=3, tta_flip=True), tiny, seed=2, progress=False)
    mix = train(_cfg(epochs=3, mixup=0.4, tta_flip=True), tiny, seed=2, progress=False)
    key = next(k for k in plain["model_state"] if k.endswith("weight"))
    assert not torch.equal(plain["model_state"][key], mix["model_state"][key])
    assert not torch.equal(mix["model_state"][key], full["model_state"][key])


def test_keep_probabilities_stores_test_probabilities(tiny):
    from fer_edu.metrics import decode_probabilities

    r = train(_cfg(epochs=1), tiny, seed=0, progress=False, keep_probabilities=True)
    private = decode_probabilities(r["private"]["probabilities"])
    public = decode_probabilities(r["public_probabilities"])
    assert private.shape == (48, 7) and public.shape == (48, 7)
    # float16 storage may break a near tie differently, hardly ever
    assert (private.argmax(1) == np.array(list(r["private"]["predictions"]), int)).mean() > 0.9
    # the Training probabilities too: a student's soft targets, timed outside the run's wall time
    n_train = int((tiny.splits == "Training").sum())
    assert decode_probabilities(r["train_probabilities"]).shape == (n_train, 7)
    assert r["train_probabilities_seconds"] > 0
    plain = train(_cfg(epochs=1), tiny, seed=0, progress=False)
    assert "probabilities" not in plain["private"] and "train_probabilities" not in plain


def test_bad_mixup_and_ema():
    with pytest.raises(ValueError, match="mixup"):
        TrainConfig(mixup=-1)
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(ema_decay=1.0)


def test_distillation_loss_and_training_with_a_teacher(tiny):
    from fer_edu.train import distillation_loss

    logits = torch.randn(8, 7)
    assert distillation_loss(logits, torch.softmax(logits, 1)).abs() < 1e-5
    # At temperature T both sides are softened by the same 1/T: a student equal to its teacher costs nothing.
    assert distillation_loss(logits, torch.softmax(logits, 1), 2.0).abs() < 1e-5
    assert distillation_loss(logits, torch.full((8, 7), 1 / 7), 2.0) > 0.01
    n_train = int((tiny.splits == "Training").sum())
    teacher = torch.full((n_train, 7), 1 / 7)
    cfg = _cfg(epochs=1, distill_from="best45", distill_members=2, distill_weight=0.5, distill_temperature=2.0)
    with pytest.raises(ValueError, match="Training images"):
        train(cfg, tiny, seed=0, progress=False)
    taught = train(cfg, tiny, seed=0, progress=False, teacher=teacher)
    plain = train(_cfg(epochs=1), tiny, seed=0, progress=False)
    key = next(k for k in plain["model_state"] if k.endswith("weight"))
    assert not torch.equal(plain["model_state"][key], taught["model_state"][key])
    with pytest.raises(ValueError, match="distillation needs"):
        _cfg(distill_from="best45", distill_weight=0.0)


def test_projection_adds_the_recent_pace_and_the_final_evaluation():
    from fer_edu.train import projected_seconds

    # 100 s used, the last three epochs at 10 s, 5 left; evaluation 2 s: flip halves Training's share
    assert projected_seconds(100, [30, 10, 10, 10], 5, 2.0, tta_flip=False) == 100 + 50 + 2 * 10
    assert projected_seconds(100, [30, 10, 10, 10], 5, 2.0, tta_flip=True) == 100 + 50 + 2 * 6


def test_a_run_projected_over_its_budget_stops_checkpointed_and_resumes_to_the_same_result(tiny, tmp_path):
    from fer_edu.train import OverBudget

    cfg = _cfg(epochs=4)
    ckpt = tmp_path / "run.pt"
    with pytest.raises(OverBudget, match="too slow"):
        train(cfg, tiny, seed=0, checkpoint=ckpt, progress=False, budget_s=1e-3)
    assert torch.load(ckpt, weights_only=True)["epoch"] == 2  # stopped after its second epoch, saved
    resumed = train(cfg, tiny, seed=0, checkpoint=ckpt, progress=False)
    assert resumed["private_accuracy"] == train(cfg, tiny, seed=0, progress=False)["private_accuracy"]
    # a generous budget changes nothing
    assert train(cfg, tiny, seed=0, progress=False, budget_s=1e6)["private_accuracy"] == resumed["private_accuracy"]


def test_check_pace_refuses_a_run_its_bare_steps_cannot_fit_and_counts_a_checkpoints_time(tiny, tmp_path):
    from fer_edu.train import OverBudget, check_pace

    cfg = _cfg(epochs=4)
    with pytest.raises(OverBudget, match="not started"):
        check_pace(cfg, tiny, budget_s=1e-6)
    fresh = check_pace(cfg, tiny, budget_s=1e6)
    assert 0 < fresh < 60
    ckpt = tmp_path / "run.pt"
    train(cfg, tiny, seed=0, checkpoint=ckpt, progress=False, stop_after_epochs=2)
    saved = torch.load(ckpt, weights_only=True)
    resumed = check_pace(cfg, tiny, budget_s=1e6, checkpoint=ckpt)
    assert resumed > saved["wall_time_s"]  # what was used, plus two epochs of steps (about half of fresh's)
    # The check trains nothing: the run after it is the run without it.
    first = train(cfg, tiny, seed=0, progress=False)["private_accuracy"]
    check_pace(cfg, tiny, budget_s=1e6)
    assert train(cfg, tiny, seed=0, progress=False)["private_accuracy"] == first


def _sgd_momentum_over_a_cycle(cfg):
    from fer_edu.train import make_optimizer, make_scheduler

    opt = make_optimizer(cfg, torch.nn.Linear(2, 2))
    sched = make_scheduler(cfg, opt, steps_per_epoch=10)
    seen = []
    for _ in range(cfg.epochs * 10):
        opt.step()
        sched.step()
        seen.append(opt.param_groups[0]["momentum"])
    return seen


def test_one_cycle_leaves_plain_sgd_without_momentum():
    # PyTorch's OneCycleLR cycles momentum by default: plain SGD would silently train with 0.85-0.95.
    plain = _cfg(optimizer="sgd", lr=1e-2, momentum=0.0, cycle_momentum=False)
    assert set(_sgd_momentum_over_a_cycle(plain)) == {0.0}
    cycled = _sgd_momentum_over_a_cycle(_cfg(optimizer="sgd", lr=1e-2, momentum=0.9))
    assert min(cycled) == pytest.approx(0.85) and max(cycled) == pytest.approx(0.95)
    with pytest.raises(ValueError, match="cycle_momentum=False"):
        _cfg(optimizer="sgd", lr=1e-2, momentum=0.0)


def test_shifted_moves_the_image_and_repeats_its_border():
    from fer_edu.evaluation import shift_views, shifted

    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    right = shifted(x, 1, 0)
    assert torch.equal(right[..., 1:], x[..., :-1]) and torch.equal(right[..., 0], x[..., 0])
    down = shifted(x, 0, -2)  # up by two
    assert torch.equal(down[..., :2, :], x[..., 2:, :]) and torch.equal(down[..., 3, :], x[..., 3, :])
    assert torch.equal(shifted(x, 0, 0), x)
    assert shift_views(0) == [(0, 0)] and len(set(shift_views(2))) == 5


def test_predict_with_test_time_shifts_averages_five_views(tiny):
    from fer_edu.evaluation import shifted
    from fer_edu.models import build_model

    torch.manual_seed(0)
    model = build_model("vgg11", 0.0625)
    rt = Runtime(torch.device("cpu"), False, False)
    x = torch.from_numpy(tiny.split("PublicTest").images[:6])
    plain = predict(model, x, rt)
    shifted_probs = predict(model, x, rt, tta_shift=2)
    assert shifted_probs.shape == plain.shape and not torch.allclose(plain, shifted_probs)
    from fer_edu.data.tensors import normalize

    with torch.no_grad():
        by_hand = sum(torch.softmax(model(shifted(normalize(x), dx, dy)), 1)
                      for dx, dy in ((0, 0), (2, 0), (-2, 0), (0, 2), (0, -2))) / 5
    assert torch.allclose(shifted_probs, by_hand, atol=1e-5)


def test_cpu_isa_names_the_widest_instruction_set_and_runtime_records_it():
    from fer_edu.train import cpu_isa
    epyc = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx avx2 fma\n"
    assert cpu_isa(epyc) == "AVX2"
    assert cpu_isa(epyc.replace("avx2", "avx2 avx512f avx512_bf16 amx_bf16 amx_tile")) == "AMX"
    assert cpu_isa(epyc.replace("avx2", "avx2 avx512f")) == "AVX-512"
    assert cpu_isa("model name\t: Apple M2\n") == ""  # no flags line (not x86): unknown, not a guess
    assert Runtime.auto("cpu").describe()["isa"] == cpu_isa()


def test_epoch_draws_depend_on_seed_and_epoch_alone_and_balance_classes_when_asked():
    from fer_edu.train import epoch_draws

    labels = torch.tensor([0] * 90 + [1] * 10)  # one class nine times as frequent
    a = epoch_draws(_cfg(batch_size=10), labels, seed=1, epoch=3, steps_per_epoch=10)
    b = epoch_draws(_cfg(batch_size=10), labels, seed=1, epoch=3, steps_per_epoch=10)
    assert torch.equal(a.batches, b.batches) and a.batches.shape == (10, 10)
    assert torch.equal(torch.rand(5, generator=a.augment), torch.rand(5, generator=b.augment))
    assert a.mixup.random() == b.mixup.random()
    assert sorted(a.batches.flatten().tolist()) == list(range(100))  # shuffled: every image once
    later = epoch_draws(_cfg(batch_size=10), labels, seed=1, epoch=4, steps_per_epoch=10)
    assert not torch.equal(a.batches, later.batches)
    balanced = epoch_draws(_cfg(batch_size=10, sampling="balanced"), labels, seed=1, epoch=3, steps_per_epoch=10)
    rare = int((labels[balanced.batches] == 1).sum())
    assert 30 <= rare <= 70  # about half the draws, against 10 of 100 when shuffled


def test_train_one_epoch_learns_and_steps_the_schedule(tiny):
    from fer_edu.data import split_tensors
    from fer_edu.train import Learner, epoch_draws, train_one_epoch

    rt = Runtime.auto("cpu")
    x, y = split_tensors(tiny, "Training", rt.device)
    cfg = _cfg(epochs=6, optimizer="adamw", lr=3e-3)
    torch.manual_seed(0)
    learner = Learner.build(cfg, y, rt, steps_per_epoch=len(y) // cfg.batch_size)
    before = {k: v.clone() for k, v in learner.model.state_dict().items()}
    losses = []
    for epoch in range(cfg.epochs):
        draws = epoch_draws(cfg, y, seed=0, epoch=epoch, steps_per_epoch=len(y) // cfg.batch_size)
        loss, accuracy = train_one_epoch(learner, cfg, rt, x, y, draws, progress=False)
        assert 0 <= accuracy <= 1
        losses.append(loss)
    assert losses[-1] < losses[0]
    assert learner.scheduler.last_epoch == cfg.epochs * (len(y) // cfg.batch_size)  # one step a batch
    assert any(not torch.equal(before[k], v) for k, v in learner.model.state_dict().items())
