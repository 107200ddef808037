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
import re
import subprocess
import tempfile
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

from .data import FERData
from .experiments import BEST_ATTEMPTS, LONGER_STUDENT_EPOCHS, REPORTED_SCALES, SCALES, Experiment, seeds_for
from .train import TrainConfig

REPO = Path(__file__).resolve().parents[1]
# The environment overrides are how a parallel queue hands its folders to its child processes.
RESULTS_DIR = Path(os.environ.get("FER_EDU_RESULTS") or REPO / "results")
RUNS_DIR = Path(os.environ.get("FER_EDU_RUNS") or REPO / "runs")


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


def owed(experiments: list[Experiment], scale: str, device_kind: str, root: Path | None = None) -> list[tuple[Experiment, int]]:
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


def median_epoch_seconds(run: dict) -> float:
    """The median of a run's epoch times: its machine's pace, little moved by a few epochs slowed by other work."""
    return float(np.median([h["seconds"] for h in run["history"]]))


def budget_text(exp: Experiment, runs: list[dict], scale: str = "laptop") -> str:
    """A sentence on the runs over ``exp``'s budget, their minutes and pace against those within it;
    ``""`` when there are none. A budgeted run is recorded over its budget only when trained with
    ``run --ignore-budget``, as the runner stops it otherwise."""
    late = over_budget(exp, runs)
    if not late:
        return ""
    within = [r for r in runs if r["seed"] not in late]
    over = [r for r in runs if r["seed"] in late]

    def pace(rs: list[dict]) -> str:
        return ", ".join(f"{median_epoch_seconds(r):.0f} s" for r in rs)

    minutes = ", ".join(f"{r['wall_time_s'] / 60:.1f}" for r in over)
    text = (f"{_seeds_text(late).capitalize()} took {minutes} minutes, over the {exp.budget_min}-minute budget: "
            f"trained to the end with `run --ignore-budget` on a slower machine (a median epoch of {pace(over)}")
    if within:
        text += f", against {pace(within)} for {_seeds_text([r['seed'] for r in within])}, which kept to it"
    return text + (f"). The {exp.config(scale).epochs} epochs are fixed, so the machine's pace changed the "
                   "minutes, not what was trained.")


def summary_rows(root: Path | None = None) -> list[dict]:
    """One row per committed result and device kind, plus a row per name defined now without one."""
    from .experiments import ALL_GROUPS

    root = root or RESULTS_DIR
    rows = []
    for scale in REPORTED_SCALES:
        known = known_experiments(scale, root).values()
        for exp in [x for g in ALL_GROUPS for x in known if x.group == g]:
            result = load_result(exp.name, scale, root)
            if result is None:
                if scale == "laptop":
                    rows.append({"name": exp.name, "scale": scale, "status": "missing"})
                continue
            stale = is_stale(result, exp.config(scale))
            for kind, s in result["summary"].items():
                runs = device_runs(result, kind)
                missing = [x for x in seeds_for(exp) if x not in s["seeds"]]
                late = over_budget(exp, runs) if kind == "cpu" else []
                status = "stale" if stale else (f"{_seeds_text(missing)} owed" if missing else "ok")
                rows.append({
                    "name": exp.name, "scale": scale, "device": kind, "seeds": s["seeds"],
                    "private_mean": s["private_mean"], "private_std": s["private_std"],
                    "selected_epochs": [r["selected_epoch"] for r in runs],
                    "train_accuracy": float(np.mean([r["train_accuracy"] for r in runs])),
                    "wall_time_s": float(np.mean([r["wall_time_s"] for r in runs])),
                    "concurrent_runs": max(r.get("concurrent_runs", 1) for r in runs),
                    "status": status + (f"; {_seeds_text(late)} over the {exp.budget_min}-min budget" if late else ""),
                })
    return rows


def summary_table(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    head = ("| name | scale | device | seeds | PrivateTest, mean ± sd | chosen epochs | train acc | wall time | status |\n"
            "|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        if "private_mean" not in r:
            lines.append(f"| {r['name']} | {r['scale']} | | | | | | | {r['status']} |")
            continue
        std = f" ± {100 * r['private_std']:.2f}" if r["private_std"] is not None else ""
        shared = f" ({r['concurrent_runs']} runs at once)" if r.get("concurrent_runs", 1) > 1 else ""
        lines.append(
            f"| {r['name']} | {r['scale']} | {r['device']} | {','.join(map(str, r['seeds']))} | "
            f"{100 * r['private_mean']:.2f} %{std} | {','.join(map(str, r['selected_epochs']))} | "
            f"{100 * r['train_accuracy']:.1f} % | {r['wall_time_s'] / 60:.1f} min{shared} | {r['status']} |")
    return "\n".join(lines)


def ensemble_rows(root: Path | None = None) -> list[dict]:
    """One row per committed ensemble (``<name>_ensemble.json``): its members, k chosen on PublicTest, both accuracies."""
    root = root or RESULTS_DIR
    rows = []
    for scale in REPORTED_SCALES:
        for path in sorted((root / scale).glob("*_ensemble.json")):
            ens = load_result(path.stem, scale, root)
            k = ens["chosen_k"]
            rows.append({"name": ens["name"], "scale": scale, "members": ens["members"], "seeds": ens["seeds"][:k],
                         "offered": len(ens["seeds"]), "public": ens["public_accuracy_by_k"][k - 1],
                         "private": ens["private_accuracy"]})
    return rows


def ensemble_table(rows: list[dict]) -> str:
    """The ensemble rows as a Markdown table (empty text when none is recorded)."""
    if not rows:
        return ""
    lines = ["| ensemble | scale | members | seeds averaged (k chosen on PublicTest) | PublicTest | PrivateTest |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['name']} | {r['scale']} | {r['members']} | {','.join(map(str, r['seeds']))} "
              f"(k = {len(r['seeds'])} of {r['offered']}) | {100 * r['public']:.2f} % | {100 * r['private']:.2f} % |"
              for r in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- tuned learning rates

SWEEP_BASES = {"sgd": "opt_sgd", "sgd_momentum": "t1_sgd_momentum", "adam": "opt_adam", "adamw": "final"}
SWEEP_MULTIPLIERS = (0.25, 0.5, 1.0, 2.0, 4.0)


def seed0_public(name: str, scale: str, root: Path | None = None, device: str = "cpu") -> float | None:
    """Seed 0's PublicTest accuracy on one device kind, or None while that run is missing or stale.

    What every choice made from trials reads (the sweeps, the recipe search): never PrivateTest.
    """
    from .experiments import REGISTRY

    result = load_result(name, scale, root)
    seed0 = [r for r in device_runs(result, device) if r["seed"] == 0]
    if not seed0 or is_stale(result, REGISTRY[name].config(scale)):
        return None
    return seed0[0]["public_accuracy"]


def sweep_public(label: str, scale: str, root: Path | None = None, device: str = "cpu") -> dict[float, float | None]:
    """One optimizer's sweep: learning-rate multiplier -> seed 0's PublicTest accuracy (None while owed)."""
    return {m: seed0_public(SWEEP_BASES[label] if m == 1.0 else f"sweep_{label}_x{m:g}", scale, root, device)
            for m in SWEEP_MULTIPLIERS}


def sweep_choice(label: str, scale: str, root: Path | None = None, device: str = "cpu") -> dict | None:
    """The learning-rate multiplier with the best seed-0 PublicTest accuracy, or None while a sweep point is owed.

    Chosen on PublicTest only, from the runs of one device kind; PrivateTest never enters the choice.
    """
    public = sweep_public(label, scale, root, device)
    if any(a is None for a in public.values()):
        return None
    best = max(SWEEP_MULTIPLIERS, key=lambda m: (public[m], -abs(np.log(m))))  # ties: closest to the paper's rate
    return {"multiplier": best, "public_accuracy": public}


def tuned_experiments(scale: str, root: Path | None = None) -> list[Experiment]:
    """``tuned_<optimizer>``: each optimizer at its PublicTest-chosen learning rate, seeds 0-2 (once its sweep is done)."""
    from .experiments import REGISTRY

    out = []
    for label, base in SWEEP_BASES.items():
        # The CPU's sweep where it is complete; a paper-scale sweep may exist on a GPU only.
        choice = sweep_choice(label, scale, root) or sweep_choice(label, scale, root, "cuda")
        if choice is not None:
            exp = REGISTRY[base]
            out.append(replace(exp, name=f"tuned_{label}", group="tuned", lr_multiplier=choice["multiplier"],
                               description=f"{exp.description}; learning rate x{choice['multiplier']:g}, "
                                           "chosen on PublicTest from the sweep"))
    return out


def recipe_choice(scale: str, root: Path | None = None, device: str = "cpu") -> dict | None:
    """The recipe the search chose on PublicTest (seed 0), or None while a search trial is owed.

    The rule is declared in ``experiments``: each alternative (peak learning rate, schedule) goes to
    the best of the start's setting and the trials' (ties keep the start's); mixup and EMA join when
    they beat the start by SEARCH_MARGIN. PrivateTest never enters the choice.
    """
    from .experiments import RECIPE_START, SEARCH, SEARCH_ALTERNATIVES, SEARCH_MARGIN

    public = {}
    for key in ("start", *SEARCH):
        public[key] = seed0_public(f"search_{key}", scale, root, device)
        if public[key] is None:
            return None
    recipe, chosen = dict(RECIPE_START), {}
    for what, keys in SEARCH_ALTERNATIVES.items():
        chosen[what] = max(("start", *keys), key=lambda k: (public[k], k == "start"))
        recipe.update(SEARCH.get(chosen[what], {}))
    alternatives = {k for keys in SEARCH_ALTERNATIVES.values() for k in keys}
    adopted = tuple(k for k in SEARCH if k not in alternatives and public[k] >= public["start"] + SEARCH_MARGIN)
    for key in adopted:
        recipe.update(SEARCH[key])
    return {"recipe": recipe, "adopted": adopted, "alternatives": chosen, "learning_rate": recipe["lr"],
            "public_accuracy": public}


def derived_experiments(scale: str, root: Path | None = None) -> list[Experiment]:
    """The names chosen from results: ``modern``, ``best45`` and the ablation once the recipe search
    has chosen, then ``student`` and its further attempts (distilled from the best45 ensemble with its
    PublicTest-chosen k) once that ensemble is recorded; none before."""
    from .experiments import chosen_students, recipe_experiments, student_experiments

    choice = recipe_choice(scale, root)
    if choice is None:
        return []
    best = best_choice(scale, root)["chosen"]
    out = recipe_experiments(choice["recipe"], choice["adopted"], best)
    ensemble_result = load_result("best45_ensemble", scale, root)
    if ensemble_result is not None:
        out += student_experiments(choice["recipe"], ensemble_result["chosen_k"])
    best_ensemble = load_result(f"{best}_ensemble", scale, root) if best not in (None, "best45") else None
    if best_ensemble is not None:
        out += chosen_students(choice["recipe"], best, best_ensemble["chosen_k"])
    return out


#: names defined only once results exist, and what they wait for
WAITING = {"modern": "the recipe search (search_*, seed 0)", "best45": "the recipe search (search_*, seed 0)",
           **{name: "the best45 ensemble (run best45, then `python -m fer_edu ensemble best45`)"
              for name in ("student", "student_t1", "student_w0.3")},
           **{student.format(name.removeprefix("best45_")):
              f"{name}'s ensemble, and exists only if {name} is the network results.best_choice picks (run "
              f"`python -m fer_edu run --owed {name}`, then `python -m fer_edu ensemble {name}`)"
              for name in BEST_ATTEMPTS  # the names experiments.chosen_students gives
              for student in ("student_{}", "student_alone_{}", f"student_{{}}_e{LONGER_STUDENT_EPOCHS}",
                              f"student_alone_{{}}_e{LONGER_STUDENT_EPOCHS}")}}


def experiments_for(names: list[str], scale: str, root: Path | None = None) -> list[Experiment]:
    """Registry names and groups, plus the names chosen from results: ``tuned``/``tuned_<opt>`` from the
    sweeps, ``modern``/``best45``/``modern_no_*`` from the recipe search, ``student`` from the ensemble
    (``all`` includes the tuned runs, ``beyond`` the rest)."""
    from .experiments import resolve

    tuned = {x.name: x for x in tuned_experiments(scale, root)}
    derived = {x.name: x for x in derived_experiments(scale, root)}
    out: list[Experiment] = []
    for n in names:
        if n in derived:
            found = [derived[n]]
        elif n in WAITING or n.startswith("modern_no_"):
            raise ValueError(f"{n}: not defined yet at scale {scale}: it waits for "
                             f"{WAITING.get(n, WAITING['modern'])}")
        elif n == "beyond":
            found = resolve(n) + list(derived.values())
        elif n == "tuned":
            found = list(tuned.values())
        elif n.startswith("tuned_"):
            if n not in tuned:
                raise ValueError(f"{n}: its learning-rate sweep is not complete yet at scale {scale}")
            found = [tuned[n]]
        else:
            found = resolve(n) + (list(tuned.values()) if n == "all" else [])
        out += [x for x in found if x not in out]
    return out


def known_experiments(scale: str, root: Path | None = None) -> dict[str, Experiment]:
    """Every name defined at this scale now: the registry and the names chosen from results."""
    return {x.name: x for x in experiments_for(["all", "beyond"], scale, root)}


# --------------------------------------------------------------------------- for the book

NOT_YET_RUN = "not yet run"


DEVICE_LABELS = {"cpu": "CPU", "cuda": "GPU"}


def result_device(result: dict | None, device: str | None = None) -> str | None:
    """The device kind whose runs a table shows: ``device`` if given, else the CPU's, else the first kind recorded.

    The CPU runs are the course's reference; paper-scale runs may exist on a GPU only.
    """
    if result is None:
        return None
    if device is not None:
        return device if device in result["summary"] else None
    kinds = list(result["summary"])
    return "cpu" if "cpu" in kinds else (kinds[0] if kinds else None)


def _seeds_text(seeds: list[int]) -> str:
    return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(str(s) for s in seeds)}"


def accuracy_text(name: str, scale: str = "laptop", root: Path | None = None, device: str | None = None,
                  seeds: tuple[int, ...] | None = None) -> str:
    """``"62.6 % ± 0.2 (seeds 0, 1, 2)"``, or ``"not yet run"``: what the book's prose glues.

    Runs on another device than the CPU say so: ``"65.4 % (seed 0, GPU)"``. ``seeds`` keeps only
    those seeds (best45's single-network accuracy is seeds 0-2 of its five); the text names the
    ones recorded so far.
    """
    result = load_result(name, scale, root)
    kind = result_device(result, device)
    if kind is None:
        return NOT_YET_RUN
    s = result["summary"][kind]
    if seeds is not None:
        runs = [r for r in device_runs(result, kind) if r["seed"] in seeds]
        if not runs:
            return NOT_YET_RUN
        s = summarize(runs)
    spread = f" ± {100 * s['private_std']:.1f}" if s["private_std"] is not None else ""
    where = "" if kind == "cpu" else f", {DEVICE_LABELS.get(kind, kind)}"
    return f"{100 * s['private_mean']:.1f} %{spread} ({_seeds_text(s['seeds'])}{where})"


#: Between a table's per-seed accuracies: narrow no-break spaces around the slash, so a column of
#: three or five seeds stays on one line where a rendered table would wrap it at the spaces.
PER_SEED_SEPARATOR = "\u202f/\u202f"


def comparison(names: list[str], scale: str = "laptop", root: Path | None = None, device: str | None = None):
    """A table of experiments: PrivateTest mean and spread over seeds, each seed, train accuracy, chosen epochs.

    Each row shows the CPU runs, or the GPU's where a name has no CPU run (see :func:`result_device`);
    a "device" column appears when the table mixes or holds GPU runs.
    """
    import pandas as pd

    rows = []
    for name in names:
        result = load_result(name, scale, root)
        row = {"name": name}
        kind = result_device(result, device)
        if kind is None:
            rows.append({**row, "PrivateTest": NOT_YET_RUN})
            continue
        runs = device_runs(result, kind)
        s = result["summary"][kind]
        if kind != "cpu":
            row["device"] = DEVICE_LABELS.get(kind, kind)
        rows.append({
            **row,
            "PrivateTest": f"{100 * s['private_mean']:.2f} %",
            "std over seeds": f"{100 * s['private_std']:.2f}" if s["private_std"] is not None else "-",
            "per seed": PER_SEED_SEPARATOR.join(f"{100 * r['private_accuracy']:.1f}" for r in runs),
            "train (no aug.)": f"{100 * np.mean([r['train_accuracy'] for r in runs]):.1f} %",
            "chosen epochs": ", ".join(str(r["selected_epoch"]) for r in runs),
            "parameters": f"{runs[0]['parameters']:,}",
        })
    return pd.DataFrame(rows).set_index("name").fillna("")


#: A run ended with the machine busy with other work when its 5-minute load average exceeds this:
#: the run's own two threads keep it near 2 on the 2-core machine.
SHARED_LOAD = 2.5


def cost_points(scale: str = "laptop", root: Path | None = None, device: str = "cpu") -> list[dict]:
    """Each trained name's mean PrivateTest accuracy against the minutes one run of it costs.

    The cost is the wall time of the name's fastest seed, the run least slowed by other work;
    ``shared`` says that even that run ended with the machine busy (``SHARED_LOAD``), so its time
    overstates the cost. Names that repeat another's training (``SAME_TRAINING``) are left out. An
    ensemble (``<name>_ensemble``) costs the training of its chosen members, added up.
    """
    def busy(run: dict) -> bool:
        return (run.get("load_average") or [0.0, 0.0, 0.0])[1] > SHARED_LOAD

    points = []
    for name, exp in known_experiments(scale, root).items():
        runs = device_runs(load_result(name, scale, root), device)
        if not runs or name in SAME_TRAINING:
            continue
        fastest = min(runs, key=lambda r: r["wall_time_s"])
        points.append({"name": name, "group": exp.group, "minutes": fastest["wall_time_s"] / 60,
                       "accuracy": float(np.mean([r["private_accuracy"] for r in runs])), "runs": len(runs),
                       "shared": busy(fastest)})
        ens = load_result(f"{name}_ensemble", scale, root)
        if ens is not None:
            by_seed = {r["seed"]: r for r in runs}
            members = [by_seed[s] for s in ens["seeds"][:ens["chosen_k"]]]
            points.append({"name": ens["name"], "group": exp.group,
                           "minutes": sum(r["wall_time_s"] for r in members) / 60,
                           "accuracy": ens["private_accuracy"], "runs": len(members),
                           "shared": any(busy(r) for r in members)})
    return points


def per_class_recall(names: list[str], scale: str = "laptop", root: Path | None = None, device: str = "cpu"):
    """PrivateTest recall per class (mean over seeds), one column per experiment that has results."""
    import pandas as pd

    from .data import CLASSES

    cols = {}
    for name in names:
        result = load_result(name, scale, root)
        if result is None:
            continue
        runs = device_runs(result, device)
        if runs:
            recall = np.mean([r["private"]["recall"] for r in runs], axis=0)
            cols[name] = [f"{100 * v:.1f} %" for v in recall]
    return pd.DataFrame(cols, index=list(CLASSES))


def one_class_collapse(name: str, scale: str = "laptop", root: Path | None = None, device: str = "cpu",
                       threshold: float = 0.9) -> dict | None:
    """Whether a result's networks predict (nearly) one class for every PrivateTest face, as a diverged
    run does: the most predicted class, its share of the predictions and of the true labels (from the
    recorded confusion matrices, summed over seeds), the mean accuracy; None if not (or no results).
    """
    from .data import CLASSES

    runs = device_runs(load_result(name, scale, root), device)
    if not runs:
        return None
    confusion = np.sum([r["private"]["confusion"] for r in runs], axis=0)  # rows: truth, columns: prediction
    predicted = confusion.sum(0)
    top = int(predicted.argmax())
    share = float(predicted[top] / predicted.sum())
    if share < threshold:
        return None
    return {"class": CLASSES[top], "predicted_share": share, "true_share": float(confusion[top].sum() / confusion.sum()),
            "private_mean": float(np.mean([r["private_accuracy"] for r in runs])), "seeds": [r["seed"] for r in runs],
            "selected_epochs": [r["selected_epoch"] for r in runs]}


# --------------------------------------------------------------------------- tables written into book pages
# A Markdown page cannot glue a notebook's values, so its tables are written between marker
# comments by `make pages` (also run by `make notebooks`); a test fails when a page is stale.

READING_WORDS_PER_MINUTE = 200
NOT_YET_MEASURED = "not yet measured"


def toc_chapters(repo: Path = REPO) -> list[Path]:
    """The chapter sources (notebooks and Markdown pages) the table of contents lists, in its order.

    The bibliography page is no chapter to read.
    """
    import re

    files = re.findall(r"^\s*-\s*file:\s*(\S+)\s*$", (repo / "_toc.yml").read_text(), re.MULTILINE)
    found = [next((p for p in (repo / f"{f}.ipynb", repo / f"{f}.md", repo / f) if p.is_file()), None)
             for f in files]
    return [p for p in found if p is not None and "{bibliography}" not in p.read_text()]


def _cell_sources(source: Path) -> list[tuple[str, str]]:
    """(cell type, text) of each cell; a Markdown page is one Markdown cell."""
    if source.suffix == ".md":
        return [("markdown", source.read_text())]
    cells = json.loads(source.read_text())["cells"]
    return [(c["cell_type"], "".join(c["source"])) for c in cells]


def reading_minutes(notebook: Path) -> int:
    """An estimate: the words of every cell (prose and code) at 200 a minute, rounded up to 5 minutes."""
    words = sum(len(src.split()) for _, src in _cell_sources(notebook))
    return 5 * max(1, -(-words // (5 * READING_WORDS_PER_MINUTE)))


def train_cell_experiment(notebook: Path) -> str | None:
    """The experiment the notebook's "train it yourself" cell trains (``train_yourself("name")``), if any."""
    import re

    for kind, src in _cell_sources(notebook):
        match = re.search(r"train_yourself\(\s*[\"']([\w.-]+)[\"']", src) if kind == "code" else None
        if match:
            return match.group(1)
    return None


def wall_time_text(name: str, scale: str = "laptop", root: Path | None = None, device: str = "cpu") -> str:
    """``"5.3 min (4.7-6.2 over seeds 0, 1, 2)"`` from a results file's wall times, or "not yet measured"."""
    result = load_result(name, scale, root)
    runs = device_runs(result, device)
    if not runs:
        return NOT_YET_MEASURED
    minutes = np.array([r["wall_time_s"] for r in runs]) / 60
    seeds = ", ".join(str(r["seed"]) for r in runs)
    spread = f"{minutes.min():.1f}-{minutes.max():.1f} over seeds {seeds}" if len(runs) > 1 else f"seed {seeds}"
    return f"{minutes.mean():.1f} min ({spread})"


def _devices(names: list[str], scale: str, root: Path | None, device: str) -> str:
    """The processors (and threads) the named results ran on, e.g. ``AMD EPYC, 2 threads``."""
    seen = set()
    for name in names:
        for r in device_runs(load_result(name, scale, root), device):
            seen.add(machine_label(r))
    return "; ".join(sorted(seen)) or "no runs yet"


def chapter_times_markdown(repo: Path = REPO, root: Path | None = None) -> str:
    """Per chapter: reading time (an estimate) and its train-it-yourself cell's measured laptop-scale CPU time."""
    lines = ["| chapter | reading (estimate) | its train-it-yourself cell, laptop scale, CPU |", "|---|---|---|"]
    trained = []
    for nb in toc_chapters(repo):
        name = train_cell_experiment(nb)
        run = "no training cell"
        if name is not None:
            trained.append(name)
            run = f"`{name}`: {wall_time_text(name, 'laptop', root)}"
        page = nb.relative_to(repo).with_suffix("").as_posix()
        lines.append(f"| {{doc}}`/{page}` | about {reading_minutes(nb)} min | {run} |")
    lines += ["", (f"Reading: every cell's words at {READING_WORDS_PER_MINUTE} a minute, rounded up to 5 minutes; "
                   "figures and exercises take longer. Training: the wall time of the course's own runs of the same "
                   f"experiment (`results/laptop/<name>.json`, on {_devices(trained, 'laptop', root, 'cpu')}); "
                   "the cell trains one seed. Under the tests the cells train at smoke scale, in seconds."
                   f"{_fp32_slowdown_text(root)}")]
    return "\n".join(lines)


def _fp32_slowdown_text(root: Path | None = None) -> str:
    """How much longer the laptop scale's training steps take on a CPU without native bf16, from the two CPU benches."""
    benches = load_benches(root)
    rates = [_bench_row(benches[kind], SCALES["laptop"]) if benches[kind] else None for kind in ("cpu", "cpu-fp32")]
    if None in rates:
        return ""
    ratio = rates[0]["engine_img_per_s"] / rates[1]["engine_img_per_s"]
    return (f" On a CPU without native bfloat16, as most laptops are, the laptop scale's training steps took {ratio:.1f} "
            "times as long (`results/bench-cpu-fp32.json` against `results/bench-cpu.json`): expect the times above "
            "to grow about as much.")


def _minutes_text(seconds: float) -> str:
    if seconds < 1:
        return "< 1 s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 600 else f"{seconds / 60:.0f} min"


def _bench_row(bench: dict, scale) -> dict | None:
    """The bench row at the scale's (width, batch), else the narrowest wider one at that batch (a slower network)."""
    rows = [r for r in bench["rows"] if r["batch_size"] == scale.batch_size and r["width"] >= scale.width]
    return min(rows, key=lambda r: r["width"]) if rows else None


def scale_cost_text(bench: dict | None, scale) -> str:
    """The training steps' time of one run at a scale, from a bench file's throughput, with the arithmetic."""
    if bench is None:
        return NOT_YET_MEASURED
    row = _bench_row(bench, scale)
    if row is None:
        return f"not benchmarked at width {scale.width:g}, batch {scale.batch_size}"
    images = scale.subset[0] if scale.subset else FULL_SPLITS["Training"]
    rate = row["engine_img_per_s"]
    seconds = scale.epochs * images / rate
    if row["width"] == scale.width:
        return f"{_minutes_text(seconds)} ({scale.epochs} × {images:,} images at {rate:,.0f}/s)"
    # A wider network trains more slowly: its rate gives an upper bound.
    bound = _minutes_text(seconds)
    return f"{bound if bound.startswith('<') else '≤ ' + bound} ({scale.epochs} × {images:,} images at {rate:,.0f}/s, width {row['width']:g}'s rate)"


#: The training benchmarks (``python -m fer_edu bench``), one file per kind of machine: a CPU that
#: computes bfloat16 natively (AMX or AVX512-BF16), a CPU without it (the engine trains in fp32, as on
#: most laptops), a GPU.
BENCH_KINDS = {"cpu": "a CPU with native bf16", "cpu-fp32": "a CPU without (fp32)", "cuda": "a GPU"}


def machine_label(record: dict, threads: bool = True) -> str:
    """A machine as a reader can tell it apart: a GPU by its name; a CPU by its name, whether it computes
    bfloat16 natively, its instruction set where recorded and (``threads``) its threads, e.g.
    ``AMD EPYC, fp32 only (AVX2), 2 threads`` (two CPUs a virtual machine both calls "AMD EPYC" differ here)."""
    if record.get("device_kind", "cpu") != "cpu":
        return record["device"]
    # "Intel(R) Xeon(R) Processor" reads as "Intel Xeon": the marks and a closing "Processor" say nothing.
    name = re.sub(r"\((R|TM)\)|\s+Processor\s*$", "", record["device"], flags=re.IGNORECASE)
    parts = [" ".join(name.split())]
    if record.get("bf16") is not None:
        precision = "native bf16" if record["bf16"] else "fp32 only"
        parts.append(f"{precision} ({record['isa']})" if record.get("isa") else precision)
    if threads and record.get("threads"):
        parts.append(f"{record['threads']} thread{'s' if record['threads'] != 1 else ''}")
    return ", ".join(parts)


def bench_kind(device_kind: str, bf16: bool) -> str:
    """The :data:`BENCH_KINDS` key of a machine: ``cpu`` and ``cpu-fp32`` tell the CPUs apart by bf16."""
    return "cpu" if device_kind == "cpu" and bf16 else "cpu-fp32" if device_kind == "cpu" else device_kind


def bench_path(kind: str, root: Path | None = None) -> Path:
    """``results/bench-<kind>.json``."""
    return (root or RESULTS_DIR) / f"bench-{kind}.json"


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
    records = [{**json.loads(p.read_text()), "file": p.name} for p in (root or RESULTS_DIR).glob("bench-demo-*.json")]
    return sorted(records, key=lambda b: b["median_ms"])


def load_benches(root: Path | None = None) -> dict[str, dict | None]:
    """Each :data:`BENCH_KINDS` benchmark as recorded, None where it has not been measured."""
    return {kind: json.loads(bench_path(kind, root).read_text()) if bench_path(kind, root).exists() else None
            for kind in BENCH_KINDS}


def cost_table_markdown(root: Path | None = None) -> str:
    """The three scales and the time their training steps take on each kind of machine, from ``results/bench-*.json``."""
    benches = load_benches(root)
    lines = ["| scale | network, batch, epochs | " + " | ".join(f"training steps on {what}" if i == 0 else f"on {what}"
                                                            for i, what in enumerate(BENCH_KINDS.values())) + " |",
             "|---|---|" + "---|" * len(BENCH_KINDS)]
    for scale in SCALES.values():
        lines.append(f"| `{scale.name}` | width {scale.width:g}, batch {scale.batch_size}, {scale.epochs} epochs | "
                     + " | ".join(scale_cost_text(benches[kind], scale) for kind in BENCH_KINDS) + " |")
    measured = "; ".join(f"`results/bench-{kind}.json`: " + (NOT_YET_MEASURED if b is None else machine_label(b))
                         for kind, b in benches.items())
    lines += ["", ("Training images per second of the final model measured by `python -m fer_edu bench` "
                   f"({measured}). A time after \"≤\" is an upper bound: that network was not benchmarked, so it "
                   "is timed at the rate of a wider one, which trains more slowly. Evaluation, loading and other "
                   "work come on top: a "
                   f"whole laptop-scale `final` run took {wall_time_text('final', 'laptop', root)}"
                   f"{_cpu_kinds_text(device_runs(load_result('final', 'laptop', root), 'cpu'))}.")]
    return "\n".join(lines)


def _cpu_kinds_text(runs: list[dict]) -> str:
    """Which kind of CPU (:data:`BENCH_KINDS`) some runs trained on: " on a CPU with native bf16" or the like;
    runs that did not record their precision are left out of it."""
    kinds = {bench_kind("cpu", r["bf16"]) for r in runs if r.get("bf16") is not None}
    return f" on {BENCH_KINDS[kinds.pop()]}" if len(kinds) == 1 else " on CPUs of both kinds" if kinds else ""


def leak_summaries(scale: str, root: Path | None = None) -> list[dict]:
    """:func:`fer_edu.leak.leak_summary` of each CPU run of ``final_leak`` at ``scale``, in seed order
    (empty when not yet run)."""
    from .leak import leak_summary

    return [leak_summary(r) for r in device_runs(load_result("final_leak", scale, root), "cpu")]


def leak_row(s: dict) -> dict:
    """One seed's honest protocol against the paper's (a :func:`leak_summaries` entry), as a display row."""
    return {"seed": s["seed"],
            "honest: PrivateTest, epoch chosen on PublicTest": f"{100 * s['honest']:.2f} % (epoch {s['honest_epoch']})",
            "paper's protocol: PublicTest + PrivateTest, epoch chosen on it":
                f"{100 * s['paper_protocol']:.2f} % (epoch {s['paper_epoch']})",
            "the same pooled set at the honest epoch": f"{100 * s['honest_pooled']:.2f} %",
            "leak (points)": f"{s['leak_points']:+.2f}",
            "PrivateTest, epoch chosen on PrivateTest": f"{100 * s['private_peak']:.2f} % (epoch {s['peak_epoch']})"}


def leak_overview(root: Path | None = None) -> list[dict]:
    """Each leak as one row of means (chapter 9): the epoch chosen on the test data (the paper's code),
    the epoch chosen on PrivateTest, at each scale of ``final_leak``, and training on Training's copies
    of test images (laptop ``final`` against ``final_dedup``, the seeds both have)."""
    rows = []
    for scale in REPORTED_SCALES:
        leaks = leak_summaries(scale, root)
        if not leaks:
            rows.append({"leak": "epoch chosen on the test data", "scale, seeds": f"{scale}: {NOT_YET_RUN}"})
            continue
        where = f"{scale}, {_seeds_text([s['seed'] for s in leaks])}"
        for what, honest, leaky in (("epoch chosen on PublicTest + PrivateTest (the paper's code), pooled test accuracy",
                                     "honest_pooled", "paper_protocol"),
                                    ("epoch chosen on PrivateTest, PrivateTest accuracy", "honest", "private_peak")):
            h, k = np.mean([s[honest] for s in leaks]), np.mean([s[leaky] for s in leaks])
            rows.append({"leak": what, "scale, seeds": where, "honest (epoch chosen on PublicTest)": f"{100 * h:.2f} %",
                         "with the leak": f"{100 * k:.2f} %", "difference (points)": f"{100 * (k - h):+.2f}"})
    copies = "trained on Training's copies of test images (final against final_dedup)"
    with_copies, without = ({r["seed"]: r["private_accuracy"] for r in device_runs(load_result(n, "laptop", root), "cpu")}
                            for n in ("final", "final_dedup"))
    seeds = sorted(set(with_copies) & set(without))
    if not seeds:
        rows.append({"leak": copies, "scale, seeds": f"laptop: {NOT_YET_RUN}"})
    else:
        w, wo = np.mean([with_copies[s] for s in seeds]), np.mean([without[s] for s in seeds])
        rows.append({"leak": copies, "scale, seeds": f"laptop, {_seeds_text(seeds)}",
                     "honest (epoch chosen on PublicTest)": f"{100 * wo:.2f} %", "with the leak": f"{100 * w:.2f} %",
                     "difference (points)": f"{100 * (w - wo):+.2f}"})
    return rows


def same_epoch_text(root: Path | None = None) -> str:
    """How often the paper's protocol chose the honest epoch, per scale of ``final_leak`` (chapter 9)."""
    counts = {scale: (sum(s["paper_epoch"] == s["honest_epoch"] for s in leaks), len(leaks))
              for scale in REPORTED_SCALES if (leaks := leak_summaries(scale, root))}
    return "; ".join(f"{same} of {n} seed{'s' if n > 1 else ''} at {scale} scale"
                     for scale, (same, n) in counts.items()) or NOT_YET_RUN


def _markdown_rows(rows: list[dict]) -> str:
    header = list(rows[0])
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                      *("| " + " | ".join(str(r[c]) for c in header) + " |" for r in rows)])


def leak_table_markdown(root: Path | None = None) -> str:
    """The paper's protocol against the honest one, per seed of ``final_leak``, at each scale (or "not yet run")."""
    parts = []
    for scale in REPORTED_SCALES:
        summaries = leak_summaries(scale, root)
        if not summaries:
            parts.append(f"**{scale} scale**: {NOT_YET_RUN}.")
            continue
        mean = np.mean([s["leak_points"] for s in summaries])
        parts.append(f"**{scale} scale**\n\n{_markdown_rows([leak_row(s) for s in summaries])}\n\n`final_leak` trains "
                     f"the final model exactly as `final`; mean leak over {_seeds_text([s['seed'] for s in summaries])}: {mean:+.2f} points.")
    return "\n\n".join(parts)


#: Runs that train exactly what another name trains (only a measurement is added).
SAME_TRAINING = {"final_leak": "final"}


def reproductions_path(root: Path | None = None) -> Path:
    """``results/reproductions.json``: committed runs trained again by ``python -m fer_edu reproduce``."""
    return (root or RESULTS_DIR) / "reproductions.json"


def record_reproduction(entry: dict, root: Path | None = None) -> Path:
    """Add one reproduction (replacing an earlier one of the same run, device kind and commit)."""
    path = reproductions_path(root)
    old = json.loads(path.read_text())["runs"] if path.exists() else []
    key = ("name", "scale", "seed", "device_kind")
    old = [r for r in old if tuple(r[k] for k in key) != tuple(entry[k] for k in key)
           or r["repeated"]["commit"] != entry["repeated"]["commit"]]
    write_json(path, {"runs": old + [entry]})
    return path


def _percent_commit(run: dict) -> str:
    return f"{100 * run['private_accuracy']:.2f} % ({(run.get('commit') or '?')[:7]})"


def _machine_text(entry: dict, which: str) -> str:
    """One side of a reproduction: a CPU by its name and precision (``AMD EPYC, native bf16``, see
    :func:`machine_label`), ``cpu, bf16`` / ``cpu, fp32`` where only its precision was recorded, or the
    device kind alone where neither was (reproductions before 2026-12-04)."""
    side = entry[which]
    if entry["device_kind"] != "cpu" or side.get("bf16") is None:
        return entry["device_kind"]
    if side.get("device"):
        return machine_label({**side, "device_kind": "cpu"}, threads=False)
    return f"cpu, {'bf16' if side['bf16'] else 'fp32'}"


def reproduction_table_markdown(root: Path | None = None) -> str:
    """Runs trained twice: ``final_leak`` repeats ``final``; runs repeated from a fresh clone
    (``reproduce``); the same training on a CPU and on a GPU. Same PrivateTest accuracy?"""
    final, leak = load_result("final", "laptop", root), load_result("final_leak", "laptop", root)
    if final is None or leak is None:
        parts = [f"`final_leak` against `final`: {NOT_YET_RUN}."]
    else:
        first = {r["seed"]: r for r in device_runs(final, "cpu")}
        lines = ["| seed | `final` PrivateTest (commit) | `final_leak` PrivateTest (commit) | same |", "|---|---|---|---|"]
        for r in (r for r in device_runs(leak, "cpu") if r["seed"] in first):
            f = first[r["seed"]]
            same = "yes" if f["private_accuracy"] == r["private_accuracy"] else "no"
            lines.append(f"| {r['seed']} | {_percent_commit(f)} | {_percent_commit(r)} | {same} |")
        parts = ["\n".join(lines)]
    path = reproductions_path(root)
    repeated = json.loads(path.read_text())["runs"] if path.exists() else []
    lines = [("**Repeated from a fresh clone** (`python -m fer_edu reproduce NAME --seed S`); a CPU's name and "
              "precision are given where the repetition recorded them:\n"),
             "| run | scale | seed | committed on | repeated on | committed PrivateTest (commit) | repeated (commit) | same |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| `{r['name']}` | {r['scale']} | {r['seed']} | {_machine_text(r, 'committed')} | "
              f"{_machine_text(r, 'repeated')} | {_percent_commit(r['committed'])} | "
              f"{_percent_commit(r['repeated'])} | {'yes' if r['same'] else 'no'} |" for r in repeated]
    parts.append("\n".join(lines) if repeated else f"**Repeated from a fresh clone**: {NOT_YET_RUN}.")
    cross = []
    for scale in REPORTED_SCALES:
        by_kind: dict[str, dict] = {"cpu": {}, "cuda": {}}
        for path in sorted(((root or RESULTS_DIR) / scale).glob("*.json")):
            result = json.loads(path.read_text())
            training = SAME_TRAINING.get(path.stem, path.stem)
            for r in result.get("runs", []):
                if r.get("device_kind") in by_kind:
                    by_kind[r["device_kind"]].setdefault((training, r["seed"]), (path.stem, r))
        for (training, seed), (cpu_name, c) in sorted(by_kind["cpu"].items()):
            if (training, seed) in by_kind["cuda"]:
                gpu_name, g = by_kind["cuda"][(training, seed)]
                cross.append(f"| `{cpu_name}` / `{gpu_name}` | {scale} | {seed} | {_percent_commit(c)} | "
                             f"{_percent_commit(g)} | {100 * (g['private_accuracy'] - c['private_accuracy']):+.2f} |")
    if cross:
        parts.append("\n".join([("**The same training on a CPU and on a GPU** (another order of floating-point "
                                 "operations, other kernels):\n"),
                                ("| run (CPU / GPU) | scale | seed | CPU PrivateTest (commit) | GPU PrivateTest (commit) | "
                                 "GPU - CPU (points) |"), "|---|---|---|---|---|---|", *cross]))
    return "\n\n".join(parts)


#: page -> {table name: the function that writes it}
BOOK_TABLES = {"book/intro.md": {"chapter-times": chapter_times_markdown},
               "book/setup.md": {"scale-costs": cost_table_markdown},
               "book/reproducibility.md": {"leak": leak_table_markdown, "reproductions": reproduction_table_markdown}}


def replace_between_markers(text: str, name: str, body: str) -> str:
    """``text`` with what lies between ``<!-- begin NAME ... -->`` and ``<!-- end NAME -->`` replaced by ``body``."""
    import re

    pattern = re.compile(rf"(<!-- begin {re.escape(name)}\b[^>]*-->\n)(?:.*?\n)??(<!-- end {re.escape(name)} -->)",
                         re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"no <!-- begin {name} --> ... <!-- end {name} --> markers")
    return pattern.sub(lambda m: m.group(1) + "\n" + body.strip("\n") + "\n\n" + m.group(2), text, count=1)


def book_tables(repo: Path = REPO) -> dict[Path, str]:
    """Every page with generated tables, as it should read now."""
    out = {}
    for page, tables in BOOK_TABLES.items():
        text = (repo / page).read_text()
        for name, make in tables.items():
            text = replace_between_markers(text, name, make())
        out[repo / page] = text
    return out


def write_book_tables(repo: Path = REPO) -> list[Path]:
    """Rewrite the generated tables in the book's pages; returns the pages that changed."""
    changed = []
    for page, text in book_tables(repo).items():
        if page.read_text() != text:
            page.write_text(text)
            changed.append(page)
    return changed


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


# --------------------------------------------------------------------------- ensembles


def shift_choice(name: str, scale: str = "laptop", root: Path | None = None) -> dict | None:
    """Whether test-time shifts join the recipe, by the search's own rule (:func:`recipe_choice`): the
    shift best on seed 0's **PublicTest** joins only if it beats the recipe as recorded by
    ``SEARCH_MARGIN``. None until ``python -m fer_edu test-shifts NAME`` has measured them."""
    from .experiments import SEARCH_MARGIN

    measured = load_result(f"{name}_test_shifts", scale, root)
    if measured is None:
        return None
    seed0 = next((r for r in measured["seeds"] if r["seed"] == 0), None)
    if seed0 is None:
        return None
    gains = {int(px): acc - seed0["public_accuracy"] for px, acc in seed0["public_accuracy_by_shift"].items()}
    pixels = max(gains, key=lambda px: (gains[px], -px))  # ties: the smaller shift
    return {"pixels": pixels, "gain": gains[pixels], "joins": gains[pixels] >= SEARCH_MARGIN,
            "mean_gains": {px: float(np.mean([r["public_accuracy_by_shift"][str(px)] - r["public_accuracy"]
                                              for r in measured["seeds"]])) for px in gains}}


def student_choice(scale: str = "laptop", root: Path | None = None, seeds: tuple[int, ...] = (0, 1, 2),
                   first_round: bool = False) -> dict:
    """Which distilled student the course reports: of ``student``, its further attempts
    (``experiments.STUDENT_ATTEMPTS``) and, once defined, the student of the network
    :func:`best_choice` picked (``experiments.chosen_students``), the one with the best mean
    **PublicTest** accuracy over ``seeds`` (a tie keeps the earlier declared). The choice waits until
    every attempt has all of ``seeds`` on the CPU, so that no attempt is chosen before the others are
    measured. ``first_round`` keeps to the first three, declared together (the choice before the
    picked network's student existed).

    Returns ``{"attempts": {name: {"seeds", "public", "private", "train", "teacher"}}, "pending": [names],
    "chosen": name or None}``; the means are fractions, None for an attempt with no seed yet;
    ``teacher`` is the ensemble the attempt distils from (``<name>_ensemble``).
    """
    from .experiments import STUDENT_ATTEMPTS

    students = {x.name: x for x in derived_experiments(scale, root) if x.config(scale).distill_from}
    names = ["student", *STUDENT_ATTEMPTS] + ([] if first_round else
                                              [n for n in students if n not in ("student", *STUDENT_ATTEMPTS)])
    attempts, pending = {}, []
    for name in names:
        runs = [r for r in device_runs(load_result(name, scale, root), "cpu") if r["seed"] in seeds]
        means = {key: float(np.mean([r[f"{key}_accuracy"] for r in runs])) if runs else None
                 for key in ("public", "private", "train")}
        teacher = students[name].config(scale).distill_from if name in students else "best45"
        attempts[name] = {"seeds": sorted(r["seed"] for r in runs), **means, "teacher": f"{teacher}_ensemble"}
        if len(runs) < len(seeds):
            pending.append(name)
    chosen = None if pending else max(attempts, key=lambda n: attempts[n]["public"])  # max keeps the first of a tie
    return {"attempts": attempts, "pending": pending, "chosen": chosen}


def without_teacher(student: str, scale: str = "laptop", root: Path | None = None) -> str | None:
    """The run that trains exactly as ``student`` does but on the labels alone (its network, recipe,
    augmentation and epochs; no teacher), which measures what the teacher buys; None if none is declared."""
    known = {x.name: x for x in derived_experiments(scale, root)}
    # The distill_* settings make a student, as in experiments.STUDENT_ALONE; reset, they train on the labels.
    defaults = {f.name: f.default for f in fields(TrainConfig) if f.name.startswith("distill_")}
    alone = replace(known[student].config(scale), **defaults)
    return next((name for name, x in known.items() if name != student and x.config(scale) == alone), None)


def distillation_pair(reported: str, scale: str = "laptop", root: Path | None = None,
                      seeds: tuple[int, ...] = (0, 1, 2)) -> tuple[str, str] | None:
    """The student and its twin without a teacher (:func:`without_teacher`) whose difference measures what
    the teacher buys: ``reported`` and its twin once both have all of ``seeds`` on the CPU, else the
    student with the best mean PublicTest among those that do (so that a twin still training never shows
    a partial number); None if no student has a complete twin."""
    def complete(name: str | None) -> bool:
        return name is not None and set(seeds) <= {r["seed"] for r in device_runs(load_result(name, scale, root), "cpu")}

    attempts = student_choice(scale, root, seeds)["attempts"]
    twins = {name: without_teacher(name, scale, root) for name in attempts}
    # student_choice has counted each attempt's seeds already; only the twins need reading.
    ready = [name for name, a in attempts.items() if set(a["seeds"]) == set(seeds) and complete(twins[name])]
    if reported in ready:
        return reported, twins[reported]
    if not ready:
        return None
    best = max(ready, key=lambda name: attempts[name]["public"])  # max keeps the first of a tie
    return best, twins[best]


def best_choice(scale: str = "laptop", root: Path | None = None) -> dict:
    """Which network the course reports as its best single network within 45 minutes: of ``best45`` and
    its further attempts (``experiments.BEST_ATTEMPTS``), the one with the best **PublicTest** accuracy
    at seed 0 (a tie keeps the earlier declared, best45 first). The choice waits until each has seed 0
    on the CPU, so that no attempt is chosen before the others are measured.

    Returns ``{"attempts": {name: {"public", "private", "train", "epochs", "minutes"} or None},
    "pending": [names], "chosen": name or None}`` (accuracies as fractions, for seed 0; "train" is None
    for a run that did not record it).
    """
    attempts, pending = {}, []
    for name in ("best45", *BEST_ATTEMPTS):
        result = load_result(name, scale, root)
        run = next((r for r in device_runs(result, "cpu") if r["seed"] == 0), None)
        if run is None:
            attempts[name] = None
            pending.append(name)
            continue
        attempts[name] = {"public": run["public_accuracy"], "private": run["private_accuracy"],
                          "train": run.get("train_accuracy"), "epochs": result["config"]["epochs"],
                          "minutes": run["wall_time_s"] / 60}
    chosen = None if pending else max(attempts, key=lambda n: attempts[n]["public"])  # max keeps the first of a tie
    return {"attempts": attempts, "pending": pending, "chosen": chosen}


def ensemble(name: str, scale: str, public_labels: np.ndarray, private_labels: np.ndarray,
             root: Path | None = None, device: str = "cpu") -> dict:
    """Average the class probabilities of the first k seeds of ``name``, k = 1 ... n; choose k on PublicTest.

    The members are the runs that kept their probabilities (``keep_probabilities``), in seed
    order. PrivateTest is reported for the k chosen on PublicTest; the accuracies for every k are
    returned for the figure, never to choose.
    """
    from .metrics import decode_probabilities

    result = load_result(name, scale, root)
    members = [r for r in device_runs(result, device) if "probabilities" in r["private"]]
    if not members:
        raise ValueError(f"{name} at scale {scale} has no runs with stored probabilities to ensemble")
    public = [decode_probabilities(r["public_probabilities"]) for r in members]
    private = [decode_probabilities(r["private"]["probabilities"]) for r in members]
    if len(public[0]) != len(public_labels) or len(private[0]) != len(private_labels):
        raise ValueError("the labels given are not the splits these runs were tested on")
    public_acc, private_acc = [], []
    for k in range(1, len(members) + 1):
        public_acc.append(float((np.mean(public[:k], 0).argmax(1) == public_labels).mean()))
        private_acc.append(float((np.mean(private[:k], 0).argmax(1) == private_labels).mean()))
    k = int(np.argmax(public_acc)) + 1  # ties keep the smaller ensemble
    return {"name": f"{name}_ensemble", "members": name, "scale": scale,
            "seeds": [r["seed"] for r in members], "chosen_k": k,
            "public_accuracy_by_k": public_acc, "private_accuracy_by_k": private_acc,
            "private_accuracy": private_acc[k - 1],
            "single_private_accuracies": [r["private_accuracy"] for r in members]}
