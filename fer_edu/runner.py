"""Running named experiments: data checks, checkpoints under runs/, results under results/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from . import results as results_module
from .choices import experiments_for
from .data import BANNER, FERData, load_dataset, load_fer2013
from .experiments import SCALES, Experiment, prepare_data, seeds_for
from .results import FULL_SPLITS, git_commit, owed, record_run
from .train import OverBudget, Runtime, check_pace, progress_bar, train
from .weights import load_file_state, save_weights


def check_data_for_scale(data: FERData, scale: str) -> None:
    """Laptop and paper results must come from the complete FER-2013, never the synthetic faces."""
    if SCALES[scale].meaningless:
        return
    if data.synthetic:
        raise ValueError(f"--scale {scale} trains reference results on FER-2013 only, not on the synthetic "
                         "faces: set FER_EDU_DATA (or use --scale smoke)")
    counts = data.split_counts()
    if {k: counts.get(k) for k in FULL_SPLITS} != FULL_SPLITS:
        raise ValueError(f"--scale {scale} needs the complete FER-2013 {FULL_SPLITS}, got {counts}")


def results_root(scale: str, reader: bool = False) -> Path:
    """Reference results go to results/; smoke runs and a reader's own runs never touch it."""
    if reader or SCALES[scale].meaningless:
        return results_module.RUNS_DIR / "results"
    return results_module.RESULTS_DIR


def run_experiments(experiments: list[Experiment], scale: str, *, seeds: list[int] | None = None,
                    owed_only: bool = False, data_path: str | None = None, device: str | None = None,
                    dry_run: bool = False, reader: bool = False, jobs: int = 1, ignore_budget: bool = False,
                    over_budget: set[tuple[str, int]] | None = None) -> list[Path] | None:
    """Train each (experiment, seed) in turn, resuming from checkpoints; returns the results files written.

    ``jobs`` > 1 trains that many runs at once, each in its own process (see :func:`run_in_parallel`).
    A run with a ``budget_min`` (CPU wall time) stops, checkpointed, once this machine is projected to
    take longer, unless ``ignore_budget``; it is added to ``over_budget`` and skipped while it is in it.
    """
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    kind = Runtime.auto(device).device.type
    commit = git_commit()
    root = results_root(scale, reader)
    if owed_only:
        queue = owed(experiments, scale, kind, root)
        if seeds is not None:
            queue = [(e, s) for e, s in queue if s in seeds]
    else:
        queue = [(e, s) for e in experiments for s in (seeds if seeds is not None else seeds_for(e))]
    over_budget = set() if over_budget is None else over_budget
    queue = [(e, s) for e, s in queue if (e.name, s) not in over_budget]
    print(f"{len(queue)} run(s) at scale {scale} on {kind}:")
    for exp, seed in queue:
        print(f"  {exp.name} seed {seed}")
    if dry_run or not queue:
        return []
    data = load_fer2013(data_path) if data_path else load_dataset()
    if data.synthetic:
        print(f"*** {BANNER} ***")
    if not reader:
        check_data_for_scale(data, scale)
    if jobs > 1:  # the data was loaded (and its cache written) once, before the children start
        return run_in_parallel(queue, scale, jobs, kind, commit=commit, data_path=data_path, device=device)
    data = prepare_data(data, scale)
    written = []
    for i, (exp, seed) in enumerate(queue, 1):
        cfg = exp.config(scale)
        ckpt = results_module.RUNS_DIR / "checkpoints" / scale / exp.name / f"seed{seed}-{kind}.pt"
        print(f"\n[{i}/{len(queue)}] {exp.name} seed {seed} ({exp.description}), scale {scale}", flush=True)
        started, resumed = time.perf_counter(), ckpt.exists()
        teacher = (teacher_probabilities(cfg.distill_from, cfg.distill_members, scale, data, device)
                   if cfg.distill_from else None)
        budget_s = 60 * exp.budget_min if exp.budget_min is not None and kind == "cpu" and not ignore_budget else None
        try:
            if budget_s is not None:
                check_pace(cfg, data, budget_s, ckpt, device)
            entry = train(cfg, data, seed, checkpoint=ckpt, device=device, keep_probabilities=exp.keep_probabilities,
                          teacher=teacher, budget_s=budget_s)
        except OverBudget as err:
            over_budget.add((exp.name, seed))
            kept = (f"Its checkpoint is kept ({ckpt}): a later `run` resumes it" if ckpt.exists()
                    else "Nothing was trained")
            print(f"stopped {exp.name} seed {seed}: {err}. {kept}; `run --ignore-budget` trains it to the end here "
                  "(its result is then flagged over budget)", flush=True)
            continue
        sharing = int(os.environ.get("FER_EDU_CONCURRENT_RUNS", "1"))
        if sharing > 1:  # its wall time is then not a run's alone: say so in the record
            entry["concurrent_runs"] = sharing
        path = record_run(exp, scale, cfg, data, entry, root, commit=commit)
        # The chosen weights stay on this machine (runs/ is git-ignored) for demos and explanations.
        save_weights(entry["model_state"], results_module.kept_weights_path(scale, exp.name, seed),
                     architecture=cfg.architecture, width=cfg.width, name=exp.name, scale=scale, seed=seed,
                     private_accuracy=entry["private_accuracy"], commit=commit)
        ckpt.unlink(missing_ok=True)
        # The recorded wall time is the one the book reports; a resumed run spent only part of it here.
        here = (f", {time.perf_counter() - started:.0f} s of it in this process, resumed from a checkpoint"
                if resumed else "")
        print(f"PrivateTest {entry['private_accuracy']:.2%} (epoch {entry['selected_epoch']} chosen on PublicTest), "
              f"wall time {entry['wall_time_s']:.0f} s{here} -> {_shown(path)}", flush=True)
        written.append(path)
    return written


def run_command(name: str, scale: str, seed: int, data_path: str | None = None, device: str | None = None) -> list[str]:
    """``python -m fer_edu run NAME --scale S --seeds N``: one run, for a process of its own."""
    return [sys.executable, "-m", "fer_edu", "run", name, "--scale", scale, "--seeds", str(seed),
            *(["--data", data_path] if data_path else []), *(["--device", device] if device else [])]


def run_in_parallel(queue: list[tuple[Experiment, int]], scale: str, jobs: int, kind: str, *, commit: str | None,
                    data_path: str | None = None, device: str | None = None) -> list[Path]:
    """Train the queue ``jobs`` runs at a time, each ``python -m fer_edu run NAME --seeds S`` in its own process.

    For a GPU, which one small run at batch 32 leaves mostly idle (its time goes on launching
    kernels); on a 2-core CPU it only slows every run down. Two seeds of one name never run at once,
    since they share a results file. Each child's output goes to ``runs/logs/``; its result records
    ``concurrent_runs``, because its wall time was shared. Raises RuntimeError if any run failed.
    """
    logs = results_module.RUNS_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "FER_EDU_RESULTS": str(results_module.RESULTS_DIR),
           "FER_EDU_RUNS": str(results_module.RUNS_DIR),
           "FER_EDU_CONCURRENT_RUNS": str(jobs), "FER_EDU_TEXT_PROGRESS": "1", "FER_EDU_SCALE": scale}
    if commit:
        env["FER_EDU_COMMIT"] = commit  # the queue's commit, as in the sequential loop
    pending, running, written, failed = list(queue), {}, [], []
    total, started_all = len(queue), time.perf_counter()
    while pending or running:
        busy = {exp.name for exp, *_ in running.values()}
        for item in list(pending):
            if len(running) >= jobs:
                break
            exp, seed = item
            if exp.name in busy:
                continue
            pending.remove(item)
            busy.add(exp.name)
            log = logs / f"{scale}-{exp.name}-seed{seed}.log"
            with open(log, "a") as out:
                proc = subprocess.Popen(run_command(exp.name, scale, seed, data_path, device), stdout=out,
                                        stderr=subprocess.STDOUT, env=env)
            running[proc] = (exp, seed, log, time.perf_counter())
            print(f"started {exp.name} seed {seed} (log {log})", flush=True)
        time.sleep(0.5)
        for proc in [p for p in running if p.poll() is not None]:
            exp, seed, log, t0 = running.pop(proc)
            minutes = (time.perf_counter() - t0) / 60
            done = total - len(pending) - len(running)
            if proc.returncode != 0:
                failed.append(f"{exp.name} seed {seed} (exit {proc.returncode}, see {log})")
                print(f"[{done}/{total}] FAILED {failed[-1]}", flush=True)
                continue
            root = results_root(scale)
            written.append(results_module.result_path(exp.name, scale, root))
            result = results_module.load_result(exp.name, scale, root)
            run = next((r for r in results_module.device_runs(result, kind) if r["seed"] == seed), {})
            print(f"[{done}/{total}] {exp.name} seed {seed}: "
                  f"PrivateTest {run.get('private_accuracy', float('nan')):.2%} in {minutes:.1f} min "
                  f"({(time.perf_counter() - started_all) / 60:.1f} min since the start)", flush=True)
    if failed:
        raise RuntimeError("failed runs: " + "; ".join(failed))
    return written


def reproduce(name: str, scale: str = "laptop", seed: int = 0, *, data_path: str | None = None,
              device: str | None = None) -> dict:
    """Train a committed run again, in its own process and scratch folders, and compare the accuracies.

    The repetition writes under ``runs/reproduce/`` (never over the committed result, never from
    its checkpoints); the comparison is added to ``results/reproductions.json``. On the same kind
    of machine (the same processor, or the same instructions, in the same precision) the two
    PrivateTest accuracies should be equal to the last digit; across kinds (bf16 against fp32, AMX
    against another CPU's bf16, CPU against GPU) they differ by tenths of a point.
    """
    kind = Runtime.auto(device).device.type
    committed = [r for r in results_module.device_runs(results_module.load_result(name, scale), kind)
                 if r["seed"] == seed]
    if not committed:
        raise ValueError(f"{name} seed {seed}: no committed {kind} run at scale {scale} to reproduce")
    scratch = results_module.RUNS_DIR / "reproduce"
    if scratch.exists():
        shutil.rmtree(scratch)  # a repetition starts from nothing, never from an earlier one's checkpoint
    # The other committed results come along (never the repeated name's own): a name chosen from
    # results (modern from the recipe search, tuned_* from the sweeps) is defined only beside them.
    (scratch / "results" / scale).mkdir(parents=True)
    for path in sorted((results_module.RESULTS_DIR / scale).glob("*.json")):
        if path.stem != name:
            shutil.copy(path, scratch / "results" / scale / path.name)
    env = {**os.environ, "FER_EDU_RUNS": str(scratch), "FER_EDU_RESULTS": str(scratch / "results")}
    env.pop("FER_EDU_COMMIT", None)
    if subprocess.run(run_command(name, scale, seed, data_path, device), env=env).returncode != 0:
        raise ValueError(f"the repetition of {name} seed {seed} failed: its output is above")
    again = next(r for r in results_module.device_runs(results_module.load_result(name, scale, scratch / "results"),
                                                       kind)
                 if r["seed"] == seed)
    keep = ("private_accuracy", "public_accuracy", "selected_epoch", "commit", "device", "bf16", "isa", "wall_time_s")
    entry = {"name": name, "scale": scale, "seed": seed, "device_kind": kind,
             "committed": {k: committed[0].get(k) for k in keep}, "repeated": {k: again.get(k) for k in keep},
             "same": again["private_accuracy"] == committed[0]["private_accuracy"]}
    results_module.record_reproduction(entry)
    return entry


def _shown(path: Path) -> str:
    """A path as a reader wants it printed: relative to the repository when inside it (no machine's folders)."""
    try:
        return str(Path(path).resolve().relative_to(results_module.REPO))
    except ValueError:
        return str(path)


def teacher_probabilities(name: str, members: int, scale: str, data: FERData,
                          device: str | None = None) -> torch.Tensor:
    """A distilling student's soft targets: the class probabilities of the first ``members`` seeds of
    ``name`` on every Training image of ``data``, averaged.

    Each member predicts as it was evaluated (with test-time flip where its recipe had it). The
    members' results store these probabilities (``keep_probabilities``), so a fresh clone distils
    from the committed files; without them (another data set, an older result) they are computed
    from the members' kept weights (``runs/models``) and cached under ``runs/teachers/``.
    """
    from .data import split_tensors
    from .evaluation import predict
    from .metrics import decode_probabilities
    from .weights import load_model

    (exp,) = experiments_for([name], scale, results_root(scale))
    seeds = sorted(seeds_for(exp))[:members]
    if len(seeds) < members:
        raise ValueError(f"{name} has only {len(seeds)} seeds, not {members} ensemble members")
    kind = Runtime.auto(device).device.type
    n_train = int((data.splits == "Training").sum())
    result = results_module.load_result(name, scale, results_root(scale))
    if result is not None and result["data"] == results_module.data_record(data):  # the same images, in order
        stored = {r["seed"]: r["train_probabilities"] for r in results_module.device_runs(result, kind)
                  if "train_probabilities" in r}
        if all(s in stored for s in seeds):
            probs = [torch.from_numpy(decode_probabilities(stored[s])) for s in seeds]
            if all(len(p) == n_train for p in probs):
                return torch.stack(probs).mean(0)
    paths = [results_module.kept_weights_path(scale, name, seed) for seed in seeds]
    for seed, path in zip(seeds, paths):
        if not path.exists():
            raise FileNotFoundError(f"teacher member {path} is missing: run `python -m fer_edu run {name} "
                                    f"--scale {scale} --seeds {seed}` on this machine first")
    # Keyed by the data and by the members' files as they are now: retrained members, new targets.
    stamp = max(int(p.stat().st_mtime) for p in paths)
    key = f"{name}-k{members}-{(data.info.get('sha256') or 'synthetic')[:16]}-{len(data)}-{stamp}"
    cache = results_module.RUNS_DIR / "teachers" / scale / f"{key}.pt"
    if cache.exists():
        return torch.load(cache, weights_only=True)
    rt = Runtime.auto(device)
    x_train, _ = split_tensors(data, "Training", rt.device)
    probs = []
    for path in paths:
        model, _ = load_model(path, rt.device.type)
        probs.append(predict(model, x_train, rt, tta_flip=exp.config(scale).tta_flip))
    teacher = torch.stack(probs).mean(0)
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save(teacher, cache)
    return teacher


def measure_test_shifts(name: str, scale: str, shifts: list[int], data: FERData, device: str | None = None,
                        root: Path | None = None) -> dict:
    """Test-time shifts measured after training, on **PublicTest** only: each seed of ``name`` whose
    weights this machine kept, evaluated as recorded and with :func:`fer_edu.evaluation.predict`'s
    ``tta_shift`` of each pixel count in ``shifts``.

    The recorded PublicTest accuracy is recomputed first: kept weights that do not reproduce it are
    not the recorded run's, and the measurement stops.
    """
    from .data import split_tensors
    from .evaluation import predict
    from .weights import load_model

    root = root or results_root(scale)
    (exp,) = experiments_for([name], scale, root)
    result = results_module.load_result(name, scale, root)
    runs = results_module.device_runs(result, "cpu")
    if not runs:
        raise ValueError(f"{name} has no CPU runs at scale {scale}: run it first")
    if result["data"] != results_module.data_record(data):
        raise ValueError(f"{name} was tested on other images than these: pass the data it was trained on")
    rt = Runtime.auto(device)
    x, y = split_tensors(data, "PublicTest", rt.device)
    flip = exp.config(scale).tta_flip
    measured = []
    for run in progress_bar(runs, desc=f"{name}: test-time shifts"):
        path = results_module.kept_weights_path(scale, name, run["seed"])
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: the shifts need the weights of every recorded seed of {name}")
        model, _ = load_model(path, rt.device.type)

        def accuracy(pixels: int) -> float:
            return int((predict(model, x, rt, tta_flip=flip, tta_shift=pixels).argmax(1) == y.cpu()).sum()) / len(y)

        recorded = accuracy(0)
        if round(recorded * len(y)) != round(run["public_accuracy"] * len(y)):  # compare image counts, not floats
            raise ValueError(f"{path} gives PublicTest {recorded:.4%}, not the recorded {run['public_accuracy']:.4%}: "
                             "these are not the recorded run's weights")
        measured.append({"seed": run["seed"], "public_accuracy": recorded,
                         "public_accuracy_by_shift": {str(px): accuracy(px) for px in shifts}, "commit": git_commit()})
    return {"name": f"{name}_test_shifts", "members": name, "scale": scale, "data": results_module.data_record(data),
            "tta_flip": flip, "shifts": list(shifts), "device": rt.describe()["device"], "seeds": measured}


def train_yourself(name: str, scale: str | None = None, seed: int = 0) -> dict:
    """A reader's own run of a named experiment (the notebooks' "train it yourself" cells).

    Trains at ``scale`` (default: ``$FER_EDU_SCALE``, else paper with a GPU, laptop without) on
    FER-2013 if it is found, else on the synthetic faces, and writes under ``runs/`` only, so a
    reader's run never replaces a committed result. Returns the results dict.
    """
    import json

    from .experiments import REGISTRY, SMOKE_NOTICE, default_scale

    scale = scale or default_scale()
    if SCALES[scale].meaningless:
        print(f"*** {SMOKE_NOTICE} ***")
    (path,) = run_experiments([REGISTRY[name]], scale, seeds=[seed], reader=True)
    return json.loads(path.read_text())


DEMO_WEIGHTS = results_module.RESULTS_DIR / "models" / "demo.safetensors"


def export_demo_model(scale: str = "laptop", budget_mb: float = 3.0, out: Path | None = None,
                      root: Path | None = None) -> dict:
    """Commit-ready demo weights: of the runs whose chosen weights this machine kept (``runs/models``),
    the best on **PublicTest** (never PrivateTest) that fits ``budget_mb`` in float16.

    It replaces the demo file at ``out`` (default ``results/models/demo.safetensors``) only if it is
    more accurate on PublicTest than the model that file holds: a machine that kept fewer runs'
    weights must not swap a better demo for a worse one. Writes the run's name, seed, PublicTest and
    PrivateTest accuracy, the candidates and the model it replaced; returns that metadata, with
    ``kept`` true (and the file untouched) when the model in place stays.
    """
    from .weights import read_metadata

    root = results_module.results_dir(root)
    out = out or DEMO_WEIGHTS
    candidates = []
    for path in sorted((root / scale).glob("*.json")):
        result = results_module.load_result(path.stem, scale, root)
        if not result or "runs" not in result or "config" not in result:
            continue
        for run in results_module.device_runs(result, "cpu"):
            weights = results_module.kept_weights_path(scale, result["name"], run["seed"])
            if weights.exists() and 2 * run["parameters"] / 1e6 <= budget_mb:
                candidates.append((run["public_accuracy"], -run["parameters"], result, run, weights))
    if not candidates:
        raise ValueError(f"no {scale}-scale run with kept weights fits {budget_mb} MB: train one first")
    # Best PublicTest; ties go to the smaller network.
    public, _, result, run, weights = max(candidates, key=lambda c: (c[0], c[1]))
    names = sorted(f"{c[2]['name']}/seed{c[3]['seed']}" for c in candidates)
    previous = read_metadata(out) if Path(out).exists() else None
    if previous and previous.get("public_accuracy") is not None and previous["public_accuracy"] >= public:
        return {**previous, "kept": True, "best_candidate": f"{result['name']}/seed{run['seed']}",
                "best_candidate_public_accuracy": public, "candidates": names}
    cfg = result["config"]
    meta = {"name": result["name"], "scale": scale, "seed": run["seed"], "public_accuracy": public,
            "tta_flip": bool(cfg.get("tta_flip", False)),
            "private_accuracy": run["private_accuracy"], "commit": run["commit"],
            "note": f"the demo model: best PublicTest accuracy of the {len(candidates)} {scale}-scale runs whose "
                    f"weights were kept (fit {budget_mb:g} MB in float16); weights stored in float16",
            "candidates": names}
    if previous:
        meta["replaces"] = {k: previous.get(k)
                            for k in ("name", "scale", "seed", "public_accuracy", "private_accuracy")}
    save_weights(load_file_state(weights), out, architecture=cfg["architecture"], width=cfg["width"],
                 dtype=torch.float16, **meta)
    return {**meta, "kept": False}
