"""The prune stage's recipe on tiny students: vocabulary trimmed, heads and neurons removed, recovery trained, and
the unstructured fallback for model types structured pruning does not know."""

import copy

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from tests.tiny import make_tiny_model, sentences
from textslim.compress.student import compress_student
from textslim.errors import TextslimError
from textslim.inference import load_torch_model
from textslim.param_types import build_section
from textslim.params import PruneParams
from textslim.students.lstm import BiLstmConfig, BiLstmForSequenceClassification
from textslim.train.losses import LossWeights

FRAME = sentences(64, seed=3).assign(label=lambda f: (f["label"] == "pos").astype("int64"))
SPLITS = {"train": FRAME, "validation": FRAME.head(16), "test": FRAME.tail(16)}
LOGITS = {name: np.where(frame["label"].to_numpy()[:, None] == 1, [-1.0, 1.0], [1.0, -1.0]).astype(np.float32)
          for name, frame in SPLITS.items()}
KD = LossWeights.from_alpha(0.5, 2.0)


def _spy_on(monkeypatch, name: str, note) -> None:
    """Wrap the prune recipe's `name` so that note(model, kwargs) sees every call before it runs."""
    import textslim.compress.student as recipe

    real = getattr(recipe, name)

    def spy(model, *args, **kwargs):
        note(model, kwargs)
        return real(model, *args, **kwargs)

    monkeypatch.setattr(recipe, name, spy)


@pytest.fixture
def student(tmp_path):
    model_dir = make_tiny_model(tmp_path / "student", "bert", layers=2, seed=1)
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(model_dir), AutoTokenizer.from_pretrained(model_dir)


def test_structured_prune_trims_prunes_recovers_and_reloads(student, tmp_path):
    model, tokenizer = student
    cfg = PruneParams(method="structured", head_fraction=0.5, ffn_fraction=0.5, importance_texts=32,
                      recovery_epochs=1)
    model, tokenizer, report = compress_student(model, tokenizer, SPLITS, LOGITS, cfg, KD, max_length=24, seed=0)
    assert report["method"] == "structured"
    assert report["structured"]["heads_after"] == [1, 1]  # 2 heads per layer, half removed, one left in each
    assert report["structured"]["intermediate_size_after"] == round(0.5 * 37)
    assert len(report["recovery"]) == 1 and "eval_macro_f1" in report["recovery"][0]
    assert report["vocabulary"]["vocab_after"] <= report["vocabulary"]["vocab_before"]
    assert report["vocabulary"]["trimmed_to_texts"] == len(SPLITS["train"])
    assert {"validation_texts_with_dropped_tokens", "test_texts_with_dropped_tokens"} <= set(report["vocabulary"])
    assert report["params"] == sum(p.numel() for p in model.parameters()) < report["params_before"]
    model.save_pretrained(tmp_path / "pruned")
    tokenizer.save_pretrained(tmp_path / "pruned")
    again = load_torch_model(tmp_path / "pruned").eval()
    batch = AutoTokenizer.from_pretrained(tmp_path / "pruned")(FRAME["text"].tolist()[:8], padding=True,
                                                                return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(again(**batch).logits, model.eval()(**batch).logits, atol=1e-6)


def test_recovery_layer_loss_pulls_towards_the_unpruned_student(student, monkeypatch):
    """recovery_hidden_weight > 0: the recovery's loss adds the layer loss against the trimmed, unpruned student."""
    seen = {}
    _spy_on(monkeypatch, "train_classifier",
            lambda model, kwargs: seen.update(kwargs, pruned_params=sum(p.numel() for p in model.parameters())))
    model, tokenizer = student
    cfg = PruneParams(method="structured", head_fraction=0.5, ffn_fraction=0.5, importance_texts=32,
                      recovery_epochs=1, recovery_hidden_weight=2.0)
    model, _, report = compress_student(model, tokenizer, SPLITS, LOGITS, cfg, KD, max_length=24, seed=0)
    assert seen["loss_weights"].hidden == 2.0 and seen["loss_weights"].soft == KD.soft
    assert seen["layer_map"] == [0, 1]
    unpruned = seen["teacher"]
    assert sum(p.numel() for p in unpruned.parameters()) > seen["pruned_params"]  # the copy kept every head
    assert unpruned.config.vocab_size == report["vocabulary"]["vocab_after"]  # it reads the trimmed ids
    assert len(report["recovery"]) == 1


def test_gradual_pruning_rescores_each_step_and_ends_where_one_shot_does(student, monkeypatch):
    """prune.steps 2: scored twice (the second time on the half-pruned model), a recovery after each step, and the
    same shapes at the end as pruning at once."""
    sizes = []
    _spy_on(monkeypatch, "importance_scores", lambda model, kwargs: sizes.append(model.config.intermediate_size))
    model, tokenizer = student
    cfg = PruneParams(method="structured", head_fraction=0.5, ffn_fraction=0.5, importance_texts=32,
                      recovery_epochs=1, steps=2)
    model, _, report = compress_student(model, tokenizer, SPLITS, LOGITS, cfg, KD, max_length=24, seed=0)
    assert sizes == [37, round(0.75 * 37)]
    assert [sum(step["heads_after"]) for step in report["structured"]["steps"]] == [3, 2]
    assert report["structured"]["heads_before"] == [2, 2] and report["structured"]["heads_after"] == [1, 1]
    assert report["structured"]["intermediate_size_before"] == 37
    assert report["structured"]["intermediate_size_after"] == model.config.intermediate_size == round(0.5 * 37)
    assert sum(map(len, report["structured"]["pruned_heads"].values())) == 2
    assert len(report["recovery"]) == 2  # one epoch after each step


@pytest.mark.parametrize("heads, ffn, head_fraction, ffn_fraction, steps", [
    (36, 1536, 0.5, 0.75, 1), (36, 1536, 0.5, 0.75, 2), (36, 1536, 0.5, 0.75, 3), (3, 37, 0.5, 0.5, 1),
    (72, 1536, 0.34, 0.67, 4)])
def test_step_fractions_land_on_the_one_shot_counts(heads, ffn, head_fraction, ffn_fraction, steps):
    """Applied with heads_to_prune's and prune_ffn's rounding, each step leaves round(total * fraction * k / steps)
    removed, and the last step the count a one-shot prune leaves."""
    from textslim.compress.student import step_fractions

    cfg = PruneParams(head_fraction=head_fraction, ffn_fraction=ffn_fraction, steps=steps)
    heads_left, ffn_left = heads, ffn
    for step in range(1, steps + 1):
        head_step, ffn_step = step_fractions(cfg, step, (heads, heads_left), (ffn, ffn_left))
        assert 0 <= head_step < 1 and 0 <= ffn_step < 1
        heads_left -= round(heads_left * head_step)  # heads_to_prune's count
        ffn_left = max(1, round((1 - ffn_step) * ffn_left))  # prune_ffn's
        assert heads - heads_left == round(heads * head_fraction * step / steps)
        assert ffn_left == round(ffn * (1 - ffn_fraction * step / steps))
    assert heads - heads_left == round(heads * head_fraction) and ffn_left == round((1 - ffn_fraction) * ffn)


def test_method_none_and_full_vocabulary_change_nothing(student):
    model, tokenizer = student
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = PruneParams(method="none", vocabulary="full")
    model, same, report = compress_student(model, tokenizer, SPLITS, LOGITS, cfg, KD, max_length=24, seed=0)
    assert same is tokenizer and "vocabulary" not in report and report["method"] == "none"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_unknown_model_types_fall_back_to_unstructured():
    torch.manual_seed(0)
    lstm = BiLstmForSequenceClassification(BiLstmConfig(vocab_size=30, embedding_dim=8, hidden_size=8))
    cfg = PruneParams(method="structured", amount=0.5)
    _, _, report = compress_student(lstm, None, SPLITS, LOGITS, cfg, KD, max_length=24, seed=0)
    assert report["method"] == "unstructured" and report["requested_method"] == "structured"
    assert "not textslim-bilstm" in report["note"]
    assert report["linear_sparsity"] == pytest.approx(0.5, abs=1e-3)


def test_extra_vocabulary_keeps_what_its_corpora_use(student, monkeypatch, tmp_path):
    """prune.extra_vocabulary: a builtin:NAME, a text file, or a list of them; the trimmed vocabulary keeps the entries
    they tokenize to beside the training texts'."""
    import textslim.corpora as corpora

    monkeypatch.setitem(corpora.BUILTIN_CORPORA, "news-sentences", lambda: FRAME["text"].tolist()[:32])
    (tmp_path / "served.txt").write_text("\n".join(FRAME["text"].tolist()[32:]) + "\n")
    model, tokenizer = student
    few = {**SPLITS, "train": FRAME.head(4)}  # a handful of training texts: most of the vocabulary goes unused
    sizes = {}
    for extra in (None, "builtin:news-sentences", str(tmp_path / "served.txt"),
                  ["builtin:news-sentences", str(tmp_path / "served.txt")]):
        cfg = build_section(PruneParams, {"method": "none", "extra_vocabulary": extra}, "prune")
        cfg.validate()
        _, _, report = compress_student(copy.deepcopy(model), tokenizer, few, LOGITS, cfg, KD, max_length=24, seed=0)
        sizes[str(extra)] = report["vocabulary"]["vocab_after"]
    _, _, whole = compress_student(copy.deepcopy(model), tokenizer, SPLITS, LOGITS, PruneParams(method="none"), KD,
                                   max_length=24, seed=0)
    both = sizes[str(["builtin:news-sentences", str(tmp_path / "served.txt")])]
    assert sizes["None"] < sizes["builtin:news-sentences"] <= both == whole["vocabulary"]["vocab_after"]
    assert sizes["None"] < sizes[str(tmp_path / "served.txt")] <= both


def test_extra_vocabulary_names_an_unknown_builtin(student):
    model, tokenizer = student
    cfg = PruneParams(method="none", extra_vocabulary="builtin:nope")
    cfg.validate()  # the name is checked where the corpus is read
    with pytest.raises(TextslimError, match=r"prune.extra_vocabulary: unknown built-in 'builtin:nope'.*news"):
        compress_student(model, tokenizer, SPLITS, LOGITS, cfg, KD, max_length=24, seed=0)
