"""What the book shows of ``results/``: the sentences its prose glues and its tables and figures' data,
read from the results files, never typed."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .choices import known_experiments
from .experiments import DEMO_FACE_MS, REPORTED_SCALES, Experiment, seeds_for
from .results import (
    SAME_TRAINING,
    device_runs,
    is_stale,
    load_result,
    over_budget,
    results_dir,
    summarize,
    trainings_of,
)

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


def seeds_text(seeds: list[int]) -> str:
    return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(str(s) for s in seeds)}"


def private_mean(name: str, scale: str = "laptop", root: Path | None = None,
                 device: str | None = None) -> float | None:
    """A name's mean PrivateTest accuracy (a fraction) on the device :func:`result_device` picks, or
    None before it is run there: the number behind :func:`accuracy_text`, for sentences that compute."""
    result = load_result(name, scale, root)
    kind = result_device(result, device)
    return None if kind is None else result["summary"][kind]["private_mean"]


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
    return f"{100 * s['private_mean']:.1f} %{spread} ({seeds_text(s['seeds'])}{where})"


def verdict(ms: float, budget_ms: float) -> str:
    """``"within"`` a budget in milliseconds (at it counts as within) or ``"over"`` it."""
    return "within" if ms <= budget_ms else "over"


def face_time_verdict(bench: dict) -> str:
    """``"within"`` or ``"over"``: a demo measurement's model time a face (its median on one thread)
    against the demo's budget, :data:`~fer_edu.experiments.DEMO_FACE_MS`."""
    return verdict(bench["model_median_ms"], DEMO_FACE_MS)


def face_times_text(benches: list[dict]) -> str:
    """Demo measurements' model time a face against :data:`~fer_edu.experiments.DEMO_FACE_MS`, e.g.
    ``"2.4 ms a face on the Intel Xeon, native bf16 (AMX), within the 4 ms, and 4.3 ms on the AMD EPYC,
    native bf16 (AVX-512 BF16), over it"``; "" for none."""
    return ", and ".join(f"{b['model_median_ms']:.1f} ms{' a face' if i == 0 else ''} on the "
                         f"{machine_label(b, threads=False)}, {face_time_verdict(b)} "
                         + (f"the {DEMO_FACE_MS:g} ms" if i == 0 else "it")
                         for i, b in enumerate(benches))


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


def mean_recall(name: str, scale: str = "laptop", root: Path | None = None, device: str = "cpu") -> np.ndarray | None:
    """A name's PrivateTest recall per class (canonical order), mean over its seeds on ``device``; None
    before it is run there."""
    runs = device_runs(load_result(name, scale, root), device)
    return np.mean([r["private"]["recall"] for r in runs], axis=0) if runs else None


def per_class_recall(names: list[str], scale: str = "laptop", root: Path | None = None, device: str = "cpu"):
    """PrivateTest recall per class (mean over seeds), one column per experiment that has results.

    The header names the scale, so that a table never shows a number without it.
    """
    import pandas as pd

    from .data import CLASSES

    recalls = {name: mean_recall(name, scale, root, device) for name in names}
    table = pd.DataFrame({name: [f"{100 * v:.1f} %" for v in recall] for name, recall in recalls.items()
                          if recall is not None}, index=list(CLASSES))
    table.columns.name = f"PrivateTest recall, {scale} scale, mean over seeds"
    return table


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
    return {"class": CLASSES[top], "predicted_share": share,
            "true_share": float(confusion[top].sum() / confusion.sum()),
            "private_mean": float(np.mean([r["private_accuracy"] for r in runs])), "seeds": [r["seed"] for r in runs],
            "selected_epochs": [r["selected_epoch"] for r in runs]}


#: A run ended with the machine busy with other work when its 5-minute load average exceeds this:
#: the run's own two threads keep it near 2 on the 2-core machine.
SHARED_LOAD = 2.5


def cost_points(scale: str = "laptop", root: Path | None = None, device: str = "cpu") -> list[dict]:
    """Each trained name's mean PrivateTest accuracy against the minutes one run of it costs.

    The cost is the wall time of the name's fastest seed, the run least slowed by other work;
    ``shared`` says that even that run ended with the machine busy (``SHARED_LOAD``), so its time
    overstates the cost. Names that repeat another's training (``SAME_TRAINING``) are left out. An
    ensemble (``<name>_ensemble``) of k members costs k trainings of its fastest member: priced as its
    single networks are, not at the members' recorded minutes, which vary with the machines they ran on.
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
            quickest = min(members, key=lambda r: r["wall_time_s"])
            points.append({"name": ens["name"], "group": exp.group,
                           "minutes": len(members) * quickest["wall_time_s"] / 60,
                           "accuracy": ens["private_accuracy"], "runs": len(members),
                           "shared": busy(quickest)})
    return points


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
        return ", ".join(f"{median_epoch_seconds(r):.0f} s" + (" without native bf16" if r.get("bf16") is False else "")
                         for r in rs)

    minutes = ", ".join(f"{r['wall_time_s'] / 60:.1f}" for r in over)
    text = (f"{seeds_text(late).capitalize()} took {minutes} minutes, over the {exp.budget_min}-minute budget: "
            f"trained to the end with `run --ignore-budget` on a slower machine (a median epoch of {pace(over)}")
    if within:
        text += f", against {pace(within)} for {seeds_text([r['seed'] for r in within])}, which kept to it"
    text += (f"). The {exp.config(scale).epochs} epochs are fixed, so the machine's pace changed the minutes, "
             "not what was trained")
    # A CPU without native bfloat16 trains in fp32: the same recipe, other arithmetic.
    fp32 = [r["seed"] for r in runs if r.get("bf16") is False]
    if fp32 and len(fp32) < len(runs):
        text += (f"; {seeds_text(fp32)} computed in fp32 instead of bfloat16, which changes the arithmetic, "
                 "not the recipe")
    return text + "."


def summary_rows(root: Path | None = None) -> list[dict]:
    """One row per committed result and device kind, plus a row per name defined now without one."""
    from .experiments import ALL_GROUPS

    root = results_dir(root)
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
                status = "stale" if stale else (f"{seeds_text(missing)} owed" if missing else "ok")
                rows.append({
                    "name": exp.name, "scale": scale, "device": kind, "seeds": s["seeds"],
                    "private_mean": s["private_mean"], "private_std": s["private_std"],
                    "selected_epochs": [r["selected_epoch"] for r in runs],
                    "train_accuracy": float(np.mean([r["train_accuracy"] for r in runs])),
                    "wall_time_s": float(np.mean([r["wall_time_s"] for r in runs])),
                    "concurrent_runs": max(r.get("concurrent_runs", 1) for r in runs),
                    "status": status + (f"; {seeds_text(late)} over the {exp.budget_min}-min budget" if late else ""),
                })
    return rows


def summary_table(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    head = ("| name | scale | device | seeds | PrivateTest, mean ± sd | chosen epochs | train acc | wall time | "
            "status |\n"
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
    """One row per committed ensemble (``<name>_ensemble.json``): its members, k chosen on PublicTest,
    both accuracies."""
    root = results_dir(root)
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
            "PrivateTest at the paper's epoch (leak, points)":
                f"{100 * s['paper_private']:.2f} % ({s['paper_private_leak_points']:+.2f})",
            "PrivateTest, epoch chosen on PrivateTest": f"{100 * s['private_peak']:.2f} % (epoch {s['peak_epoch']})"}


def leak_overview(root: Path | None = None) -> list[dict]:
    """Each leak as one row of means (chapter 9): the epoch chosen on the test data (the paper's code),
    the epoch chosen on PrivateTest, at each scale of ``final_leak``, and training on Training's copies
    of test images at each scale, with the smaller set and at an equal number of images
    (:func:`copies_comparison`)."""
    rows = []
    for scale in REPORTED_SCALES:
        leaks = leak_summaries(scale, root)
        if not leaks:
            rows.append({"leak": "epoch chosen on the test data", "scale, seeds": f"{scale}: {NOT_YET_RUN}"})
            continue
        where = f"{scale}, {seeds_text([s['seed'] for s in leaks])}"
        for what, honest, leaky in ((("epoch chosen on PublicTest + PrivateTest (the paper's code), "
                                      "pooled test accuracy"), "honest_pooled", "paper_protocol"),
                                    (("epoch chosen on PublicTest + PrivateTest (the paper's code), "
                                      "PrivateTest accuracy"), "honest", "paper_private"),
                                    ("epoch chosen on PrivateTest, PrivateTest accuracy", "honest", "private_peak")):
            rows.append(_overview_row(what, where, np.mean([s[honest] for s in leaks]),
                                      np.mean([s[leaky] for s in leaks])))
    copies = {"copies and size": "trained on Training's copies of test images",
              "copies alone": "trained on Training's copies of test images, as many images"}
    for what, leak in copies.items():
        for scale in REPORTED_SCALES:
            pair = copies_comparison(scale, root, what)
            reference, other = (pair["reference"], pair["other"]) if pair else COPIES_COMPARISONS[what]
            label = f"{leak} ({reference} against {other})"
            rows.append({"leak": label, "scale, seeds": f"{scale}: {NOT_YET_RUN}"} if pair is None else
                        _overview_row(label, f"{scale}, {seeds_text(pair['seeds'])}", pair["other_accuracy"],
                                      pair["reference_accuracy"]))
    return rows


def _overview_row(leak: str, where: str, honest: float, leaky: float) -> dict:
    """One row of :func:`leak_overview`: the accuracy without and with a leak, and their difference."""
    return {"leak": leak, "scale, seeds": where, "honest (epoch chosen on PublicTest)": f"{100 * honest:.2f} %",
            "with the leak": f"{100 * leaky:.2f} %", "difference (points)": f"{100 * (leaky - honest):+.2f}"}


#: The copies' comparisons (chapter 10): what is set against final_dedup or final_drop_random, and what the
#: difference measures. "final" stands for any training exactly like it (trainings_of).
COPIES_COMPARISONS = {
    "copies and size": ("final", "final_dedup"),
    "copies alone": ("final_drop_random", "final_dedup"),
    "size alone": ("final", "final_drop_random"),
}


def copies_comparison(scale: str, root: Path | None = None, what: str = "copies and size") -> dict | None:
    """Two trainings of the final model on different Training sets, CPU runs, over the seeds both have:
    ``{"reference", "other", "seeds", "reference_accuracy", "other_accuracy", "se"}`` (their mean
    PrivateTest accuracies, and the standard error of their difference from the seeds' spread), None before a
    seed of both exists. ``what`` (:data:`COPIES_COMPARISONS`): ``final`` against ``final_dedup`` (all of
    Training against Training without the copies of test images), ``final_drop_random`` against
    ``final_dedup`` (as many images, with the copies against without), or ``final`` against
    ``final_drop_random`` (as many random images fewer, the copies kept in both).

    ``final`` stands for a run that trains exactly as it does (``final_leak``, which only evaluates more;
    :func:`~fer_edu.results.trainings_of`) where ``final`` has no CPU run of those seeds.

    ``se`` is the seed-to-seed standard deviation of one run, pooled over all CPU seeds of both trainings
    (each about its own mean), times sqrt(2/n) for two means of n seeds: the noise of a difference between
    independently seeded runs. It is None while neither training has two seeds."""
    reference_name, other = COPIES_COMPARISONS[what]
    others = {r["seed"]: r["private_accuracy"] for r in device_runs(load_result(other, scale, root), "cpu")}
    for reference in trainings_of(reference_name):
        references = {r["seed"]: r["private_accuracy"]
                      for r in device_runs(load_result(reference, scale, root), "cpu")}
        if seeds := sorted(set(references) & set(others)):
            return {"reference": reference, "other": other, "seeds": seeds,
                    "reference_accuracy": float(np.mean([references[s] for s in seeds])),
                    "other_accuracy": float(np.mean([others[s] for s in seeds])),
                    "se": _difference_se([list(references.values()), list(others.values())], len(seeds))}
    return None


def _difference_se(groups: list[list[float]], n: int) -> float | None:
    """Pooled within-group standard deviation times sqrt(2/n); None without a degree of freedom."""
    squares = sum(float(np.sum((np.asarray(g) - np.mean(g)) ** 2)) for g in groups)
    dof = sum(len(g) - 1 for g in groups)
    return None if dof == 0 else float(np.sqrt(squares / dof) * np.sqrt(2 / n))


def same_epoch_text(root: Path | None = None) -> str:
    """How often the paper's protocol chose the honest epoch, per scale of ``final_leak`` (chapter 9)."""
    counts = {scale: (sum(s["paper_epoch"] == s["honest_epoch"] for s in leaks), len(leaks))
              for scale in REPORTED_SCALES if (leaks := leak_summaries(scale, root))}
    return "; ".join(f"{same} of {n} seed{'s' if n > 1 else ''} at {scale} scale"
                     for scale, (same, n) in counts.items()) or NOT_YET_RUN
