"""Rules of the repository: small tracked files, no data committed, ignored paths."""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAX_BYTES = 15 * 1024 * 1024
# A GPU machine receives the checkout and the 43.5 MiB FER-2013 tarball, 64 MiB in all.
MAX_TREE_BYTES = 20 * 1024 * 1024


def _tracked() -> list[Path]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return [REPO / p for p in out.decode().split("\0") if p]


def test_no_tracked_file_over_15_mib():
    big = [f"{p.relative_to(REPO)} ({p.stat().st_size / 2**20:.1f} MiB)" for p in _tracked()
           if p.exists() and p.stat().st_size > MAX_BYTES]
    assert not big, f"tracked files over 15 MiB: {big}"


def test_tracked_tree_under_20_mib():
    total = sum(p.stat().st_size for p in _tracked() if p.exists())
    assert total < MAX_TREE_BYTES, f"tracked files take {total / 2**20:.2f} MiB, over 20 MiB"


def test_no_fer2013_file_is_tracked():
    names = [p.name for p in _tracked()]
    bad = [n for n in names if n.startswith(("Training_", "PublicTest_", "PrivateTest_"))
           or n in ("fer2013.csv", "icml_face_data.csv") or n.startswith("fer2013-images")]
    assert not bad


def test_gitignore_covers_data_envs_build_and_runs():
    ignored = (REPO / ".gitignore").read_text().split()
    for entry in ("/data/", ".venv/", "_build/", "runs/", "__pycache__/"):
        assert entry in ignored


def test_book_excludes_environments():
    config = (REPO / "_config.yml").read_text()
    for pattern in ('".venv/**"', '"**/site-packages/**"', '"runs/**"', '"_build/**"'):
        assert pattern in config


def test_only_the_leak_module_looks_at_test_data_per_epoch():
    """fer_edu.leak is the one place allowed to evaluate the test splits per epoch; only train() calls it."""
    callers = sorted(p.name for p in (REPO / "fer_edu").rglob("*.py") if "paper_protocol_epoch" in p.read_text())
    assert callers == ["leak.py", "train.py"]
    train_src = (REPO / "fer_edu" / "train.py").read_text()
    # train() evaluates PrivateTest per epoch only inside the measure_leak branch, and chooses on PublicTest.
    assert train_src.count("x_private") == 3  # split, the leak measurement's call, the final evaluation
    assert 'if public["accuracy"] > state["best_public"]' in train_src


def test_every_notebook_installs_the_course_where_it_is_missing():
    """On Colab a notebook opens alone: its first code cell clones and installs the course, hidden in the book."""
    import json

    for nb in sorted((REPO / "notebooks").glob("*.ipynb")):
        first = next(c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
        src = "".join(first["source"])
        assert "import fer_edu" in src and "git clone" in src and "pip install" in src, nb.name
        assert {"remove-cell", "nbval-ignore-output"} <= set(first["metadata"].get("tags", [])), nb.name


def _course_distributions() -> set[str]:
    """The distributions ``pip install -e .[course]`` brings: pyproject's dependencies, its ``course`` extra and
    everything they require in turn (read from the installed packages' metadata)."""
    import re
    import tomllib
    from importlib import metadata

    def name(requirement: str) -> str:
        return re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    todo = [name(r) for r in project["dependencies"] + project["optional-dependencies"]["course"]]
    seen: set[str] = set()
    while todo:
        dist = todo.pop()
        if dist in seen:
            continue
        seen.add(dist)
        try:
            requires = metadata.requires(dist) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [name(r) for r in requires if "extra ==" not in r]
    return seen


def test_every_package_a_notebook_imports_comes_with_the_course_install():
    """On Colab a notebook has only what its first cell installs (``pip install -e .[course]``) beside Colab's
    own packages: a notebook that imports anything else stops there. (myst_nb, whose ``glue`` every chapter
    calls, came only with requirements.txt's jupyter-book until 2026-12-06.)"""
    import ast
    import json
    import sys
    from importlib import metadata

    from IPython.core.inputtransformer2 import TransformerManager

    installs = _course_distributions()
    providers = metadata.packages_distributions()
    missing = set()
    for nb in sorted((REPO / "notebooks").glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            # IPython turns its magics and shell escapes into Python, as the kernel does (a continuation
            # line that starts with `!=` is no shell escape).
            src = TransformerManager().transform_cell("".join(cell["source"]))
            for node in ast.walk(ast.parse(src)):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
                for top in {n.split(".")[0] for n in names} - set(sys.stdlib_module_names) - {"fer_edu"}:
                    dists = {d.lower().replace("_", "-") for d in providers.get(top, [top])}
                    if not dists & installs:
                        missing.add(f"{nb.name}: {top} ({', '.join(sorted(dists))})")
    assert not missing, f"imported by notebooks, not installed by .[course]: {sorted(missing)}"
