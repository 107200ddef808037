import numpy as np

from fer_edu.data import FERData, drop_random_training, drop_test_duplicates, quality_report


def _toy() -> FERData:
    """Six images: 0=1 (both Training, same label), 2=3 (Training/PublicTest, labels differ), a blank one."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 48, 48), dtype=np.uint8)
    images[1] = images[0]
    images[3] = images[2]
    images[5] = 128
    labels = np.array([3, 3, 4, 5, 0, 6])
    splits = np.array(["Training", "Training", "Training", "PublicTest", "PrivateTest", "Training"])
    ids = np.array([f"img{i}" for i in range(6)])
    hashes = np.array([b"a", b"a", b"c", b"d", b"e", b"f"], dtype="S16")  # 2 and 3: same pixels, other bytes
    return FERData(images, labels, splits, ids, hashes, {})


def test_report_counts_groups_cross_split_conflicts_and_blanks():
    r = quality_report(_toy())
    assert (r.byte_identical.distinct, r.byte_identical.groups, r.byte_identical.cross_split_groups) == (5, 1, 0)
    p = r.pixel_identical
    assert (p.distinct, p.groups, p.images_in_groups, p.cross_split_groups, p.conflicting_groups) == (4, 2, 4, 1, 1)
    assert r.training_in_test == 1
    assert r.blank == ["img5"]
    assert any("blank images" in line for line in r.lines())


def test_drop_test_duplicates_removes_only_training_copies():
    kept = drop_test_duplicates(_toy())
    assert list(kept.source_ids) == ["img0", "img1", "img3", "img4", "img5"]


def test_drop_random_training_drops_as_many_other_training_images_and_keeps_the_copies():
    # img2 is Training's one copy of a test image: the control drops one random other Training image
    for seed in range(5):
        kept = drop_random_training(_toy(), seed)
        dropped = set(_toy().source_ids) - set(kept.source_ids)
        assert len(dropped) == 1 and dropped <= {"img0", "img1", "img5"}
    assert len({tuple(drop_random_training(_toy(), s).source_ids) for s in range(20)}) > 1  # seeds differ


def test_conflicting_groups_and_blanks():
    from fer_edu.data import blank_images, conflicting_groups

    groups = conflicting_groups(_toy())
    assert [list(g) for g in groups] == [[2, 3]]
    assert list(blank_images(_toy())) == [5]
