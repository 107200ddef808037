"""The book builds strictly (warnings are errors) from the committed notebooks."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_book_builds_without_warnings(tmp_path):
    jb = Path(sys.executable).with_name("jupyter-book")
    if not jb.exists():
        jb = shutil.which("jupyter-book")
    if jb is None:
        pytest.skip("jupyter-book not installed")
    result = subprocess.run(
        [str(jb), "build", str(REPO), "--path-output", str(tmp_path), "--warningiserror", "--nitpick"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert (tmp_path / "_build" / "html" / "index.html").exists()
