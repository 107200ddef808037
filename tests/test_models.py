import copy

import pytest
import torch

from fer_edu.experiments import SCALES
from fer_edu.models import ARCHITECTURES, VGGLSTM, RowAttention, build_model, count_parameters, for_inference


@pytest.mark.parametrize("scale", sorted(SCALES))
@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_architecture_at_every_scale_steps(name, scale):
    torch.manual_seed(0)
    model = build_model(name, SCALES[scale].width)
    x = torch.randn(2, 1, 48, 48)
    logits = model(x)
    assert logits.shape == (2, 7)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_parameter_counts_at_full_width():
    # The paper-size networks with a compact head: VGG19-BN about 20 M, the final model about 9.6 M.
    assert 19.5e6 < count_parameters(build_model("vgg19")) < 20.5e6
    assert 9.3e6 < count_parameters(build_model("vgg11_lstm_attention")) < 9.9e6


def test_lstm_reads_48_rows_as_time_steps():
    model = build_model("vgg11_lstm_attention", 0.25).eval()
    assert model.lstm.input_size == 48 and model.lstm.num_layers == 2 and model.lstm.batch_first
    _, weights = model(torch.randn(3, 1, 48, 48), return_attention=True)
    assert weights.shape == (3, 48)
    assert torch.allclose(weights.sum(1), torch.ones(3))


def test_tanh_attention_is_bounded_by_e_squared():
    att = RowAttention(16, "tanh")
    torch.nn.init.constant_(att.score.weight, 100.0)  # saturate the scores
    states = torch.randn(4, 48, 16) * 10
    _, w = att(states)
    assert (w.max(1).values / w.min(1).values).max() <= torch.e**2 * 1.0001


def test_additive_attention_is_not_bounded():
    att = RowAttention(16, "additive")
    torch.nn.init.constant_(att.score.weight, 50.0)
    torch.nn.init.normal_(att.project.weight, std=3.0)
    _, w = att(torch.randn(4, 48, 16) * 10)
    assert (w.max(1).values / w.min(1).values).max() > 100


def test_dropout_variant_has_dropout_after_pools():
    model = build_model("vgg11_lstm_dropout", 0.25)
    layers = list(model.features)
    pools = [i for i, m in enumerate(layers) if isinstance(m, torch.nn.MaxPool2d)]
    assert all(isinstance(layers[i + 1], torch.nn.Dropout2d) for i in pools)


def test_unknown_architecture():
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("resnet50")
    with pytest.raises(ValueError, match="unknown attention"):
        VGGLSTM(attention="dot")


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_a_model_prepared_for_inference_predicts_as_it_was_trained(name):
    torch.manual_seed(0)
    model = build_model(name, 0.25)
    for m in model.modules():  # batch norms that have learned something, so folding them matters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
            torch.nn.init.uniform_(m.bias, -0.5, 0.5)
    model.eval()
    prepared = for_inference(copy.deepcopy(model))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in prepared.modules())
    assert not prepared.training
    with torch.no_grad():
        for batch in (1, 3):
            x = torch.randn(batch, 1, 48, 48)
            expected = model(x)
            assert torch.allclose(prepared(x), expected, atol=1e-4, rtol=1e-4)
    assert prepared(x).argmax(1).tolist() == expected.argmax(1).tolist()
