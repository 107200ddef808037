"""Checks against the real FER-2013 (skipped cleanly when it is not present)."""

import time

import pytest

from fer_edu.data import CLASSES, default_data_path, load_fer2013, quality_report

pytestmark = pytest.mark.realdata

# From the data README (checked there against the original fer2013.csv).
COUNTS = {
    "Training": dict(angry=3995, disgust=436, fear=4097, happy=7215, sad=4830, surprise=3171, neutral=4965),
    "PublicTest": dict(angry=467, disgust=56, fear=496, happy=895, sad=653, surprise=415, neutral=607),
    "PrivateTest": dict(angry=491, disgust=55, fear=528, happy=879, sad=594, surprise=416, neutral=626),
}


def test_exact_counts(real_data):
    counts = real_data.counts()
    assert real_data.split_counts() == {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}
    for split, expected in COUNTS.items():
        assert {c: counts[split][c] for c in CLASSES} == expected


def test_duplicate_figures(real_data):
    report = quality_report(real_data)
    if real_data.info["format"].startswith("image-folder"):  # the JPEG copy of the data README
        b = report.byte_identical
        assert (b.images, b.distinct, b.groups, b.cross_split_groups, b.conflicting_groups) == (
            35887, 34034, 1516, 557, 57)
    assert report.training_in_test > 0 and len(report.blank) > 0


@pytest.mark.slow
def test_first_load_under_30s_and_cached_under_2s(real_data, tmp_path, monkeypatch):
    monkeypatch.setenv("FER_EDU_CACHE", str(tmp_path))
    path = default_data_path()
    start = time.perf_counter()
    load_fer2013(path)
    first = time.perf_counter() - start
    start = time.perf_counter()
    load_fer2013(path)
    cached = time.perf_counter() - start
    print(f"first load {first:.1f} s, cached load {cached:.2f} s")
    assert first <= 30 and cached <= 2
