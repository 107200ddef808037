"""CUDA paths: skipped cleanly without a GPU (run them on the lent GPU machine)."""

import pytest
import torch

from fer_edu.data import synthetic_faces

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_engine_trains_on_cuda_with_the_data_on_the_gpu():
    from fer_edu.train import TrainConfig, train

    cfg = TrainConfig(width=0.125, epochs=2, batch_size=32, lr=3e-3, schedule="onecycle")
    r = train(cfg, synthetic_faces(96, 48, 48), seed=0, device="cuda", progress=False)
    assert r["device_kind"] == "cuda" and 0 <= r["private_accuracy"] <= 1


def test_attribution_of_the_lstm_hybrid_on_cuda_in_eval_mode():
    from fer_edu.explain import METHODS, attribute
    from fer_edu.models import build_model

    model = build_model("vgg11_lstm_attention", 0.125).cuda().eval()
    faces = torch.from_numpy(synthetic_faces(6, 2, 2).images[:4])
    for method in METHODS:
        maps = attribute(model, faces, method=method)
        assert maps.shape == (4, 48, 48)
    assert not model.training and torch.backends.cudnn.enabled  # restored after the attribution
