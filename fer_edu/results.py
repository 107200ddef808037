"""Results files: ``results/<scale>/<name>.json``, written atomically, read by the book.

A results file holds the experiment's configuration, scale and data fingerprint, one entry per
(seed, device kind) with its provenance (commit, device, library versions, wall time, load
average), per-epoch history, the selected epoch, PrivateTest accuracy, per-class recall and the
confusion matrix, and the mean and standard deviation over seeds.
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
RESULTS_DIR = REPO / "results"
RUNS_DIR = REPO / "runs"
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


def result_path(name: str, scale: str, root: Path | None = None) -> Path:
    return (root or RESULTS_DIR) / scale / f"{name}.json"


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


def record_run(exp: Experiment, scale: str, cfg: TrainConfig, data: FERData, entry: dict,
               root: Path | None = None, commit: str | None = None) -> Path:
    """Add one seed's entry to the experiment's results file (replacing the same seed and device kind)."""
    path = result_path(exp.name, scale, root)
    existing = load_result(exp.name, scale, root)
    runs = [] if existing is None or existing["config"] != cfg.to_dict() else existing["runs"]
    entry = {k: v for k, v in entry.items() if k != "model_state"}
    # The commit the code was loaded from (taken when the queue started), not the tree as it is now.
    entry.update(commit=commit or git_commit(), versions=versions(), load_average=list(os.getloadavg()))
    runs = [r for r in runs if (r["seed"], r["device_kind"]) != (entry["seed"], entry["device_kind"])] + [entry]
    runs.sort(key=lambda r: (r["device_kind"], r["seed"]))
    by_device = {kind: summarize([r for r in runs if r["device_kind"] == kind])
                 for kind in sorted({r["device_kind"] for r in runs})}
    write_json(path, {
        "name": exp.name, "group": exp.group, "description": exp.description, "scale": scale,
        "meaningless": SCALES[scale].meaningless, "config": cfg.to_dict(), "data": data_record(data),
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


def owed(experiments: list[Experiment], scale: str, device_kind: str, root: Path | None = None) -> list[tuple[Experiment, int]]:
    """(experiment, seed) pairs whose result is missing or stale, in queue order."""
    out = []
    for exp in experiments:
        result = load_result(exp.name, scale, root)
        cfg = exp.config(scale)
        done = set()
        if result is not None and not is_stale(result, cfg):
            done = {r["seed"] for r in result["runs"] if r["device_kind"] == device_kind}
        out += [(exp, s) for s in seeds_for(exp) if s not in done]
    return out


def summary_rows(root: Path | None = None) -> list[dict]:
    """One row per committed result and device kind, plus a row per registry name without one."""
    from .experiments import GROUP_ORDER, REGISTRY

    root = root or RESULTS_DIR
    rows = []
    for scale in ("laptop", "paper"):
        for exp in [x for g in GROUP_ORDER for x in REGISTRY.values() if x.group == g]:
            result = load_result(exp.name, scale, root)
            if result is None:
                if scale == "laptop":
                    rows.append({"name": exp.name, "scale": scale, "status": "missing"})
                continue
            stale = is_stale(result, exp.config(scale))
            for kind, s in result["summary"].items():
                runs = [r for r in result["runs"] if r["device_kind"] == kind]
                missing = [x for x in seeds_for(exp) if x not in s["seeds"]]
                rows.append({
                    "name": exp.name, "scale": scale, "device": kind, "seeds": s["seeds"],
                    "private_mean": s["private_mean"], "private_std": s["private_std"],
                    "selected_epochs": [r["selected_epoch"] for r in runs],
                    "train_accuracy": float(np.mean([r["train_accuracy"] for r in runs])),
                    "wall_time_s": float(np.mean([r["wall_time_s"] for r in runs])),
                    "status": "stale" if stale else (f"seeds {missing} owed" if missing else "ok"),
                })
    return rows


def summary_table(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    head = ("| name | scale | device | seeds | PrivateTest mean | std | chosen epochs | train acc | wall time | status |\n"
            "|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        if "private_mean" not in r:
            lines.append(f"| {r['name']} | {r['scale']} | | | | | | | | {r['status']} |")
            continue
        std = f"{r['private_std']:.2%}" if r["private_std"] is not None else "-"
        lines.append(
            f"| {r['name']} | {r['scale']} | {r['device']} | {','.join(map(str, r['seeds']))} | "
            f"{r['private_mean']:.2%} | {std} | {','.join(map(str, r['selected_epochs']))} | "
            f"{r['train_accuracy']:.1%} | {r['wall_time_s'] / 60:.1f} min | {r['status']} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- tuned learning rates

SWEEP_BASES = {"sgd": "opt_sgd", "sgd_momentum": "t1_sgd_momentum", "adam": "opt_adam", "adamw": "final"}
SWEEP_MULTIPLIERS = (0.25, 0.5, 1.0, 2.0, 4.0)


def sweep_choice(label: str, scale: str, root: Path | None = None) -> dict | None:
    """The learning-rate multiplier with the best seed-0 PublicTest accuracy, or None while a sweep point is owed.

    Chosen on PublicTest only; PrivateTest never enters the choice.
    """
    from .experiments import REGISTRY

    public = {}
    for m in SWEEP_MULTIPLIERS:
        name = SWEEP_BASES[label] if m == 1.0 else f"sweep_{label}_x{m:g}"
        result = load_result(name, scale, root)
        if result is None or is_stale(result, REGISTRY[name].config(scale)):
            return None
        seed0 = [r for r in result["runs"] if r["seed"] == 0]
        if not seed0:
            return None
        public[m] = seed0[0]["public_accuracy"]
    best = max(SWEEP_MULTIPLIERS, key=lambda m: (public[m], -abs(np.log(m))))  # ties: closest to the paper's rate
    return {"multiplier": best, "public_accuracy": public}


def tuned_experiments(scale: str, root: Path | None = None) -> list[Experiment]:
    """``tuned_<optimizer>``: each optimizer at its PublicTest-chosen learning rate, seeds 0-2 (once its sweep is done)."""
    from dataclasses import replace

    from .experiments import REGISTRY

    out = []
    for label, base in SWEEP_BASES.items():
        choice = sweep_choice(label, scale, root)
        if choice is not None:
            exp = REGISTRY[base]
            out.append(replace(exp, name=f"tuned_{label}", group="tuned", lr_multiplier=choice["multiplier"],
                               description=f"{exp.description}; learning rate x{choice['multiplier']:g}, "
                                           "chosen on PublicTest from the sweep"))
    return out


def experiments_for(names: list[str], scale: str, root: Path | None = None) -> list[Experiment]:
    """Registry names and groups, plus ``tuned``/``tuned_<opt>`` (and ``all``, which includes them) from the sweeps."""
    from .experiments import resolve

    tuned = {x.name: x for x in tuned_experiments(scale, root)}
    out: list[Experiment] = []
    for n in names:
        if n == "tuned":
            found = list(tuned.values())
        elif n.startswith("tuned_"):
            if n not in tuned:
                raise ValueError(f"{n}: its learning-rate sweep is not complete yet at scale {scale}")
            found = [tuned[n]]
        else:
            found = resolve(n) + (list(tuned.values()) if n == "all" else [])
        out += [x for x in found if x not in out]
    return out


# --------------------------------------------------------------------------- for the book

NOT_YET_RUN = "not yet run"


def accuracy_text(name: str, scale: str = "laptop", root: Path | None = None, device: str = "cpu") -> str:
    """``"62.6 % ± 0.2 (seeds 0, 1, 2)"``, or ``"not yet run"``: what the book's prose glues."""
    result = load_result(name, scale, root)
    if result is None or device not in result["summary"]:
        return NOT_YET_RUN
    s = result["summary"][device]
    spread = f" ± {100 * s['private_std']:.1f}" if s["private_std"] is not None else ""
    return f"{100 * s['private_mean']:.1f} %{spread} (seed{'s' if s['n'] > 1 else ''} {', '.join(map(str, s['seeds']))})"


def comparison(names: list[str], scale: str = "laptop", root: Path | None = None, device: str = "cpu"):
    """A table of experiments: PrivateTest mean and spread over seeds, each seed, train accuracy, chosen epochs."""
    import pandas as pd

    rows = []
    for name in names:
        result = load_result(name, scale, root)
        row = {"name": name}
        if result is None or device not in result["summary"]:
            rows.append({**row, "PrivateTest": NOT_YET_RUN})
            continue
        runs = [r for r in result["runs"] if r["device_kind"] == device]
        s = result["summary"][device]
        rows.append({
            **row,
            "PrivateTest": f"{100 * s['private_mean']:.2f} %",
            "std over seeds": f"{100 * s['private_std']:.2f}" if s["private_std"] is not None else "-",
            "per seed": " / ".join(f"{100 * r['private_accuracy']:.1f}" for r in runs),
            "train (no aug.)": f"{100 * np.mean([r['train_accuracy'] for r in runs]):.1f} %",
            "chosen epochs": ", ".join(str(r["selected_epoch"]) for r in runs),
            "parameters": f"{runs[0]['parameters']:,}",
        })
    return pd.DataFrame(rows).set_index("name").fillna("")


def per_class_recall(names: list[str], scale: str = "laptop", root: Path | None = None, device: str = "cpu"):
    """PrivateTest recall per class (mean over seeds), one column per experiment that has results."""
    import pandas as pd

    from .data import CLASSES

    cols = {}
    for name in names:
        result = load_result(name, scale, root)
        if result is None:
            continue
        runs = [r for r in result["runs"] if r["device_kind"] == device]
        if runs:
            recall = np.mean([r["private"]["recall"] for r in runs], axis=0)
            cols[name] = [f"{100 * v:.1f} %" for v in recall]
    return pd.DataFrame(cols, index=list(CLASSES))
