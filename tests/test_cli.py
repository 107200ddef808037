import subprocess
import sys

import pytest

from fer_edu.cli import main


def test_data_info_prints_counts_and_quality(fer_csv, capsys):
    assert main(["data", "info", str(fer_csv)]) == 0
    out = capsys.readouterr().out
    assert "Training" in out and "PrivateTest" in out and "byte-identical" in out and "blank images" in out
    assert "SYNTHETIC" not in out


def test_data_sample_writes_a_grid(image_zip, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["data", "sample", str(image_zip), "--out", str(out), "--per-class", "3"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_data_the_synthetic_banner_shows(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("FER_EDU_DATA", raising=False)
    monkeypatch.setattr("fer_edu.data.load.REPO_DATA_DIR", tmp_path / "empty")
    with pytest.warns(UserWarning, match="SYNTHETIC"):
        assert main(["data", "info"]) == 0
    assert "SYNTHETIC FACES" in capsys.readouterr().out


def test_bad_path_is_one_clear_message(tmp_path, capsys):
    assert main(["data", "info", str(tmp_path / "missing.zip")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no FER-2013 at") and "Traceback" not in err


def test_python_dash_m_entry_point():
    result = subprocess.run([sys.executable, "-m", "fer_edu", "--help"], capture_output=True, text=True, check=True)
    assert "data" in result.stdout


def test_smoke_run_writes_runs_not_results(tmp_path, monkeypatch, capsys):
    import json

    from fer_edu import results

    monkeypatch.setattr(results, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(results, "RESULTS_DIR", tmp_path / "results")
    assert main(["run", "final", "--scale", "smoke", "--seeds", "0"]) == 0
    out = capsys.readouterr().out
    assert "SMOKE SCALE" in out and "PrivateTest" in out
    written = json.loads((tmp_path / "runs" / "results" / "smoke" / "final.json").read_text())
    assert f"wall time {written['runs'][0]['wall_time_s']:.0f} s -> " in out  # not resumed: nothing more
    assert written["meaningless"] and written["runs"][0]["seed"] == 0
    assert written["summary"]["cpu"]["n"] == 1 and written["runs"][0]["commit"]
    assert not (tmp_path / "results").exists()
    assert not list((tmp_path / "runs" / "checkpoints").rglob("*.pt"))  # removed once the result is written
    assert (tmp_path / "runs" / "models" / "smoke" / "final" / "seed0.safetensors").exists()
    # --owed now finds nothing to do for seed 0
    assert main(["run", "final", "--scale", "smoke", "--seeds", "0", "--owed"]) == 0
    assert "0 run(s)" in capsys.readouterr().out


def test_results_summary_lists_missing(capsys, tmp_path, monkeypatch):
    from fer_edu import results

    monkeypatch.setattr(results, "RESULTS_DIR", tmp_path)
    assert main(["results", "--markdown", str(tmp_path / "summary.md")]) == 0
    assert "| final | laptop |" in capsys.readouterr().out
    assert "missing" in (tmp_path / "summary.md").read_text()


def test_bench_writes_both_loops(tmp_path, monkeypatch):
    import json

    from fer_edu import bench, results, train
    from fer_edu.data import synthetic_faces

    monkeypatch.setattr(bench, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(results, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setattr(train, "native_bf16_cpu", lambda: False)  # as on most laptops: the engine trains in fp32
    data = synthetic_faces(160, 10, 10)
    result = bench.run_bench(data, None, steps=2, warmup=1, device="cpu", settings=[(0.125, 16)], with_compile=False)
    out = tmp_path / "results" / "bench-cpu-fp32.json"  # a CPU without native bf16 has its own file
    assert not result["bf16"] and sorted(p.name for p in (tmp_path / "results").iterdir()) == [out.name]
    row = json.loads(out.read_text())["rows"][0]
    assert row["engine_img_per_s"] > 0 and row["seed_style_img_per_s"] > 0
    assert row["ratio"] == pytest.approx(row["engine_img_per_s"] / row["seed_style_img_per_s"])
    assert "torch_compile" in result and result["synthetic_data"]
    # the seed-style loop read JPEG class folders
    assert len(list((tmp_path / "runs" / "bench" / "images" / "train").rglob("*.jpg"))) == 160


def test_train_yourself_never_writes_results(tmp_path, monkeypatch):
    from fer_edu import results
    from fer_edu.runner import train_yourself

    monkeypatch.setattr(results, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(results, "RESULTS_DIR", tmp_path / "results")
    result = train_yourself("vgg11", "smoke", seed=0)
    assert result["name"] == "vgg11" and result["meaningless"] and len(result["runs"]) == 1
    assert not (tmp_path / "results").exists()


def test_ensemble_then_student_end_to_end(tmp_path, monkeypatch, capsys):
    """The search chooses the recipe; best45 members keep probabilities; `ensemble` chooses k on PublicTest;
    `student` distils from it."""
    import json

    from fer_edu import results
    from fer_edu.metrics import decode_probabilities

    monkeypatch.setattr(results, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(results, "RESULTS_DIR", tmp_path / "results")
    assert main(["run", "student", "--scale", "smoke"]) == 2  # no ensemble yet: one clear message
    assert "waits for the best45 ensemble" in capsys.readouterr().err
    assert main(["run", "best45", "--scale", "smoke"]) == 2  # no recipe chosen yet
    assert "waits for the recipe search" in capsys.readouterr().err
    search = ["search_start", "search_mixup", "search_ema", "search_lr0.1", "search_lr0.02", "search_cosine"]
    assert main(["run", *search, "--scale", "smoke"]) == 0
    assert main(["run", "best45", "--scale", "smoke", "--seeds", "0,1"]) == 0
    assert main(["ensemble", "best45", "--scale", "smoke"]) == 0
    assert "chosen on PublicTest" in capsys.readouterr().out
    out = json.loads((tmp_path / "runs" / "results" / "smoke" / "best45_ensemble.json").read_text())
    assert out["seeds"] == [0, 1] and out["chosen_k"] in (1, 2) and len(out["private_accuracy_by_k"]) == 2
    # The teacher's targets come from the members' kept weights (cached) when their results lack them ...
    import shutil

    best45 = tmp_path / "runs" / "results" / "smoke" / "best45.json"
    committed = best45.read_text()
    stripped = json.loads(committed)
    for r in stripped["runs"]:
        assert decode_probabilities(r.pop("train_probabilities")).shape == (512, 7)
    best45.write_text(json.dumps(stripped))
    assert main(["run", "student", "--scale", "smoke", "--seeds", "0"]) == 0
    student = json.loads((tmp_path / "runs" / "results" / "smoke" / "student.json").read_text())
    assert student["config"]["distill_from"] == "best45" and student["config"]["distill_members"] == out["chosen_k"]
    assert list((tmp_path / "runs" / "teachers" / "smoke").glob("best45-k*.pt"))  # the teacher's targets, cached
    # ... and from the members' results alone, as in a fresh clone, which has no kept weights.
    best45.write_text(committed)
    shutil.rmtree(tmp_path / "runs" / "models" / "smoke" / "best45")
    shutil.rmtree(tmp_path / "runs" / "teachers")
    assert main(["run", "student", "--scale", "smoke", "--seeds", "0"]) == 0
    assert not (tmp_path / "runs" / "teachers").exists()
    best45.write_text(json.dumps(stripped))  # neither: one clear message
    assert main(["run", "student", "--scale", "smoke", "--seeds", "0"]) == 2
    assert "teacher member" in capsys.readouterr().err


def test_a_bug_keeps_its_traceback_and_debug_shows_every_one(tmp_path, monkeypatch):
    import fer_edu.cli as cli

    def broken(args):
        raise RuntimeError("shape mismatch inside torch")

    monkeypatch.setattr(cli, "cmd_results", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        main(["results"])
    missing = ["data", "info", str(tmp_path / "missing.zip")]
    assert main(missing) == 2
    monkeypatch.setenv("FER_EDU_DEBUG", "1")
    with pytest.raises(FileNotFoundError):
        main(missing)


def test_parallel_run_trains_each_seed_in_its_own_process(tmp_path, monkeypatch, capsys):
    import json

    from fer_edu import results

    monkeypatch.setattr(results, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(results, "RESULTS_DIR", tmp_path / "results")
    assert main(["run", "final", "vgg11", "--scale", "smoke", "--seeds", "0,1", "--jobs", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("PrivateTest") == 4 and "[4/4]" in out
    for name in ("final", "vgg11"):
        written = json.loads((tmp_path / "runs" / "results" / "smoke" / f"{name}.json").read_text())
        # two seeds of one name never run at once, so neither overwrote the other's entry
        assert [r["seed"] for r in written["runs"]] == [0, 1]
        assert all(r["concurrent_runs"] == 3 for r in written["runs"])
    assert len(list((tmp_path / "runs" / "logs").glob("smoke-*.log"))) == 4
    assert main(["run", "final", "--scale", "smoke", "--jobs", "0"]) == 2


def test_reproduce_trains_a_committed_run_again_in_scratch_folders(tmp_path, monkeypatch, capsys):
    import json
    import shutil

    from fer_edu import results
    from fer_edu.runner import reproduce

    monkeypatch.setattr(results, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(results, "RESULTS_DIR", tmp_path / "results")
    with pytest.raises(ValueError, match="no committed cpu run"):
        reproduce("final", "smoke", 0, device="cpu")
    assert main(["run", "final", "--scale", "smoke", "--seeds", "0"]) == 0
    (tmp_path / "results" / "smoke").mkdir(parents=True)
    shutil.copy(tmp_path / "runs" / "results" / "smoke" / "final.json", tmp_path / "results" / "smoke" / "final.json")
    committed = (tmp_path / "results" / "smoke" / "final.json").read_text()
    entry = reproduce("final", "smoke", 0, device="cpu")
    assert entry["same"] and entry["repeated"]["private_accuracy"] == entry["committed"]["private_accuracy"]
    assert (tmp_path / "results" / "smoke" / "final.json").read_text() == committed  # never overwritten
    assert (tmp_path / "runs" / "reproduce" / "results" / "smoke" / "final.json").exists()
    recorded = json.loads((tmp_path / "results" / "reproductions.json").read_text())["runs"]
    assert [(r["name"], r["seed"], r["same"]) for r in recorded] == [("final", 0, True)]
    assert recorded[0]["repeated"]["bf16"] == recorded[0]["committed"]["bf16"]  # the CPU kind of each side


def test_reproduce_a_name_chosen_from_results_brings_those_results_along(tmp_path, monkeypatch):
    import shutil

    from fer_edu import results
    from fer_edu.data import synthetic_faces
    from fer_edu.experiments import REGISTRY, prepare_data
    from fer_edu.runner import reproduce

    monkeypatch.setattr(results, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(results, "RESULTS_DIR", tmp_path / "results")
    data = prepare_data(synthetic_faces(), "smoke")
    for root in (tmp_path / "runs" / "results", tmp_path / "results"):  # the run's and the committed copies
        for i, name in enumerate(["search_start", "search_mixup", "search_ema", "search_lr0.1", "search_lr0.02",
                                  "search_cosine"]):
            exp = REGISTRY[name]
            entry = {"seed": 0, "device_kind": "cpu", "public_accuracy": 0.5 - 0.01 * i, "private_accuracy": 0.5}
            results.record_run(exp, "smoke", exp.config("smoke"), data, entry, root, commit="abc")
    assert main(["run", "modern", "--scale", "smoke", "--seeds", "0"]) == 0  # the start's recipe, as chosen
    shutil.copy(tmp_path / "runs" / "results" / "smoke" / "modern.json", tmp_path / "results" / "smoke" / "modern.json")
    entry = reproduce("modern", "smoke", 0, device="cpu")  # failed while the scratch folder lacked the search
    assert entry["same"]


def test_a_run_over_its_budget_is_stopped_reported_and_can_be_forced(tmp_path, monkeypatch, capsys):
    import json
    from dataclasses import replace

    from fer_edu import experiments, results

    monkeypatch.setattr(results, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(results, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setitem(experiments.SCALES, "smoke", replace(experiments.SCALES["smoke"], epochs=3))
    monkeypatch.setitem(experiments.REGISTRY, "final", replace(experiments.REGISTRY["final"], budget_min=1e-6))
    # Too slow before it starts: the bare steps already exceed the budget, so no epoch is spent.
    assert main(["run", "final", "--scale", "smoke", "--seeds", "0", "--owed"]) == 1
    out = capsys.readouterr().out
    assert "stopped final seed 0" in out and "so it was not started. Nothing was trained" in out
    assert not list((tmp_path / "runs" / "checkpoints").rglob("*.pt"))
    # Past that check (a machine that slows down later), the pace after the second epoch stops it.
    from fer_edu import runner

    monkeypatch.setattr(runner, "check_pace", lambda *args, **kwargs: 0.0)
    assert main(["run", "final", "--scale", "smoke", "--seeds", "0", "--owed"]) == 1
    out = capsys.readouterr().out
    assert "stopped final seed 0" in out and "over budget on this machine, not finished: final seed 0" in out
    assert out.count("[1/1] final seed 0") == 1  # not retried by --owed's second look
    assert not (tmp_path / "runs" / "results" / "smoke" / "final.json").exists()
    assert list((tmp_path / "runs" / "checkpoints").rglob("*.pt"))  # kept for a later run
    assert main(["run", "final", "--scale", "smoke", "--seeds", "0", "--owed", "--ignore-budget"]) == 0
    written = json.loads((tmp_path / "runs" / "results" / "smoke" / "final.json").read_text())
    # The log gives the wall time recorded (all epochs, the stopped process's included), then this process's part.
    out = capsys.readouterr().out
    assert f"wall time {written['runs'][0]['wall_time_s']:.0f} s, " in out and "resumed from a checkpoint" in out


def test_test_shifts_measures_publictest_with_kept_weights_and_refuses_other_weights(tmp_path, monkeypatch, capsys):
    import json

    from fer_edu import choices, results

    monkeypatch.setattr(results, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(results, "RESULTS_DIR", tmp_path / "results")
    assert main(["test-shifts", "final", "--scale", "smoke"]) == 2  # not run yet: one clear line
    assert "run it first" in capsys.readouterr().err
    assert main(["run", "final", "--scale", "smoke", "--seeds", "0"]) == 0
    assert main(["test-shifts", "final", "--scale", "smoke", "--shifts", "0"]) == 2
    assert main(["test-shifts", "final", "--scale", "smoke", "--shifts", "1,2"]) == 0
    assert "by the search's margin" in capsys.readouterr().out
    smoke = tmp_path / "runs" / "results" / "smoke"
    out = json.loads((smoke / "final_test_shifts.json").read_text())
    recorded = json.loads((smoke / "final.json").read_text())["runs"][0]
    (seed0,) = out["seeds"]
    assert out["members"] == "final" and seed0["public_accuracy"] == recorded["public_accuracy"]
    assert set(seed0["public_accuracy_by_shift"]) == {"1", "2"} and "private_accuracy" not in json.dumps(out)
    choice = choices.shift_choice("final", "smoke", tmp_path / "runs" / "results")
    assert choice["pixels"] in (1, 2) and set(choice["mean_gains"]) == {1, 2}
    # Weights that do not give the recorded PublicTest accuracy are not the recorded run's.
    tampered = json.loads((smoke / "final.json").read_text())
    tampered["runs"][0]["public_accuracy"] += 0.01
    (smoke / "final.json").write_text(json.dumps(tampered))
    assert main(["test-shifts", "final", "--scale", "smoke"]) == 2
    assert "not the recorded run's weights" in capsys.readouterr().err


def test_a_run_prints_its_result_path_relative_to_the_repository(tmp_path):
    from fer_edu.results import REPO
    from fer_edu.runner import _shown

    assert _shown(REPO / "runs" / "results" / "smoke" / "vgg19.json") == "runs/results/smoke/vgg19.json"
    assert _shown(tmp_path / "x.json") == str(tmp_path / "x.json")  # outside the repository: as it is
