"""Every choice the course makes from its results, on PublicTest only.

Each tuned optimizer's learning rate (its sweep), the recipe (the search), the best single network
within 45 minutes, the size of its ensemble, whether test-time shifts join, the distilled student the
book reports: each rule reads PublicTest accuracies, never PrivateTest, and waits until every
candidate it compares is measured. The names these choices define (``tuned_*``, ``modern``,
``best45``, the ablation, the students) exist only once their choice is made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

from .experiments import BEST_ATTEMPTS, LONGER_STUDENT_EPOCHS, Experiment
from .results import device_runs, is_stale, load_result
from .train import TrainConfig

SWEEP_BASES = {"sgd": "opt_sgd", "sgd_momentum": "t1_sgd_momentum", "adam": "opt_adam", "adamw": "final"}


SWEEP_MULTIPLIERS = (0.25, 0.5, 1.0, 2.0, 4.0)

#: the device kinds whose trials a choice may read, in order: the CPU's (the course's reference
#: machine) where they are complete, else a GPU's, since a paper-scale sweep or search may have run
#: on a lent GPU only. Trials split across kinds never decide.
DEVICE_ORDER = ("cpu", "cuda")


def deciding_device(choose: Callable[..., dict | None], *args) -> tuple[str, dict | None]:
    """Which device kind's trials decide ``choose(*args, device=...)``, and their choice.

    The first kind of DEVICE_ORDER whose trials are all measured; the CPU, with no choice, while none is.
    """
    for device in DEVICE_ORDER:
        choice = choose(*args, device=device)
        if choice is not None:
            return device, choice
    return DEVICE_ORDER[0], None


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
    """``tuned_<optimizer>``: each optimizer at its PublicTest-chosen learning rate, seeds 0-2
    (once its sweep is done)."""
    from .experiments import REGISTRY

    out = []
    for label, base in SWEEP_BASES.items():
        _, choice = deciding_device(sweep_choice, label, scale, root)
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
    PublicTest-chosen k) once that ensemble is recorded; none before. At paper scale only those whose
    configuration differs from their laptop one: ``modern`` and the ablation."""
    from .experiments import chosen_students, recipe_experiments, student_experiments

    _, choice = deciding_device(recipe_choice, scale, root)
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
    if scale == "paper":
        # best45 and the students set their own width, epochs and batch, and budgets in laptop minutes: the
        # same runs at both scales, trained and reported once, at laptop scale
        out = [x for x in out if x.config(scale) != x.config("laptop")]
    return out


#: names defined only once results exist, and what they wait for
WAITING = {"modern": "the recipe search (search_*, seed 0)", "best45": "the recipe search (search_*, seed 0)",
           **{name: "the best45 ensemble (run best45, then `python -m fer_edu ensemble best45`)"
              for name in ("student", "student_t1", "student_w0.3")},
           **{student.format(name.removeprefix("best45_")):
              f"{name}'s ensemble, and exists only if {name} is the network choices.best_choice picks (run "
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
        elif scale == "paper" and derived and n in {x.name for x in derived_experiments("laptop", root)}:
            raise ValueError(f"{n}: trained at laptop scale only, since it sets its own width, epochs and batch "
                             f"(and its budget is in laptop minutes): use --scale laptop")
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
        return (name is not None
                and set(seeds) <= {r["seed"] for r in device_runs(load_result(name, scale, root), "cpu")})

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
