

from fer_edu.data import cache_dir, load_fer2013
from fer_edu.data import load as load_module


def test_second_load_comes_from_the_cache(fer_csv, monkeypatch):
    first = load_fer2013(fer_csv)
    assert len(list(cache_dir().glob("*.npz"))) == 1

    def refuse(*_):
        raise AssertionError("decoded again instead of reading the cache")

    monkeypatch.setattr(load_module, "read_source", refuse)
    second = load_fer2013(fer_csv)
    for name in ("images", "labels", "splits", "source_ids", "content_hashes"):
        assert (getattr(first, name) == getattr(second, name)).all()
    assert first.info == second.info


def test_changed_source_is_decoded_again(fer_csv):
    first = load_fer2013(fer_csv)
    lines = fer_csv.read_text().splitlines()
    label, pixels, usage = lines[1].split(",")
    lines[1] = ",".join([str((int(label) + 1) % 7), pixels, usage])
    fer_csv.write_text("\n".join(lines) + "\n")
    second = load_fer2013(fer_csv)
    assert first.info["sha256"] != second.info["sha256"]
    assert (first.labels != second.labels).sum() == 1
    assert len(list(cache_dir().glob("*.npz"))) == 2


def test_changed_folder_is_decoded_again(image_folder):
    first = load_fer2013(image_folder)
    victim = next(image_folder.rglob("*.png"))
    victim.unlink()
    assert len(load_fer2013(image_folder)) == len(first) - 1


def test_damaged_cache_is_rebuilt(fer_csv):
    load_fer2013(fer_csv)
    (cached,) = cache_dir().glob("*.npz")
    cached.write_bytes(b"garbage")
    import pytest

    with pytest.warns(UserWarning, match="ignoring unreadable cache"):
        data = load_fer2013(fer_csv)
    assert len(data) == 35


def test_cache_can_be_bypassed(fer_csv):
    load_fer2013(fer_csv, use_cache=False)
    assert not list(cache_dir().glob("*.npz"))
