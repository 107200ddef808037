"""Finding FER-2013, decoding it once, and loading it from a cache afterwards."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from .dataset import FERData
from .formats import ARCHIVE_SUFFIXES, CSV_NAMES, DOWNLOAD_HELP, DataNotFoundError, read_source, resolve_source
from .synthetic import synthetic_faces

CACHE_VERSION = 1  # bump when the decoded form changes, so old caches are not read
#: Where the repository keeps a reader's download (git-ignored).
REPO_DATA_DIR = Path(__file__).resolve().parents[2] / "data"


def cache_dir() -> Path:
    """``$FER_EDU_CACHE``, or ``~/.cache/fer_edu``."""
    return Path(os.environ.get("FER_EDU_CACHE", Path.home() / ".cache" / "fer_edu"))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fingerprint(source: Path) -> str:
    """sha256 of a source file (with ``test.csv`` for ``train.csv``), or of a folder's listing."""
    if source.is_file():
        digest = _sha256(source)
        sibling = source.with_name("test.csv")
        if source.name == "train.csv" and sibling.exists():
            digest = hashlib.sha256((digest + _sha256(sibling)).encode()).hexdigest()
        return digest
    h = hashlib.sha256()
    for p in sorted(source.rglob("*")):
        if p.is_file():
            st = p.stat()
            h.update(f"{p.relative_to(source).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _save_cache(path: Path, data: FERData) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez(
            tmp, images=data.images, labels=data.labels, splits=data.splits, source_ids=data.source_ids,
            content_hashes=data.content_hashes, info=np.array(json.dumps(data.info)),
        )
        os.replace(tmp, path)  # atomic: a reader never sees half a cache
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load_cache(path: Path) -> FERData:
    with np.load(path, allow_pickle=False) as z:
        return FERData(
            z["images"], z["labels"], z["splits"], z["source_ids"], z["content_hashes"],
            json.loads(str(z["info"])),
        )


def default_data_path() -> Path | None:
    """``$FER_EDU_DATA`` if set, else a download found in the repository's ``data/`` folder."""
    env = os.environ.get("FER_EDU_DATA")
    if env:
        return Path(env).expanduser()
    if REPO_DATA_DIR.is_dir():
        for entry in sorted(REPO_DATA_DIR.iterdir()):
            name = entry.name.lower()
            if name in CSV_NAMES or name.endswith(ARCHIVE_SUFFIXES) or (
                entry.is_dir() and ((entry / "train").is_dir() or (entry / "fer2013").is_dir())
            ):
                return entry
    return None


def load_fer2013(path: str | Path | None = None, *, use_cache: bool = True) -> FERData:
    """Load FER-2013 from ``path`` (or ``$FER_EDU_DATA``, or ``data/``), decoding it only once.

    The decoded arrays are cached under :func:`cache_dir`, keyed by the source's sha256 (a
    folder's: its listing with sizes and modification times), so a changed source is decoded anew.
    Raises :class:`DataNotFoundError`, with download instructions, when there is no data.
    """
    if path is None:
        path = default_data_path()
        if path is None:
            raise DataNotFoundError(f"no FER-2013 found (FER_EDU_DATA is not set, data/ is empty)\n\n{DOWNLOAD_HELP}")
    source = resolve_source(Path(path).expanduser())
    digest = fingerprint(source)
    cache_file = cache_dir() / f"fer2013-v{CACHE_VERSION}-{digest[:32]}.npz"
    if use_cache and cache_file.exists():
        try:
            return _load_cache(cache_file)
        except Exception as exc:  # a damaged cache is rebuilt, never trusted
            warnings.warn(f"ignoring unreadable cache {cache_file}: {exc}", stacklevel=2)
    data = read_source(source)
    data.info.update(
        source=str(source.resolve()), sha256=digest, synthetic=False, split_counts=data.split_counts(),
    )
    if use_cache:
        _save_cache(cache_file, data)
    return data


def load_dataset(path: str | Path | None = None, *, synthetic_fallback: bool = True, seed: int = 0) -> FERData:
    """FER-2013 if it can be found, otherwise (with a warning) the embedded synthetic faces.

    An explicit ``path`` that does not exist is an error, never silently replaced.
    """
    if path is not None or default_data_path() is not None or not synthetic_fallback:
        return load_fer2013(path)
    warnings.warn(
        "FER-2013 not found: using the embedded SYNTHETIC faces (numbers from them say nothing about "
        "FER-2013). Set FER_EDU_DATA to use the real data.",
        stacklevel=2,
    )
    return synthetic_faces(seed=seed)
