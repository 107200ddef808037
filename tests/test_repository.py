"""Rules of the repository: small tracked files, no data committed, ignored paths."""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAX_BYTES = 15 * 1024 * 1024


def _tracked() -> list[Path]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return [REPO / p for p in out.decode().split("\0") if p]


def test_no_tracked_file_over_15_mib():
    big = [f"{p.relative_to(REPO)} ({p.stat().st_size / 2**20:.1f} MiB)" for p in _tracked()
           if p.exists() and p.stat().st_size > MAX_BYTES]
    assert not big, f"tracked files over 15 MiB: {big}"


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
