import numpy as np
import pytest

from fer_edu.metrics import bootstrap_difference, confusion_matrix, mcnemar, scores, standard_error


def test_scores_by_hand():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([0, 1, 1, 1, 2, 0])
    s = scores(y, p)
    assert s["accuracy"] == pytest.approx(4 / 6)
    assert s["recall"][:3] == pytest.approx([0.5, 1.0, 0.5])
    assert s["precision"][:3] == pytest.approx([0.5, 2 / 3, 1.0])
    assert np.array(s["confusion"])[0, 1] == 1 and confusion_matrix(y, p).sum() == 6


def test_standard_error_on_privatetest():
    assert standard_error(0.65, 3589) == pytest.approx(0.00796, abs=1e-4)


def test_mcnemar_and_bootstrap():
    a = np.array([1] * 60 + [0] * 40, bool)
    b = a.copy()
    assert mcnemar(a, b)["p_value"] == 1.0
    b[:20] = False  # b misses 20 that a gets
    r = mcnemar(a, b)
    assert r["only_a"] == 20 and r["only_b"] == 0 and r["p_value"] < 1e-5
    d = bootstrap_difference(a, b)
    assert d["difference"] == pytest.approx(0.2) and d["low"] > 0


def test_probabilities_round_trip_through_text():
    from fer_edu.metrics import decode_probabilities, encode_probabilities

    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(7), size=50).astype(np.float32)
    back = decode_probabilities(encode_probabilities(p))
    assert back.shape == (50, 7) and np.abs(back - p).max() < 1e-3
    assert (back.argmax(1) == p.argmax(1)).mean() > 0.95


def test_packed_probabilities_are_exact_smaller_and_read_the_first_format():
    import base64

    from fer_edu.metrics import PACKED, decode_probabilities, encode_probabilities

    rng = np.random.default_rng(0)
    logits = 3 * rng.standard_normal((2000, 7))
    p = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
    packed = encode_probabilities(p)
    as_f16 = p.astype("<f2")
    assert packed.startswith(PACKED)
    assert np.array_equal(decode_probabilities(packed), as_f16.astype(np.float32))  # lossless past float16
    # the first format, as results written before packing hold it
    plain = base64.b64encode(as_f16.tobytes()).decode("ascii")
    assert np.array_equal(decode_probabilities(plain), decode_probabilities(packed))
    assert len(packed) < 0.95 * len(plain)  # 0.89 here; 0.77 for a trained network's outputs
