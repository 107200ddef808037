"""Results files: ``results/<scale>/<name>.json``, written atomically, read by the book.

A results file holds the experiment's configuration, scale and data fingerprint, one entry per
(seed, device kind) with its provenance (commit, device, library versions, wall time, load
average), per-epoch history, the selected epoch, PrivateTest accuracy, per-class recall and the
confusion matrix, and the mean and standard deviation over seeds. Beside them: the benchmarks
(``results/bench-*.json``) and the runs trained twice (``results/reproductions.json``).

What is chosen from these files is in :mod:`fer_edu.choices`; what the book shows of them, in
:mod:`fer_edu.report` and :mod:`fer_edu.book_pages`.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from dataclasses import fields
from pathlib import Path

import numpy as np

from .data import FERData
from .experiments import SCALES, Experiment, seeds_for
from .train import TrainConfig

REPO = Path(__file__).resolve().parents[1]


# The environment overrides are how a parallel queue hands its folders to its child processes.
RESULTS_DIR = Path(os.environ.get("FER_EDU_RESULTS") or REPO / "results")


RUNS_DIR = Path(os.environ.get("FER_EDU_RUNS") or REPO / "runs")


#: The paper's final model as trained at laptop scale (seed 0), committed for the chapters that look inside it
#: (4 and 7, and 2 without the real data): found beside the package, so a notebook opened anywhere loads it.
FINAL_MODEL = REPO / "results" / "models" / "final-laptop-seed0.safetensors"


def kept_weights_path(scale: str, name: str, seed: int) -> Path:
    """Where a run's chosen weights are kept on the machine that trained it (runs/ is git-ignored)."""
    return RUNS_DIR / "models" / scale / name / f"seed{seed}.safetensors"


FULL_SPLITS = {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}


def git_commit() -> str | None:
    """The checkout's commit (``+dirty`` when tracked files differ), or ``$FER_EDU_COMMIT``."""
    if os.environ.get("FER_EDU_COMMIT"):
        return os.environ["FER_EDU_COMMIT"]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def versions() -> dict:
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__}


def data_record(data: FERData) -> dict:
    return {"format": data.info.get("format"), "sha256": data.info.get("sha256"),
            "synthetic": data.synthetic, "split_counts": data.split_counts()}


def results_dir(root: Path | None = None) -> Path:
    """``root``, else the course's ``results/`` (``RESULTS_DIR``, read when called, so a queue or a test
    can move it)."""
    return root or RESULTS_DIR


def result_path(name: str, scale: str, root: Path | None = None) -> Path:
    return results_dir(root) / scale / f"{name}.json"


def write_json(path: Path, obj: dict) -> None:
    """Write JSON atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def load_result(name: str, scale: str, root: Path | None = None) -> dict | None:
    path = result_path(name, scale, root)
    return json.loads(path.read_text()) if path.exists() else None


def summarize(runs: list[dict]) -> dict:
    acc = np.array([r["private_accuracy"] for r in runs])
    return {"seeds": sorted(r["seed"] for r in runs), "n": len(runs),
            "private_mean": float(acc.mean()) if len(acc) else None,
            "private_std": float(acc.std(ddof=1)) if len(acc) > 1 else None}


def device_runs(result: dict | None, device: str = "cpu") -> list[dict]:
    """The runs of one results file (None: no file yet) made on one device kind, in seed order."""
    return sorted((r for r in (result or {}).get("runs", []) if r["device_kind"] == device), key=lambda r: r["seed"])


def record_run(exp: Experiment, scale: str, cfg: TrainConfig, data: FERData, entry: dict,
               root: Path | None = None, commit: str | None = None) -> Path:
    """Add one seed's entry to the experiment's results file (replacing the same seed and device kind)."""
    path = result_path(exp.name, scale, root)
    existing = load_result(exp.name, scale, root)
    # Same staleness rule as `owed`: a field added since (at its default) keeps the earlier seeds.
    runs = [] if existing is None or is_stale(existing, cfg) else existing["runs"]
    entry = {k: v for k, v in entry.items() if k != "model_state"}
    # The commit the code was loaded from (taken when the queue started), not the tree as it is now.
    entry.update(commit=commit or git_commit(), versions=versions(), load_average=list(os.getloadavg()))
    runs = [r for r in runs if (r["seed"], r["device_kind"]) != (entry["seed"], entry["device_kind"])] + [entry]
    runs.sort(key=lambda r: (r["device_kind"], r["seed"]))
    by_device = {kind: summarize(device_runs({"runs": runs}, kind))
                 for kind in sorted({r["device_kind"] for r in runs})}
    write_json(path, {
        "name": exp.name, "group": exp.group, "description": exp.description, "scale": scale,
        "meaningless": SCALES[scale].meaningless, "config": cfg.to_dict(), "data": data_record(data),
        **({"budget_min": exp.budget_min} if exp.budget_min is not None else {}),
        "runs": runs, "summary": by_device,
    })
    return path


def is_stale(result: dict, cfg: TrainConfig) -> bool:
    """True when the registry's configuration now differs from the one the result was trained with.

    A field the result does not record counts as unchanged when the registry has it at its
    default (a new option that keeps the old behaviour changes nothing).
    """
    stored, current = result["config"], cfg.to_dict()
    defaults = TrainConfig().to_dict()
    for f in fields(TrainConfig):
        if f.name in stored:
            if stored[f.name] != current[f.name]:
                return True
        elif current[f.name] != defaults[f.name]:
            return True
    return False


def owed(experiments: list[Experiment], scale: str, device_kind: str,
         root: Path | None = None) -> list[tuple[Experiment, int]]:
    """(experiment, seed) pairs whose result is missing or stale, in queue order."""
    out = []
    for exp in experiments:
        result = load_result(exp.name, scale, root)
        cfg = exp.config(scale)
        done = set()
        if result is not None and not is_stale(result, cfg):
            done = {r["seed"] for r in device_runs(result, device_kind)}
        out += [(exp, s) for s in seeds_for(exp) if s not in done]
    return out


def over_budget(exp: Experiment, runs: list[dict]) -> list[int]:
    """Seeds whose recorded wall time (2-core CPU) exceeded the experiment's ``budget_min``, if it has one."""
    if exp.budget_min is None:
        return []
    return [r["seed"] for r in runs if r["wall_time_s"] > 60 * exp.budget_min]


#: Runs that train exactly what another name trains (only a measurement is added).
SAME_TRAINING = {"final_leak": "final"}


def trainings_of(name: str) -> list[str]:
    """``name`` and the names that train exactly what it trains (:data:`SAME_TRAINING`), ``name`` first:
    where ``name`` has no run of a kind (at paper scale ``final`` trained on a GPU only), the next stands in."""
    return [name, *(other for other, same in SAME_TRAINING.items() if same == name)]


#: Runs recorded before runs kept their predictions, and the run that trains the same network with an
#: added measurement only (``measure_leak``): its predictions stand in, where the two agree exactly.
PREDICTION_STAND_INS = {"final": "final_leak"}


MEASUREMENT_ONLY_FIELDS = ("measure_leak",)


def _same_training(a: dict, b: dict, run_a: dict, run_b: dict) -> bool:
    """Two recorded runs of one seed trained alike: configs equal but for measurements, same outcome."""
    def cfg(result: dict) -> dict:
        # A field a result predates counts at its default, as in ``is_stale``.
        full = {**TrainConfig().to_dict(), **result["config"]}
        return {k: v for k, v in full.items() if k not in MEASUREMENT_ONLY_FIELDS}
    return cfg(a) == cfg(b) and all(run_a[k] == run_b[k] for k in
                                    ("private_accuracy", "public_accuracy", "selected_epoch"))


def private_correct(name: str, seed: int, truth: np.ndarray, scale: str = "laptop", root: Path | None = None,
                    device: str = "cpu") -> np.ndarray | None:
    """Per-image correctness on PrivateTest of one recorded run (for paired tests such as McNemar's).

    ``truth`` is PrivateTest's labels in file order. None where the run, or its recorded
    predictions, are missing, or where ``truth`` is not the split the run was tested on (the
    synthetic faces, for instance). A run recorded without predictions borrows those of its
    ``PREDICTION_STAND_INS`` twin, but only where the twin's config (measurements aside), chosen
    epoch and accuracies are the same.
    """
    result = load_result(name, scale, root)
    own = [r for r in device_runs(result, device) if r["seed"] == seed]
    runs = [r for r in own if "predictions" in r["private"]]
    twin_name = PREDICTION_STAND_INS.get(name)
    if not runs and own and twin_name is not None:
        twin = load_result(twin_name, scale, root)
        runs = [r for r in device_runs(twin, device) if r["seed"] == seed and "predictions" in r["private"]
                and _same_training(result, twin, own[0], r)]
    if not runs:
        return None
    predicted = np.array(list(runs[0]["private"]["predictions"]), dtype=int)
    return predicted == np.asarray(truth) if len(predicted) == len(truth) else None


#: The training benchmarks (``python -m fer_edu bench``), one file per kind of machine: a CPU that
#: computes bfloat16 natively (AMX or AVX512-BF16), a CPU without it (the engine trains in fp32, as on
#: most laptops), a GPU.
BENCH_KINDS = {"cpu": "a CPU with native bf16", "cpu-fp32": "a CPU without (fp32)", "cuda": "a GPU"}


def bench_kind(device_kind: str, bf16: bool) -> str:
    """The :data:`BENCH_KINDS` key of a machine: ``cpu`` and ``cpu-fp32`` tell the CPUs apart by bf16."""
    return "cpu" if device_kind == "cpu" and bf16 else "cpu-fp32" if device_kind == "cpu" else device_kind


def bench_path(kind: str, root: Path | None = None) -> Path:
    """``results/bench-<kind>.json``."""
    return results_dir(root) / f"bench-{kind}.json"


def demo_bench_kind(machine: dict) -> str:
    """The file key of a demo measurement (``webcam --bench --save``): ``cpu-amx``, ``cpu-avx512-bf16``,
    ``cpu-avx2``... The demo's model computes in fp32 on every CPU, so its time a face depends on the
    processor rather than on bf16: one file per instruction set. A record without one (made before runs
    recorded it) keeps the training benchmarks' key, ``cpu`` or ``cpu-fp32``."""
    kind, isa = machine.get("device_kind", "cpu"), machine.get("isa")
    if kind != "cpu" or not isa:
        return bench_kind(kind, bool(machine.get("bf16")))
    return "cpu-" + isa.lower().replace("-", "").replace(" ", "-")


def load_demo_benches(root: Path | None = None) -> list[dict]:
    """Every demo measurement (``results/bench-demo-*.json``) with its ``file`` name, fastest frame first."""
    records = [{**json.loads(p.read_text()), "file": p.name} for p in results_dir(root).glob("bench-demo-*.json")]
    return sorted(records, key=lambda b: b["median_ms"])


#: A network as its time a face depends on it: (architecture, width, parameter count, how it ran).
Network = tuple[str, float, int, str]
#: How a demo measurement made before the demo prepared its model for inference ran it.
AS_TRAINED = "as trained"


def demo_network(record: dict) -> Network | None:
    """The network a demo measurement timed: its architecture, width, trained parameter count, and how it
    was prepared (``models.INFERENCE``, or :data:`AS_TRAINED` for records from before the demo prepared it).

    ``record`` is a ``bench-demo-*.json`` record (its ``model``) or a dict with those keys (the demo
    weights' metadata with their parameter count and preparation). Not the weights: fp32 inference does
    the same arithmetic whatever their values, so two files that timed other weights of one network
    compare. None where the record does not say (files made before they named their model).
    """
    model = record["model"] if "model" in record else record
    keys = ("architecture", "width", "parameters")
    if not model or any(model.get(k) is None for k in keys):
        return None
    return (str(model["architecture"]), float(model["width"]), int(model["parameters"]),
            str(model.get("inference", AS_TRAINED)))


def demo_networks(benches: list[dict]) -> dict[Network | None, list[dict]]:
    """Demo measurements grouped by :func:`demo_network`, each group in the given order; the rows of
    one group compare with each other, and ``None`` holds those that do not say what they timed."""
    groups: dict[Network | None, list[dict]] = {}
    for bench in benches:
        groups.setdefault(demo_network(bench), []).append(bench)
    return groups


def demo_timings(network: Network, benches: list[dict]) -> tuple[list[dict], list[dict]]:
    """The demo measurements that timed ``network`` as it is run now, and those that timed the same
    architecture, width and parameters run another way (as trained, before the demo prepared its model):
    the second are no longer the demo's time, but a reader should still see them."""
    groups = demo_networks(benches)
    other = [b for net, group in groups.items() if net and net[:3] == network[:3] and net != network for b in group]
    return groups.get(network, []), other


def load_benches(root: Path | None = None) -> dict[str, dict | None]:
    """Each :data:`BENCH_KINDS` benchmark as recorded, None where it has not been measured."""
    return {kind: json.loads(bench_path(kind, root).read_text()) if bench_path(kind, root).exists() else None
            for kind in BENCH_KINDS}


def reproductions_path(root: Path | None = None) -> Path:
    """``results/reproductions.json``: committed runs trained again by ``python -m fer_edu reproduce``."""
    return results_dir(root) / "reproductions.json"


def record_reproduction(entry: dict, root: Path | None = None) -> Path:
    """Add one reproduction (replacing an earlier one of the same run, device kind and commit)."""
    path = reproductions_path(root)
    old = json.loads(path.read_text())["runs"] if path.exists() else []
    key = ("name", "scale", "seed", "device_kind")
    old = [r for r in old if tuple(r[k] for k in key) != tuple(entry[k] for k in key)
           or r["repeated"]["commit"] != entry["repeated"]["commit"]]
    write_json(path, {"runs": old + [entry]})
    return path
