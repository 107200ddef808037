import numpy as np
import pytest
import torch

from fer_edu.data import synthetic_faces
from fer_edu.explain import METHODS, attribute, randomized_copy, rank_correlation, sanity_check
from fer_edu.models import ARCHITECTURES, build_model

pytest.importorskip("captum")


@pytest.fixture(scope="module")
def faces():
    return torch.from_numpy(synthetic_faces(6, 2, 2, seed=0).images[:3])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_method_on_every_model(name, method, faces):
    torch.manual_seed(0)
    model = build_model(name, 0.125).eval()
    maps = attribute(model, faces, method=method)
    assert maps.shape == (3, 48, 48) and np.isfinite(maps).all()
    assert not model.training  # never switched to train mode


def test_target_choice_changes_the_map(faces):
    torch.manual_seed(0)
    model = build_model("vgg11_lstm_attention", 0.125)
    a = attribute(model, faces, target=0, method="saliency")
    b = attribute(model, faces, target=3, method="saliency")
    assert not np.allclose(a, b)


def test_rank_correlation():
    rng = np.random.default_rng(0)
    a = rng.random((4, 48, 48))
    assert np.allclose(rank_correlation(a, a), 1.0)
    assert np.allclose(rank_correlation(a, 2 * a + 1), 1.0)
    assert np.abs(rank_correlation(a, rng.random((4, 48, 48)))).max() < 0.1


def test_randomized_copy_changes_every_layer_and_sanity_check_runs(faces):
    torch.manual_seed(0)
    model = build_model("vgg11_lstm_attention", 0.125).eval()
    control = randomized_copy(model, seed=1)
    changed = [not torch.equal(p, q) for (_, p), (_, q) in zip(model.named_parameters(), control.named_parameters())]
    assert all(changed[i] for i, (n, p) in enumerate(model.named_parameters()) if p.dim() > 1)
    result = sanity_check(model, faces, methods=("saliency",))
    assert -1 <= result["saliency"] <= 1


def test_unknown_method(faces):
    with pytest.raises(ValueError, match="unknown method"):
        attribute(build_model("vgg11", 0.125), faces, method="lime")
