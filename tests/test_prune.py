"""Global magnitude pruning reaches the asked sparsity on the encoder and leaves the head alone."""

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from tests.tiny import tiny_config
from textslim.compress.unstructured import global_magnitude_prune, prunable_linears


def _model():
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(tiny_config("bert", layers=2))


@pytest.mark.parametrize("amount", [0.3, 0.5, 0.9])
def test_achieved_sparsity_matches_amount(amount):
    model = _model()
    head = model.classifier.weight.clone()
    report = global_magnitude_prune(model, amount)
    assert report["linear_sparsity"] == pytest.approx(amount, abs=1e-3)
    zeros = sum(int((m.weight == 0).sum()) for _, m in prunable_linears(model))
    assert zeros / report["pruned_weights"] == pytest.approx(amount, abs=1e-3)
    assert torch.equal(model.classifier.weight, head)
    # Permanent: no masks or reparametrisation hooks left behind, plain weights that save and export.
    assert not any(name.endswith("_orig") for name, _ in model.named_parameters())


def test_the_smallest_weights_go_first():
    model = _model()
    weights = torch.cat([m.weight.detach().abs().flatten() for _, m in prunable_linears(model)])
    threshold = weights.kthvalue(int(0.4 * weights.numel())).values
    global_magnitude_prune(model, 0.4)
    for _, module in prunable_linears(model):
        kept = module.weight[module.weight != 0].abs()
        assert kept.min() >= threshold - 1e-7


def test_amount_zero_is_a_no_op():
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = global_magnitude_prune(model, 0.0)
    assert report["linear_sparsity"] == 0.0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_prunable_linears_are_the_encoders():
    names = [name for name, _ in prunable_linears(_model())]
    assert "bert.encoder.layer.0.attention.self.query" in names
    assert "bert.pooler.dense" in names
    assert not any(name.startswith("classifier") for name in names)
