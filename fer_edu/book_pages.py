"""The tables written into the book's Markdown pages: chapter times (intro), the scales' cost (setup), the
leak and the runs trained twice (reproducibility).

A Markdown page cannot glue a notebook's values, so ``make pages`` (also run by ``make notebooks``)
writes these tables between marker comments, and a test fails while a page is stale.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .experiments import REPORTED_SCALES, SCALES
from .report import NOT_YET_RUN, leak_row, leak_summaries, machine_label, seeds_text
from .results import (
    BENCH_KINDS,
    FULL_SPLITS,
    REPO,
    SAME_TRAINING,
    bench_kind,
    device_runs,
    load_benches,
    load_result,
    reproductions_path,
    results_dir,
)

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


def devices_text(names: list[str], scale: str = "laptop", root: Path | None = None, device: str = "cpu") -> str:
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
                   f"experiment (`results/laptop/<name>.json`, on {devices_text(trained, 'laptop', root)}); "
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
    return (f" On a CPU without native bfloat16, as most laptops are, the laptop scale's training steps took "
            f"{ratio:.1f} times as long (`results/bench-cpu-fp32.json` against `results/bench-cpu.json`): expect the "
            "times above to grow about as much.")


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
    return (f"{bound if bound.startswith('<') else '≤ ' + bound} ({scale.epochs} × {images:,} images at {rate:,.0f}/s, "
            f"width {row['width']:g}'s rate)")


def cost_table_markdown(root: Path | None = None) -> str:
    """The three scales and the time their training steps take on each kind of machine, from
    ``results/bench-*.json``."""
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
                     f"the final model exactly as `final`; mean leak over "
                     f"{seeds_text([s['seed'] for s in summaries])}: {mean:+.2f} points.")
    return "\n\n".join(parts)


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
        lines = ["| seed | `final` PrivateTest (commit) | `final_leak` PrivateTest (commit) | same |",
                 "|---|---|---|---|"]
        for r in (r for r in device_runs(leak, "cpu") if r["seed"] in first):
            f = first[r["seed"]]
            same = "yes" if f["private_accuracy"] == r["private_accuracy"] else "no"
            lines.append(f"| {r['seed']} | {_percent_commit(f)} | {_percent_commit(r)} | {same} |")
        parts = ["\n".join(lines)]
    path = reproductions_path(root)
    repeated = json.loads(path.read_text())["runs"] if path.exists() else []
    lines = [("**Repeated from a fresh clone** (`python -m fer_edu reproduce NAME --seed S`); a CPU's name and "
              "precision are given where the repetition recorded them:\n"),
             ("| run | scale | seed | committed on | repeated on | committed PrivateTest (commit) | "
              "repeated (commit) | same |"),
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| `{r['name']}` | {r['scale']} | {r['seed']} | {_machine_text(r, 'committed')} | "
              f"{_machine_text(r, 'repeated')} | {_percent_commit(r['committed'])} | "
              f"{_percent_commit(r['repeated'])} | {'yes' if r['same'] else 'no'} |" for r in repeated]
    parts.append("\n".join(lines) if repeated else f"**Repeated from a fresh clone**: {NOT_YET_RUN}.")
    cross = []
    for scale in REPORTED_SCALES:
        by_kind: dict[str, dict] = {"cpu": {}, "cuda": {}}
        for path in sorted((results_dir(root) / scale).glob("*.json")):
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
                                ("| run (CPU / GPU) | scale | seed | CPU PrivateTest (commit) | "
                                 "GPU PrivateTest (commit) | GPU - CPU (points) |"),
                                "|---|---|---|---|---|---|", *cross]))
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
