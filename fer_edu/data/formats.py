"""Readers for every form FER-2013 is distributed in.

- the Kaggle image folder (``train/<class>/Training_<id>.jpg``, ``test/<class>/PublicTest_<id>.jpg``
  and ``PrivateTest_<id>.jpg``), as a folder, a ``.zip`` or a ``.tar.gz`` read without extracting;
- ``fer2013.csv`` (``emotion,pixels,Usage``);
- ``icml_face_data.csv`` (the same columns written ``emotion, Usage, pixels``);
- ``train.csv`` + ``test.csv`` of the Kaggle competition (the test file has no labels: its images
  are returned in the ``Unlabelled`` split with label -1).

Images that are not 48x48 are resized (area interpolation) with a warning rather than refused: some
re-distributions of FER-2013 upscale the faces, and a reader should still be able to use them.
Every error names the file, and the row for CSV input.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import warnings
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from PIL import Image

from .dataset import IMAGE_SIZE, SPLITS, UNLABELLED, FERData
from .labels import CLASSES

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")
CSV_NAMES = ("fer2013.csv", "icml_face_data.csv", "train.csv")

DOWNLOAD_HELP = """\
FER-2013 is not part of this course: download it yourself (free Kaggle account), either
  - the image folders: https://www.kaggle.com/datasets/msambare/fer2013  (archive.zip), or
  - the original CSV:  https://www.kaggle.com/competitions/challenges-in-representation-learning-facial-expression-recognition-challenge/data
    (icml_face_data.csv, or fer2013.csv inside fer2013.tar.gz)
then either put the download (zip, tar.gz, CSV or extracted folder) in the repository's data/ folder,
or point to it with  export FER_EDU_DATA=/path/to/download  (or pass the path as an argument).
Without it, the course runs on its embedded synthetic faces."""


class DataFormatError(ValueError):
    """The data exists but is not laid out or encoded the way FER-2013 is."""


class DataNotFoundError(FileNotFoundError):
    """No FER-2013 at the given path; the message says where to get it."""


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


# --------------------------------------------------------------------------- image folders


def _split_of(parts: tuple[str, ...], origin: str) -> str:
    """Split from the file-name prefix, falling back to the top folder (train/test)."""
    stem = parts[-1]
    for split in SPLITS:
        if stem.startswith(split + "_"):
            return split
    top = parts[0].lower()
    if top == "train":
        return "Training"
    if top == "test":
        return "Test"
    raise DataFormatError(f"{origin}: cannot tell the split of {'/'.join(parts)}")


def _decode_image(blob: bytes, name: str, resized: list[str]) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(blob)) as im:
            im.load()
            gray = im.convert("L")
    except Exception as exc:  # PIL raises many types for broken files
        raise DataFormatError(f"{name}: unreadable or truncated image ({exc})") from None
    if gray.size != (IMAGE_SIZE, IMAGE_SIZE):
        resized.append(f"{name} ({gray.size[0]}x{gray.size[1]})")
        gray = gray.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX)
    return np.asarray(gray, dtype=np.uint8)


def images_from_entries(entries: Iterable[tuple[str, bytes]], origin: str, fmt: str) -> FERData:
    """Build a data set from ``(path, bytes)`` pairs laid out as ``.../<train|test>/<class>/<file>``."""
    images, labels, splits, ids, hashes, resized = [], [], [], [], [], []
    class_index = {c: i for i, c in enumerate(CLASSES)}
    for path, blob in entries:
        parts = PurePosixPath(path).parts[-3:]
        if len(parts) < 3 or parts[0].lower() not in ("train", "test"):
            raise DataFormatError(
                f"{origin}: {path} is not in <train|test>/<class>/<image> (the Kaggle image-folder layout)"
            )
        cls = parts[1].lower()
        if cls not in class_index:
            raise DataFormatError(f"{origin}: unknown class folder {parts[1]!r} ({path}); expected {CLASSES}")
        images.append(_decode_image(blob, f"{origin}: {path}", resized))
        labels.append(class_index[cls])
        splits.append(_split_of(parts, origin))
        ids.append("/".join(parts))
        hashes.append(_digest(blob))
    if not images:
        raise DataFormatError(
            f"{origin}: no images found; expected train/<class>/*.jpg and test/<class>/*.jpg "
            f"with class folders {', '.join(CLASSES)}"
        )
    if resized:
        warnings.warn(
            f"{origin}: {len(resized)} images are not 48x48 and were resized, e.g. {resized[0]}",
            stacklevel=3,
        )
    order = np.argsort(np.array(ids), kind="stable")  # archive order varies; ids do not
    data = FERData(
        np.stack(images)[order], np.array(labels, np.int64)[order], np.array(splits)[order],
        np.array(ids)[order], np.array(hashes, dtype="S16")[order], {"format": fmt},
    )
    if (data.splits == "Test").any():
        warnings.warn(
            f"{origin}: test images without a PublicTest_/PrivateTest_ prefix: they form one 'Test' "
            "split, so the evaluation protocol (choose on PublicTest, report PrivateTest) is not possible",
            stacklevel=3,
        )
    return data


def _folder_entries(root: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            yield path.relative_to(root).as_posix(), path.read_bytes()


def _tar_entries(tf: tarfile.TarFile) -> Iterator[tuple[str, bytes]]:
    for member in tf:
        if member.isfile() and PurePosixPath(member.name).suffix.lower() in IMAGE_SUFFIXES:
            yield member.name, tf.extractfile(member).read()  # type: ignore[union-attr]


def _zip_entries(zf: zipfile.ZipFile) -> Iterator[tuple[str, bytes]]:
    for info in zf.infolist():
        if not info.is_dir() and PurePosixPath(info.filename).suffix.lower() in IMAGE_SUFFIXES:
            yield info.filename, zf.read(info)


# --------------------------------------------------------------------------- CSV files


def _read_csv(source: str | Path | io.BytesIO, origin: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(source, dtype=str, skipinitialspace=True, keep_default_na=False)
    except Exception as exc:
        raise DataFormatError(f"{origin}: not a readable CSV file ({exc})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _parse_pixels(pixels: pd.Series, origin: str) -> np.ndarray:
    out = np.empty((len(pixels), IMAGE_SIZE * IMAGE_SIZE), dtype=np.uint8)
    for i, text in enumerate(pixels):
        try:  # numpy's C text parser: 7x faster than splitting in Python, and strict in numpy 2
            row = np.fromstring(text, dtype=np.int64, sep=" ")
        except ValueError:
            row = None
        if row is None or row.size != IMAGE_SIZE * IMAGE_SIZE or row.min(initial=0) < 0 or row.max(initial=0) > 255:
            tokens = text.split()
            # Line numbers as a reader sees them in an editor: the header is line 1.
            raise DataFormatError(
                f"{origin}, row {i + 2}: 'pixels' must hold {IMAGE_SIZE * IMAGE_SIZE} integers in 0..255 "
                f"separated by spaces, got {len(tokens)} values starting {' '.join(tokens[:4])!r}"
            )
        out[i] = row
    return out.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)


def _parse_labels(emotion: pd.Series, origin: str) -> np.ndarray:
    labels = pd.to_numeric(emotion, errors="coerce").to_numpy()
    bad = np.flatnonzero(~np.isin(labels, np.arange(len(CLASSES))))
    if bad.size:
        raise DataFormatError(
            f"{origin}, row {bad[0] + 2}: 'emotion' must be an integer 0..6, got {emotion.iloc[bad[0]]!r}"
        )
    return labels.astype(np.int64)


def _require(frame: pd.DataFrame, columns: tuple[str, ...], origin: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataFormatError(
            f"{origin}: missing column(s) {missing}; found {list(frame.columns)}; "
            f"FER-2013 CSVs have emotion, pixels and Usage"
        )


def frame_to_data(frame: pd.DataFrame, origin: str, fmt: str, default_split: str | None = None) -> FERData:
    """Decode a FER-2013 CSV table (``emotion``, ``pixels`` and, unless ``default_split``, ``Usage``)."""
    unlabelled = default_split == "Unlabelled"
    _require(frame, ("pixels",) if unlabelled else ("emotion", "pixels"), origin)
    if default_split is None:
        _require(frame, ("Usage",), origin)
        splits = frame["Usage"].str.strip().to_numpy()
        bad = np.flatnonzero(~np.isin(splits, SPLITS))
        if bad.size:
            raise DataFormatError(
                f"{origin}, row {bad[0] + 2}: 'Usage' must be one of {SPLITS}, got {splits[bad[0]]!r}"
            )
    else:
        splits = np.full(len(frame), default_split)
    labels = np.full(len(frame), UNLABELLED, np.int64) if unlabelled else _parse_labels(frame["emotion"], origin)
    images = _parse_pixels(frame["pixels"], origin)
    name = PurePosixPath(origin).name
    ids = np.array([f"{name}:row {i + 2}" for i in range(len(frame))])
    hashes = np.array([_digest(" ".join(p.split()).encode()) for p in frame["pixels"]], dtype="S16")
    return FERData(images, labels, np.asarray(splits).astype(str), ids, hashes, {"format": fmt})


def read_csv_data(path: Path) -> FERData:
    """Read ``fer2013.csv``, ``icml_face_data.csv`` or ``train.csv`` (+ a ``test.csv`` beside it)."""
    frame = _read_csv(path, str(path))
    if "Usage" in frame.columns:
        fmt = "icml_face_data.csv" if path.name == "icml_face_data.csv" else "fer2013.csv"
        return frame_to_data(frame, str(path), fmt)
    if "emotion" in frame.columns:  # the competition's train.csv: all of it is Training
        train = frame_to_data(frame, str(path), "train.csv+test.csv", default_split="Training")
        test_path = path.with_name("test.csv")
        if not test_path.exists():
            warnings.warn(f"{path}: no Usage column and no test.csv beside it: only the Training split", stacklevel=2)
            return train
        test = frame_to_data(_read_csv(test_path, str(test_path)), str(test_path), "train.csv+test.csv", "Unlabelled")
        warnings.warn(
            f"{test_path} has no labels: its images are kept as the 'Unlabelled' split, and there is no "
            "PublicTest/PrivateTest to evaluate on; use fer2013.csv or icml_face_data.csv for that",
            stacklevel=2,
        )
        return concat([train, test])
    _require(frame, ("emotion", "pixels", "Usage"), str(path))
    raise AssertionError("unreachable")


def concat(parts: list[FERData]) -> FERData:
    """Join data sets (e.g. a training and a test file) into one."""
    return FERData(
        np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]),
        np.concatenate([p.splits for p in parts]), np.concatenate([p.source_ids for p in parts]),
        np.concatenate([p.content_hashes for p in parts]), dict(parts[0].info),
    )


# --------------------------------------------------------------------------- archives and dispatch


def _archive_csv(names: list[str]) -> str | None:
    for wanted in CSV_NAMES:
        for name in names:
            if PurePosixPath(name).name == wanted:
                return name
    return None


def read_archive(path: Path) -> FERData:
    """Read a ``.zip`` or ``.tar(.gz)`` of the image folders or of a FER-2013 CSV, without extracting."""
    origin = str(path)
    try:
        if path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as zf:
                csv_name = _archive_csv(zf.namelist())
                if csv_name:
                    frame = _read_csv(io.BytesIO(zf.read(csv_name)), f"{origin}:{csv_name}")
                    return frame_to_data(frame, f"{origin}:{csv_name}", PurePosixPath(csv_name).name)
                return images_from_entries(_zip_entries(zf), origin, "image-folder.zip")
        with tarfile.open(path, "r:*") as tf:
            names = tf.getnames()
            csv_name = _archive_csv(names)
            if csv_name:
                blob = tf.extractfile(csv_name).read()  # type: ignore[union-attr]
                frame = _read_csv(io.BytesIO(blob), f"{origin}:{csv_name}")
                return frame_to_data(frame, f"{origin}:{csv_name}", PurePosixPath(csv_name).name)
        with tarfile.open(path, "r:*") as tf:  # a second, streaming pass reads the images in order
            return images_from_entries(_tar_entries(tf), origin, "image-folder.tar.gz")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise DataFormatError(f"{origin}: unreadable or truncated archive ({exc})") from None


def find_image_root(folder: Path) -> Path | None:
    """The folder holding ``train/`` and ``test/`` (the given one, or one level below)."""
    for candidate in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        if (candidate / "train").is_dir() or (candidate / "test").is_dir():
            return candidate
    return None


def resolve_source(path: Path) -> Path:
    """The file or folder to read for a user-given path (a folder may hold a CSV or an archive)."""
    if not path.exists():
        raise DataNotFoundError(f"no FER-2013 at {path}\n\n{DOWNLOAD_HELP}")
    if path.is_file():
        return path
    for name in CSV_NAMES:
        if (path / name).is_file():
            return path / name
    root = find_image_root(path)
    if root is not None:
        return root
    archives = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(ARCHIVE_SUFFIXES))
    if len(archives) == 1:
        return archives[0]
    found = sorted(p.name for p in path.iterdir())[:10]
    raise DataFormatError(
        f"{path}: not a FER-2013 folder. Expected train/ and test/ class folders, one of {CSV_NAMES}, "
        f"or a single .zip/.tar.gz of them; found {found or 'nothing'}"
    )


def read_source(source: Path) -> FERData:
    """Decode a resolved source (see :func:`resolve_source`) into memory."""
    name = source.name.lower()
    if source.is_dir():
        return images_from_entries(_folder_entries(source), str(source), "image-folder")
    if name.endswith(ARCHIVE_SUFFIXES):
        return read_archive(source)
    if name.endswith(".csv"):
        return read_csv_data(source)
    raise DataFormatError(f"{source}: unsupported file; expected a folder, .zip, .tar.gz or .csv")
