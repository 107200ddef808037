"""Fixtures: small FER-2013 files in every format, made from synthetic faces, and the real data."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fer_edu.data import CLASSES, FERData, default_data_path, load_fer2013, synthetic_faces

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own decoded-array cache, so tests never see each other's caches."""
    monkeypatch.setenv("FER_EDU_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def small() -> FERData:
    """A few synthetic faces in all three splits, as the 'truth' the files below are made from."""
    return synthetic_faces(n_train=21, n_public=7, n_private=7, seed=3)


def jpeg_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")  # lossless, so decoded pixels equal the source
    return buf.getvalue()


def image_entries(data: FERData) -> list[tuple[str, bytes]]:
    """Kaggle layout: train/<class>/Training_<i>.png, test/<class>/PublicTest_<i>.png ..."""
    out = []
    for i, (img, label, split) in enumerate(zip(data.images, data.labels, data.splits)):
        top = "train" if split == "Training" else "test"
        out.append((f"{top}/{CLASSES[label]}/{split}_{i}.png", jpeg_bytes(img)))
    return out


def pixel_rows(data: FERData) -> list[str]:
    return [" ".join(map(str, im.ravel())) for im in data.images]


@pytest.fixture
def image_folder(tmp_path, small) -> Path:
    root = tmp_path / "fer2013"
    for name, blob in image_entries(small):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(blob)
    return root


@pytest.fixture
def image_zip(tmp_path, small) -> Path:
    path = tmp_path / "archive.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, blob in image_entries(small):
            zf.writestr(name, blob)
    return path


@pytest.fixture
def image_tar(tmp_path, small) -> Path:
    path = tmp_path / "fer2013-images.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for name, blob in image_entries(small):
            info = tarfile.TarInfo(f"fer2013/{name}")
            info.size = len(blob)
            tf.addfile(info, io.BytesIO(blob))
    return path


@pytest.fixture
def fer_csv(tmp_path, small) -> Path:
    path = tmp_path / "fer2013.csv"
    lines = ["emotion,pixels,Usage"] + [
        f"{label},{px},{split}" for label, px, split in zip(small.labels, pixel_rows(small), small.splits)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def icml_csv(tmp_path, small) -> Path:
    path = tmp_path / "icml_face_data.csv"
    lines = ["emotion, Usage, pixels"] + [
        f"{label}, {split}, {px}" for label, px, split in zip(small.labels, pixel_rows(small), small.splits)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def kaggle_train_test(tmp_path, small) -> Path:
    train = small.split("Training")
    test = small.subset(small.splits != "Training")
    (tmp_path / "train.csv").write_text(
        "emotion,pixels\n" + "".join(f"{lab},{px}\n" for lab, px in zip(train.labels, pixel_rows(train)))
    )
    (tmp_path / "test.csv").write_text("pixels\n" + "".join(f"{px}\n" for px in pixel_rows(test)))
    return tmp_path / "train.csv"


@pytest.fixture(scope="session")
def real_data() -> FERData:
    """The real FER-2013 (FER_EDU_DATA or data/), or a clean skip without it."""
    path = default_data_path()
    if path is None or not path.exists():
        pytest.skip("real FER-2013 not present (set FER_EDU_DATA)")
    return load_fer2013(path)


@dataclass(frozen=True)
class BookBuild:
    returncode: int
    log: str
    html: Path  # _build/html of the build


@pytest.fixture(scope="session")
def book_build(tmp_path_factory) -> BookBuild:
    """The strict build of the book (warnings are errors), made once per session for every test that needs it.

    ``--keep-going`` so that a warning still leaves the pages for the render checks to look at.
    """
    jb = Path(sys.executable).with_name("jupyter-book")
    jb = str(jb) if jb.exists() else shutil.which("jupyter-book")
    if jb is None:
        pytest.skip("jupyter-book not installed")
    out = tmp_path_factory.mktemp("book")
    result = subprocess.run([jb, "build", str(REPO), "--path-output", str(out), "--warningiserror", "--nitpick",
                             "--keep-going"], check=False, capture_output=True, text=True)
    output = result.stdout + result.stderr
    problems = [line for line in output.splitlines() if "WARNING" in line or "ERROR" in line]
    return BookBuild(result.returncode, "\n".join(problems[:40]) or output[-4000:], out / "_build" / "html")
