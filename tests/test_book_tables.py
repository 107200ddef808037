"""The tables written into book pages (chapter times, scale costs) come from results/ and are up to date."""

import json

import nbformat
import pytest

from fer_edu import book_pages as pages
from fer_edu import report
from fer_edu import results as R


def _write_result(root, name, scale, runs):
    """A minimal results file under ``root``: the name and the runs the report reads."""
    path = R.result_path(name, scale, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"name": name, "runs": runs}))


def _cpu_runs(*accuracies):
    """CPU runs at seeds 0, 1, ... with these PrivateTest accuracies."""
    return [{"seed": s, "device_kind": "cpu", "private_accuracy": a} for s, a in enumerate(accuracies)]


def test_book_pages_carry_the_tables_results_give_now():
    stale = [p.name for p, text in pages.book_tables().items() if p.read_text() != text]
    assert not stale, f"{stale}: stale generated tables; run `make pages` and commit the pages"


def test_replace_between_markers_rewrites_only_the_marked_part_and_needs_the_markers():
    page = "intro\n<!-- begin t: generated -->\nold\n<!-- end t -->\nafter\n"
    new = pages.replace_between_markers(page, "t", "| a |")
    assert new == "intro\n<!-- begin t: generated -->\n\n| a |\n\n<!-- end t -->\nafter\n"
    assert pages.replace_between_markers(new, "t", "| a |") == new
    with pytest.raises(ValueError):
        pages.replace_between_markers("no markers", "t", "x")


def _bench(rate_laptop: float, rate_paper: float, device: str, kind: str = "cpu") -> dict:
    return {"device": device, "device_kind": kind, "threads": 2, "rows": [
        {"width": 1.0, "batch_size": 32, "engine_img_per_s": rate_paper},
        {"width": 0.25, "batch_size": 64, "engine_img_per_s": rate_laptop}]}


def _row(table: str, scale: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith(f"| `{scale}`"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_cost_table_is_arithmetic_on_the_bench_files(tmp_path):
    R.write_json(tmp_path / "bench-cpu.json", _bench(1000.0, 100.0, "Some CPU"))
    table = pages.cost_table_markdown(tmp_path)
    assert table.splitlines()[0].count("|") == 6  # scale, network, and a column per kind of machine
    laptop = _row(table, "laptop")
    assert laptop[2] == "5.3 min (11 × 28,709 images at 1,000/s)"  # 11 * 28709 / 1000 s
    assert laptop[3:] == ["not yet measured", "not yet measured"]  # no bench-cpu-fp32.json, no bench-cuda.json
    smoke = _row(table, "smoke")
    assert smoke[2] == "≤ 10 s (2 × 512 images at 100/s, width 1's rate)"  # width 0.125 bounded by width 1
    R.write_json(tmp_path / "bench-cpu-fp32.json", _bench(250.0, 25.0, "Plain CPU"))
    R.write_json(tmp_path / "bench-cuda.json", _bench(20000.0, 5000.0, "Some GPU", "cuda"))
    table = pages.cost_table_markdown(tmp_path)
    assert _row(table, "laptop")[3:] == ["21 min (11 × 28,709 images at 250/s)",
                                         "16 s (11 × 28,709 images at 20,000/s)"]
    assert _row(table, "smoke")[4].startswith("< 1 s (")  # 1,024 images at 5,000/s: not "0 s"
    assert ("`results/bench-cpu-fp32.json`: Plain CPU, 2 threads" in table
            and "`results/bench-cuda.json`: Some GPU" in table)
    # no results/laptop/final.json here
    assert table.endswith("a whole laptop-scale `final` run took not yet measured.")
    bf16_run = {"seed": 0, "device_kind": "cpu", "bf16": True, "wall_time_s": 300.0}
    R.write_json(tmp_path / "laptop" / "final.json", {"name": "final", "runs": [bf16_run]})
    assert pages.cost_table_markdown(tmp_path).endswith("took 5.0 min (seed 0) on a CPU with native bf16.")
    R.write_json(tmp_path / "laptop" / "final.json",
                 {"name": "final", "runs": [bf16_run, {**bf16_run, "seed": 1, "bf16": False}]})
    assert pages.cost_table_markdown(tmp_path).endswith("over seeds 0, 1) on CPUs of both kinds.")
    unrecorded = {k: v for k, v in bf16_run.items() if k != "bf16"}  # an older run: precision not recorded
    R.write_json(tmp_path / "laptop" / "final.json", {"name": "final", "runs": [unrecorded]})
    assert pages.cost_table_markdown(tmp_path).endswith("took 5.0 min (seed 0).")


def test_bench_kind_tells_a_cpu_without_native_bf16_apart():
    assert ([R.bench_kind("cpu", True), R.bench_kind("cpu", False), R.bench_kind("cuda", True)]
            == ["cpu", "cpu-fp32", "cuda"])
    assert set(R.BENCH_KINDS) == {"cpu", "cpu-fp32", "cuda"}


def test_machine_label_tells_two_cpus_of_one_name_apart():
    bf16 = {"device_kind": "cpu", "device": "AMD EPYC", "bf16": True, "isa": "AMX", "threads": 2}
    fp32 = {**bf16, "bf16": False, "isa": "AVX2"}
    assert report.machine_label(bf16) == "AMD EPYC, native bf16 (AMX), 2 threads"
    assert report.machine_label(fp32) == "AMD EPYC, fp32 only (AVX2), 2 threads"
    older = {k: v for k, v in fp32.items() if k != "isa"}  # files written before the instruction set was recorded
    assert report.machine_label(older) == "AMD EPYC, fp32 only, 2 threads"
    assert report.machine_label({"device_kind": "cuda", "device": "NVIDIA H100", "bf16": True}) == "NVIDIA H100"
    xeon = {**bf16, "device": "Intel(R) Xeon(R) Processor", "threads": 1}  # as /proc/cpuinfo names it
    assert report.machine_label(xeon) == "Intel Xeon, native bf16 (AMX), 1 thread"
    assert report.machine_label(xeon, threads=False) == "Intel Xeon, native bf16 (AMX)"


def test_chapter_times_read_the_train_cell_and_its_results(tmp_path):
    (tmp_path / "_toc.yml").write_text("parts:\n  - chapters:\n      - file: notebooks/a\n      - file: notebooks/b\n"
                                       "      - file: book/page\n      - file: book/references\n")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "page.md").write_text("# A page\n")
    (tmp_path / "book" / "references.md").write_text("```{bibliography}\n```\n")
    (tmp_path / "notebooks").mkdir()
    words = " ".join(["word"] * 1200)  # 6 minutes at 200 words a minute: rounded up to 10
    cells = {"a": [nbformat.v4.new_markdown_cell(words)],
             "b": [nbformat.v4.new_code_cell('mine = train_yourself("final")')]}
    for name, c in cells.items():
        nbformat.write(nbformat.v4.new_notebook(cells=c), tmp_path / "notebooks" / f"{name}.ipynb")
    runs = [{"seed": s, "device_kind": "cpu", "device": "Some CPU", "threads": 2, "wall_time_s": t}
            for s, t in ((0, 240.0), (1, 360.0))]
    (tmp_path / "laptop").mkdir()
    (tmp_path / "laptop" / "final.json").write_text(json.dumps({"runs": runs}))
    table = pages.chapter_times_markdown(tmp_path, root=tmp_path)
    assert "| {doc}`/notebooks/a` | about 10 min | no training cell |" in table
    assert "| {doc}`/notebooks/b` | about 5 min | `final`: 5.0 min (4.0-6.0 over seeds 0, 1) |" in table
    assert "| {doc}`/book/page` | about 5 min | no training cell |" in table
    assert "references" not in table  # the bibliography is no chapter
    assert "Some CPU, 2 threads" in table and "without native bfloat16" not in table  # no fp32 bench here
    R.write_json(tmp_path / "bench-cpu.json", _bench(1000.0, 100.0, "Some CPU"))
    R.write_json(tmp_path / "bench-cpu-fp32.json", _bench(400.0, 40.0, "Plain CPU"))
    assert "without native bfloat16, as most laptops are, the laptop scale's training steps took 2.5 times as long" in \
        pages.chapter_times_markdown(tmp_path, root=tmp_path)


def test_leak_and_reproduction_tables(tmp_path):
    from fer_edu.book_pages import leak_table_markdown, reproduction_table_markdown

    assert (leak_table_markdown(tmp_path).count("not yet run") == 2
            and "not yet run" in reproduction_table_markdown(tmp_path))
    history = [{"epoch": e, "public_accuracy": p, "leak_test_accuracy": t, "leak_private_accuracy": q}
               for e, p, t, q in [(1, 0.50, 0.52, 0.54), (2, 0.60, 0.58, 0.56), (3, 0.55, 0.61, 0.67)]]
    run = {"seed": 0, "device_kind": "cpu", "selected_epoch": 2, "private_accuracy": 0.56, "history": history,
           "commit": "abcdef0123"}
    for name, r in (("final_leak", run), ("final", {**run, "private_accuracy": 0.57, "commit": "1234567890"})):
        _write_result(tmp_path, name, "laptop", [r])
    leak = leak_table_markdown(tmp_path)
    assert ("| 0 | 56.00 % (epoch 2) | 61.00 % (epoch 3) | 58.00 % | +3.00 | 67.00 % (+11.00) | 67.00 % (epoch 3) |"
            in leak)
    table = reproduction_table_markdown(tmp_path)
    assert "| 0 | 57.00 % (1234567) | 56.00 % (abcdef0) | no |" in table
    assert "fresh clone**: not yet run" in table and "on a CPU and on a GPU" not in table


def test_leak_overview_averages_each_leak_and_pairs_final_with_final_dedup_by_seed(tmp_path):
    from fer_edu.report import leak_overview, same_epoch_text

    overview = leak_overview(tmp_path)
    assert [r["scale, seeds"] for r in overview] == ["laptop: not yet run", "paper: not yet run"] * 3
    assert same_epoch_text(tmp_path) == "not yet run"

    def write(name, runs):
        _write_result(tmp_path, name, "laptop", runs)

    def leak_run(seed, chosen, pooled, private, honest):
        history = [{"epoch": e + 1, "public_accuracy": 0.5, "leak_test_accuracy": t, "leak_private_accuracy": q}
                   for e, (t, q) in enumerate(zip(pooled, private))]
        return {"seed": seed, "device_kind": "cpu", "selected_epoch": chosen, "private_accuracy": honest,
                "history": history}

    # seed 0: the pooled set peaks at epoch 2 (+2 points over the honest epoch 1); seed 1: the same epoch.
    write("final_leak", [leak_run(0, 1, [0.60, 0.62], [0.61, 0.65], 0.61),
                         leak_run(1, 2, [0.58, 0.64], [0.67, 0.66], 0.66)])
    write("final", _cpu_runs(0.62, 0.64, 0.9))
    write("final_dedup", _cpu_runs(0.60, 0.61))
    write("final_drop_random", _cpu_runs(0.615))
    pooled, paper_private, private, paper, copies, paper_copies, alone, paper_alone = leak_overview(tmp_path)
    assert pooled["scale, seeds"] == "laptop, seeds 0, 1" and pooled["difference (points)"] == "+1.00"
    assert pooled["honest (epoch chosen on PublicTest)"] == "62.00 %" and pooled["with the leak"] == "63.00 %"
    # PrivateTest at the pooled set's epochs (2 and 2): 65 and 66 against the honest 61 and 66.
    assert paper_private["with the leak"] == "65.50 %" and paper_private["difference (points)"] == "+2.00"
    assert private["difference (points)"] == "+2.50"  # peaks 65 and 67 against the honest 61 and 66
    assert paper["scale, seeds"] == "paper: not yet run"
    # final seed 2 has no final_dedup partner and is left out: 63 % against 60.5 %
    assert copies["scale, seeds"] == "laptop, seeds 0, 1" and copies["difference (points)"] == "+2.50"
    assert "(final against final_dedup)" in copies["leak"] and paper_copies["scale, seeds"] == "paper: not yet run"
    # at an equal number of images, seed 0 only: 61.5 % against 60 %
    assert alone["scale, seeds"] == "laptop, seed 0" and alone["difference (points)"] == "+1.50"
    assert "(final_drop_random against final_dedup)" in alone["leak"]
    assert paper_alone["scale, seeds"] == "paper: not yet run"
    assert same_epoch_text(tmp_path) == "1 of 2 seeds at laptop scale"


def test_copies_compare_final_dedup_with_final_leak_where_final_has_no_cpu_run(tmp_path):
    from fer_edu.report import copies_comparison, leak_overview

    def write(name, runs):
        _write_result(tmp_path, name, "paper", runs)

    write("final", [{"seed": 0, "device_kind": "cuda", "private_accuracy": 0.9}])
    write("final_leak", [{"seed": s, "device_kind": "cpu", "private_accuracy": a, "selected_epoch": 1,
                          "history": [{"epoch": 1, "public_accuracy": 0.5, "leak_test_accuracy": a,
                                       "leak_private_accuracy": a}]} for s, a in ((0, 0.66), (1, 0.65))])
    assert copies_comparison("paper", tmp_path) is None  # no final_dedup yet
    write("final_dedup", _cpu_runs(0.64))
    pair = copies_comparison("paper", tmp_path)
    # the GPU's final is not a CPU reference; final_leak seed 1 has no partner
    assert pair["reference"] == "final_leak" and pair["seeds"] == [0]
    assert abs(pair["reference_accuracy"] - 0.66) < 1e-9 and abs(pair["other_accuracy"] - 0.64) < 1e-9
    # seed noise from final_leak's two seeds (sd 0.01 / sqrt 2), for a difference of single runs: 0.01
    assert abs(pair["se"] - 0.01) < 1e-9
    row = leak_overview(tmp_path)[-3]  # the copies with the smaller set, paper scale
    assert row["scale, seeds"] == "paper, seed 0" and row["difference (points)"] == "+2.00"
    assert "(final_leak against final_dedup)" in row["leak"]


def test_copies_standard_error_pools_both_trainings_seeds_and_needs_a_degree_of_freedom(tmp_path):
    from fer_edu.report import copies_comparison

    def write(name, accuracies):
        _write_result(tmp_path, name, "laptop", _cpu_runs(*accuracies))

    write("final", [0.62])
    write("final_dedup", [0.61])
    assert copies_comparison("laptop", tmp_path)["se"] is None  # one seed each: no spread to measure
    write("final", [0.62, 0.64])
    write("final_dedup", [0.60, 0.61, 0.62])
    # pooled variance (2e-4 + 2e-4) / (1 + 2), over the two paired seeds: sqrt(4e-4 / 3) * sqrt(2 / 2)
    assert abs(copies_comparison("laptop", tmp_path)["se"] - (4e-4 / 3) ** 0.5) < 1e-9


def test_copies_comparisons_split_the_difference_into_the_copies_and_the_smaller_set(tmp_path):
    from fer_edu.report import copies_comparison

    for name, accuracies in (("final", [0.63, 0.62]), ("final_drop_random", [0.625, 0.615]),
                             ("final_dedup", [0.61, 0.60])):
        _write_result(tmp_path, name, "laptop", _cpu_runs(*accuracies))
    parts = {what: copies_comparison("laptop", tmp_path, what)
             for what in ("copies and size", "copies alone", "size alone")}
    assert [(p["reference"], p["other"]) for p in parts.values()] == [
        ("final", "final_dedup"), ("final_drop_random", "final_dedup"), ("final", "final_drop_random")]
    gain = {what: p["reference_accuracy"] - p["other_accuracy"] for what, p in parts.items()}
    assert abs(gain["copies alone"] - 0.015) < 1e-9 and abs(gain["size alone"] - 0.005) < 1e-9
    assert abs(gain["copies alone"] + gain["size alone"] - gain["copies and size"]) < 1e-9


def test_trainings_of_a_name_list_it_first_then_the_runs_that_train_exactly_as_it_does():
    from fer_edu.results import trainings_of

    assert trainings_of("final") == ["final", "final_leak"]
    assert trainings_of("vgg19") == ["vgg19"] and trainings_of("final_leak") == ["final_leak"]


def test_reproduction_table_lists_repetitions_and_cpu_gpu_pairs(tmp_path):
    from fer_edu.book_pages import reproduction_table_markdown
    from fer_edu.results import record_reproduction

    run = {"seed": 0, "device_kind": "cpu", "private_accuracy": 0.6559, "commit": "1b30456aaa"}
    for name, r in (("final_leak", run), ("final", {**run, "device_kind": "cuda", "private_accuracy": 0.6539,
                                                    "commit": "22c6329bbb"})):
        _write_result(tmp_path, name, "paper", [r])
    entry = {"name": "vgg11", "scale": "laptop", "seed": 0, "device_kind": "cpu", "same": True,
             "committed": {"private_accuracy": 0.6255, "commit": "aaaaaaa1"},
             "repeated": {"private_accuracy": 0.6255, "commit": "bbbbbbb2"}}
    record_reproduction(entry, tmp_path)
    record_reproduction(entry, tmp_path)  # the same repetition again replaces, never duplicates
    table = reproduction_table_markdown(tmp_path)
    assert table.count("| `vgg11` | laptop | 0 | cpu | cpu | 62.55 % (aaaaaaa) | 62.55 % (bbbbbbb) | yes |") == 1
    # a repetition on the other kind of CPU says so: bf16 against fp32
    other = {**entry, "name": "final", "same": False, "committed": {**entry["committed"], "bf16": True},
             "repeated": {"private_accuracy": 0.6211, "commit": "ccccccc3", "bf16": False}}
    record_reproduction(other, tmp_path)
    assert "| `final` | laptop | 0 | cpu, bf16 | cpu, fp32 | 62.55 % (aaaaaaa) | 62.11 % (ccccccc) | no |" in \
        reproduction_table_markdown(tmp_path)
    # two CPUs of the same precision are told apart by name and instruction set where recorded
    vendors = {**entry, "name": "vgg19", "committed": {**entry["committed"], "bf16": True, "device": "AMD EPYC"},
               "repeated": {**entry["repeated"], "bf16": True, "device": "Intel(R) Xeon(R) Processor", "isa": "AMX"}}
    record_reproduction(vendors, tmp_path)
    assert ("| `vgg19` | laptop | 0 | AMD EPYC, native bf16 | Intel Xeon, native bf16 (AMX) | 62.55 % (aaaaaaa) | "
            "62.55 % (bbbbbbb) | yes |") in reproduction_table_markdown(tmp_path)
    assert "| `final_leak` / `final` | paper | 0 | 65.59 % (1b30456) | 65.39 % (22c6329) | -0.20 |" in table
