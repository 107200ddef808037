import numpy as np
import pytest

from fer_edu.data import ALPHABETICAL, CLASSES, PAPER, convert_labels, order, permutation, reorder_per_class


def test_canonical_order_is_fer2013_csv():
    assert CLASSES == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def test_alphabetical_is_imagefolder_order():
    # ImageFolder sorts folder names; neutral comes before sad and surprise.
    assert ALPHABETICAL == ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def test_paper_order_from_the_data_readme():
    # The data README's table: the paper's index of each class in canonical order.
    expected = {"angry": 2, "disgust": 3, "fear": 4, "happy": 0, "sad": 1, "surprise": 5, "neutral": 6}
    assert {c: PAPER.index(c) for c in CLASSES} == expected


def test_conversions_map_names_not_numbers():
    for src in ("canonical", "alphabetical", "paper"):
        for dst in ("canonical", "alphabetical", "paper"):
            labels = np.arange(7)
            converted = convert_labels(labels, src, dst)
            assert [order(dst)[j] for j in converted] == list(order(src))
            assert (convert_labels(converted, dst, src) == labels).all()


def test_happy_in_the_paper_is_3_in_canonical_and_alphabetical():
    assert convert_labels([0], "paper", "canonical")[0] == 3
    assert convert_labels([4], "alphabetical", "canonical")[0] == 6  # neutral
    assert list(permutation("canonical", "alphabetical")) == [0, 1, 2, 3, 5, 6, 4]


def test_paper_alpha_vector_reordered():
    paper_alpha = [1.0, 1.2, 1.1, 1.3, 1.1, 1.0, 1.1]  # happy, sad, angry, disgust, fear, surprise, neutral
    alpha = reorder_per_class(paper_alpha, "paper", "canonical")
    assert dict(zip(CLASSES, alpha)) == {
        "angry": 1.1, "disgust": 1.3, "fear": 1.1, "happy": 1.0, "sad": 1.2, "surprise": 1.0, "neutral": 1.1,
    }


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown label order"):
        order("kaggle")
    with pytest.raises(ValueError, match="0..6"):
        convert_labels([7], "paper", "canonical")
    with pytest.raises(ValueError, match="7 entries"):
        reorder_per_class([1.0, 2.0], "paper", "canonical")
