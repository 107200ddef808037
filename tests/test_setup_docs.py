"""The Makefile's two early checks, run without building anything: the Python version before ``.venv`` is
made, and the real FER-2013 before ``make notebooks`` overwrites the committed outputs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, capture_output=True, text=True,
                          env=env, timeout=120)


def _fake_python(tmp_path: Path, version: tuple[int, int]) -> Path:
    """A ``python`` that runs ``-c CODE`` as the given version would report itself, and refuses anything else
    (so a check that wrongly passes stops at ``-m venv``, with nothing made)."""
    script = tmp_path / f"python{version[0]}.{version[1]}"
    script.write_text(
        "#!/bin/sh\n"
        '[ "$1" = -c ] || { echo "fake python: only -c" >&2; exit 97; }\n'
        f'exec "{sys.executable}" -c "import sys; sys.version_info = {version + (0, "final", 0)!r}; '
        'exec(sys.argv[1])" "$2"\n'
    )
    script.chmod(0o755)
    return script


def test_an_old_python_is_refused_before_the_environment_is_made(tmp_path):
    venv = tmp_path / "venv"
    old = _make(f"PYTHON={_fake_python(tmp_path, (3, 10))}", f"VENV={venv}", "venv")
    assert old.returncode != 0
    assert "is Python 3.10; the course needs Python 3.11 or newer" in old.stderr
    assert "PYTHON=python3.11 make book" in old.stderr
    assert not venv.exists()

    new = _make(f"PYTHON={_fake_python(tmp_path, (3, 11))}", f"VENV={venv}", "venv")
    assert "fake python: only -c" in new.stderr  # the check passed and make went on to `-m venv`
    assert "needs Python 3.11" not in new.stderr


def _check_data_code() -> str:
    """The Python that ``make notebooks`` runs first, read from the Makefile by make itself."""
    shown = _make("--eval", "show-check-data: ; @true$(info $(CHECK_DATA))", "show-check-data")
    assert shown.returncode == 0, shown.stderr
    return shown.stdout.strip()


def test_notebooks_checks_the_data_before_anything_else():
    dry = _make("-n", "-o", ".venv/.installed", "notebooks")  # -n: printed, not run
    assert dry.returncode == 0, dry.stderr
    assert "default_data_path" in dry.stdout.splitlines()[0]


def _run_check(tmp_path: Path, data: Path | None) -> subprocess.CompletedProcess:
    """The check with ``data`` as FER_EDU_DATA, or with none and an empty ``data/`` folder."""
    env = {k: v for k, v in os.environ.items() if k != "FER_EDU_DATA"}
    if data is not None:
        env["FER_EDU_DATA"] = str(data)
    empty = tmp_path / "no-data"
    empty.mkdir(exist_ok=True)
    code = f"import fer_edu.data.load as load; load.REPO_DATA_DIR = load.Path({str(empty)!r})\n{_check_data_code()}"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_notebooks_stops_without_the_real_data(tmp_path):
    missing = _run_check(tmp_path, None)
    assert missing.returncode == 1
    assert "make notebooks: no FER-2013 with Training, PublicTest and PrivateTest splits" in missing.stderr
    assert "FER_EDU_DATA unset, nothing in data/" in missing.stderr
    assert "synthetic faces would overwrite" in missing.stderr


def test_notebooks_stops_without_the_test_splits(tmp_path, fer_csv):
    lines = fer_csv.read_text().splitlines()
    training_only = tmp_path / "training" / "fer2013.csv"
    training_only.parent.mkdir()
    training_only.write_text("\n".join([lines[0], *[x for x in lines[1:] if x.endswith(",Training")]]) + "\n")
    partial = _run_check(tmp_path, training_only)
    assert partial.returncode == 1
    assert "splits: {'Training': 21}" in partial.stderr


def test_notebooks_goes_on_with_all_three_splits(tmp_path, fer_csv):
    complete = _run_check(tmp_path, fer_csv)
    assert complete.returncode == 0, complete.stderr


def test_the_python_the_docs_ask_for_is_the_oldest_the_pins_support():
    """pyproject's requires-python, the Makefile's check, README and setup page name one minimum, and it is
    the oldest Python that every version pinned in requirements.txt supports (as installed here)."""
    import re
    import tomllib
    from importlib import metadata

    from packaging.specifiers import SpecifierSet

    required = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    major, minor = map(int, re.fullmatch(r">=(\d+)\.(\d+)", required).groups())
    lowest, older = f"{major}.{minor}", f"{major}.{minor - 1}"
    supports = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            try:
                if metadata.version(name) == version:
                    supports[name] = SpecifierSet(metadata.metadata(name).get("Requires-Python") or "")
            except metadata.PackageNotFoundError:
                continue
    assert all(lowest in spec for spec in supports.values()), supports
    assert any(older not in spec for spec in supports.values()), f"Python {older} would do: lower requires-python"
    assert f"sys.version_info >= ({major}, {minor})" in (REPO / "Makefile").read_text()
    for doc in ("README.md", "book/setup.md"):
        assert f"Python {lowest} or newer" in " ".join((REPO / doc).read_text().split()), doc
