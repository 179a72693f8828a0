"""Structured pruning: whole heads and FFN neurons go, and the smaller model reloads, exports to ONNX and quantizes."""

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from tests.tiny import FILLER, NEGATIVE, POSITIVE, sentences, tiny_config, write_vocab
from textslim.compress.onnx_export import export_to_onnx, parity
from textslim.compress.quantize import quantize_dynamic
from textslim.compress.structured import StructuredScores, encoder_layers, importance_scores, prune_structured
from textslim.errors import TextslimError
from textslim.forms import write_model_files
from textslim.inference import OnnxClassifier

ARCHS = ["bert", "mpnet"]
DATA = sentences(48, seed=5)
TEXTS, LABELS = DATA["text"].tolist(), DATA["label"].tolist()
HIDDEN, HEADS, HEAD_DIM, FFN, LAYERS = 32, 4, 8, 40, 2


@pytest.fixture(scope="module", params=ARCHS)
def model_dir(request, tmp_path_factory) -> Path:
    """A 2-layer tiny classifier with 4 heads of size 8 and FFN 40, saved with its architecture's tokenizer."""
    from transformers import BertTokenizerFast, MPNetTokenizerFast

    arch, out = request.param, tmp_path_factory.mktemp(request.param) / "model"
    out.mkdir()
    vocab = out / "vocab.txt"
    if arch == "bert":
        tokenizer = BertTokenizerFast(vocab_file=str(write_vocab(vocab)), do_lower_case=True, model_max_length=64)
    else:  # MPNet's own specials and ids (pad 1 sets its position ids); it feeds no token_type_ids
        vocab.write_text("\n".join(["<s>", "<pad>", "</s>", "<unk>"] + FILLER + POSITIVE + NEGATIVE + ["<mask>"]))
        tokenizer = MPNetTokenizerFast(vocab_file=str(vocab), do_lower_case=True, unk_token="<unk>",
                                       model_max_length=64)
    config = tiny_config(arch, layers=LAYERS, vocab_size=len(tokenizer))
    config.num_attention_heads, config.intermediate_size = HEADS, FFN
    torch.manual_seed(1)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def load(model_dir: Path):
    """The saved classifier in eval mode, and its tokenizer."""
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    return model, AutoTokenizer.from_pretrained(model_dir)


@torch.no_grad()
def logits(model, tokenizer, texts: list[str] = TEXTS[:16]) -> torch.Tensor:
    """The model's logits on a padded batch of texts."""
    return model(**tokenizer(texts, padding=True, truncation=True, max_length=32, return_tensors="pt")).logits


def n_params(model) -> int:
    """Every parameter of the model."""
    return sum(p.numel() for p in model.parameters())


def attention_shapes(model) -> list[tuple[int, int]]:
    """(query rows, output-projection columns) per layer: both are live heads x head size."""
    shapes = []
    for layer in encoder_layers(model):
        bert = hasattr(layer.attention, "self")
        query = layer.attention.self.query if bert else layer.attention.attn.q
        out = layer.attention.output.dense if bert else layer.attention.attn.o
        shapes.append((query.weight.shape[0], out.weight.shape[1]))
    return shapes


def test_pruning_nothing_keeps_logits(model_dir):
    model, tokenizer = load(model_dir)
    before = logits(model, tokenizer)
    scores = importance_scores(model, tokenizer, TEXTS, LABELS, max_length=32, batch_size=16, max_batches=2)
    report = prune_structured(model, head_fraction=0.0, ffn_fraction=0.0, scores=scores)
    assert torch.allclose(logits(model, tokenizer), before, atol=1e-6)
    assert report["params_before"] == report["params_after"] == n_params(model)
    assert report["heads_after"] == [HEADS] * LAYERS and report["intermediate_size_after"] == FFN


def test_importance_scores_have_the_right_shapes(model_dir):
    model, tokenizer = load(model_dir)
    scores = importance_scores(model, tokenizer, TEXTS, LABELS, max_length=32, batch_size=16, max_batches=2)
    assert scores.heads.shape == (LAYERS, HEADS) and scores.neurons.shape == (LAYERS, FFN)
    assert (scores.heads >= 0).all() and (scores.neurons >= 0).all() and scores.neurons.sum() > 0
    assert torch.allclose(scores.heads.norm(dim=1), torch.ones(LAYERS), atol=1e-5)  # per-layer L2, as in Michel et al.
    assert not model.training and not any(p.grad is not None for p in model.parameters())
    teacher = torch.randn(len(TEXTS), 2, generator=torch.Generator().manual_seed(0))
    distilled = importance_scores(model, tokenizer, TEXTS, LABELS, 32, batch_size=16, max_batches=1,
                                  teacher_logits=teacher)
    assert distilled.heads.shape == (LAYERS, HEADS) and (distilled.neurons >= 0).all() and distilled.neurons.sum() > 0


def test_head_scores_equal_head_mask_gradients(model_dir):
    """The hook on the attention output gives exactly the |d loss / d head_mask| of transformers' own head_mask."""
    model, tokenizer = load(model_dir)
    scores = importance_scores(model, tokenizer, TEXTS, LABELS, max_length=32, batch_size=16, max_batches=2)
    expected = torch.zeros(LAYERS, HEADS)
    labels = torch.tensor([model.config.label2id[y] for y in LABELS])
    for start in (0, 16):
        head_mask = torch.ones(LAYERS, HEADS, requires_grad=True)
        batch = tokenizer(TEXTS[start:start + 16], padding=True, truncation=True, max_length=32, return_tensors="pt")
        model(**batch, head_mask=head_mask, labels=labels[start:start + 16]).loss.backward()
        expected += head_mask.grad.abs()
    expected /= expected.norm(dim=1, keepdim=True)
    assert torch.allclose(scores.heads, expected, atol=1e-5)


def test_pruned_heads_equal_masked_heads(model_dir):
    """Removing heads {0: [0, 1], 1: [2]} gives the logits of zeroing them with head_mask (MPNet needs our fix)."""
    model, tokenizer = load(model_dir)
    head_mask = torch.ones(LAYERS, HEADS)
    head_mask[0, :2] = head_mask[1, 2] = 0
    with torch.no_grad():
        masked = model(**tokenizer(TEXTS[:16], padding=True, return_tensors="pt"), head_mask=head_mask).logits
    model.prune_heads({0: [0, 1], 1: [2]})
    assert torch.allclose(logits(model, tokenizer), masked, atol=1e-6)


def test_pruned_shapes_and_exact_parameter_count(model_dir):
    model, tokenizer = load(model_dir)
    scores = importance_scores(model, tokenizer, TEXTS, LABELS, max_length=32, batch_size=16, max_batches=2)
    before = n_params(model)
    report = prune_structured(model, head_fraction=0.5, ffn_fraction=0.25, scores=scores)
    kept_ffn = 30
    per_head = 3 * (HEAD_DIM * HIDDEN + HEAD_DIM) + HEAD_DIM * HIDDEN  # q, k, v rows and biases; output columns
    per_neuron = HIDDEN + 1 + HIDDEN  # intermediate row and bias; output column
    expected = before - 4 * per_head - LAYERS * (FFN - kept_ffn) * per_neuron
    assert n_params(model) == report["params_after"] == expected and report["params_before"] == before
    assert sum(report["heads_after"]) == 4 and min(report["heads_after"]) >= 1
    assert attention_shapes(model) == [(h * HEAD_DIM, h * HEAD_DIM) for h in report["heads_after"]]
    assert report["intermediate_size_after"] == model.config.intermediate_size == kept_ffn
    for layer in encoder_layers(model):
        assert layer.intermediate.dense.weight.shape == (kept_ffn, HIDDEN)
        assert layer.output.dense.weight.shape == (HIDDEN, kept_ffn)
    assert logits(model, tokenizer).shape == (16, 2)


def test_ranking_is_global_for_heads_and_per_layer_for_neurons(model_dir):
    model, _ = load(model_dir)
    original = copy.deepcopy(model)
    heads = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]])  # layer 0 holds the 4 lowest
    neurons = torch.arange(LAYERS * FFN, dtype=torch.float).view(LAYERS, FFN).flip(1)  # the first neurons score best
    report = prune_structured(model, 0.5, 0.25, StructuredScores(heads=heads, neurons=neurons))
    assert report["pruned_heads"] == {0: [0, 1, 2], 1: [0]}  # layer 0 keeps its best head; layer 1's worst goes
    assert model.config.pruned_heads == {0: [0, 1, 2], 1: [0]}
    for new, old in zip(encoder_layers(model), encoder_layers(original)):
        assert torch.equal(new.intermediate.dense.weight, old.intermediate.dense.weight[:30])
        assert torch.equal(new.intermediate.dense.bias, old.intermediate.dense.bias[:30])
        assert torch.equal(new.output.dense.weight, old.output.dense.weight[:, :30])


def test_uneven_heads_reload_export_and_quantize(model_dir, tmp_path):
    model, tokenizer = load(model_dir)
    heads = torch.tensor([[0.1, 0.2, 0.9, 0.9], [0.9, 0.9, 0.15, 0.9]])
    neurons = torch.rand(LAYERS, FFN, generator=torch.Generator().manual_seed(0))
    report = prune_structured(model, 3 / 8, 0.25, StructuredScores(heads=heads, neurons=neurons))
    assert report["heads_after"] == [2, 3]
    pruned_dir = tmp_path / "pruned"
    model.save_pretrained(pruned_dir)
    tokenizer.save_pretrained(pruned_dir)
    reloaded, _ = load(pruned_dir)
    assert attention_shapes(reloaded) == [(16, 16), (24, 24)] and n_params(reloaded) == report["params_after"]
    assert torch.allclose(logits(reloaded, tokenizer), logits(model, tokenizer), atol=1e-6)

    rescored = importance_scores(reloaded, tokenizer, TEXTS, LABELS, max_length=32, batch_size=16, max_batches=1)
    pruned = torch.tensor([[True, True, False, False], [False, False, True, False]])
    assert rescored.heads.isnan().equal(pruned) and (rescored.heads[~pruned] >= 0).all()

    onnx_dir, int8_dir = tmp_path / "onnx", tmp_path / "int8"
    export_to_onnx(pruned_dir, onnx_dir)
    assert parity(pruned_dir, onnx_dir, TEXTS, max_length=32, tolerance=1e-4)["argmax_agreement"] == 1.0
    parity(pruned_dir, onnx_dir, ["bad", "the movie was good but the plot was dull"], max_length=32, tolerance=1e-4)
    quantize_dynamic(onnx_dir, int8_dir, "avx2", per_channel=False)
    write_model_files(onnx_dir, int8_dir)
    fp32 = OnnxClassifier(onnx_dir, "model.onnx", 32).logits(TEXTS)
    int8 = OnnxClassifier(int8_dir, "model_quantized.onnx", 32).logits(TEXTS)
    margin = np.abs(fp32[:, 0] - fp32[:, 1])
    confident = margin > np.percentile(margin, 20)  # near-ties may flip under any rounding
    assert (fp32.argmax(-1) == int8.argmax(-1))[confident].mean() >= 0.9


@pytest.mark.parametrize("head_fraction, ffn_fraction, param", [
    (0.9, 0.0, "prune.head_fraction"),  # 7 of 8 heads would go: one of the two layers would be left without any
    (-0.1, 0.0, "prune.head_fraction"),
    (1.0, 0.0, "prune.head_fraction"),
    (0.0, -0.5, "prune.ffn_fraction"),
    (0.5, 1.0, "prune.ffn_fraction"),
])
def test_impossible_fractions_name_the_param(model_dir, head_fraction, ffn_fraction, param):
    model, _ = load(model_dir)
    scores = StructuredScores(heads=torch.rand(LAYERS, HEADS), neurons=torch.rand(LAYERS, FFN))
    before = n_params(model)
    with pytest.raises(TextslimError, match=param):
        prune_structured(model, head_fraction, ffn_fraction, scores)
    assert n_params(model) == before and not model.config.pruned_heads  # nothing half-pruned
