"""The SetFit student: few-shot SetFit, its conversion to one torch classifier, and the exported graph's scores."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from tests.tiny import LABELS, sentences
from textslim.compress.onnx_export import export_to_onnx
from textslim.compress.quantize import quantize_dynamic
from textslim.compress.unstructured import global_magnitude_prune
from textslim.errors import TextslimError
from textslim.forms import STUDENT_FILE
from textslim.inference import OnnxClassifier, TorchClassifier
from textslim.students.setfit import SetFitClassifier, SetfitParams, build_setfit_student
from textslim.train.setfit import to_classifier

FRAME = sentences(40, seed=3).assign(label=lambda f: (f["label"] == "pos").astype("int64"))
SPLITS = {"train": FRAME, "validation": FRAME.head(10), "test": FRAME.tail(10)}
TEXTS = FRAME["text"].tolist()


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.fixture(scope="module")
def cfg(tiny_sentence_body):
    return SetfitParams(body=str(tiny_sentence_body), shots_per_class=4, num_iterations=2, contrastive_batch_size=8,
                        max_length=24)


@pytest.fixture(scope="module")
def built(cfg):
    torch.manual_seed(0)
    return build_setfit_student(SPLITS, LABELS, cfg, seed=0)


def test_few_shot_phase_uses_k_labelled_texts_and_leaves_the_rest_unlabelled(built):
    model, tokenizer, unlabelled, recipe = built
    assert isinstance(model, SetFitClassifier)
    assert recipe["labelled_texts"] == 2 * 4
    assert len(unlabelled) == recipe["unlabelled_texts"] == len(FRAME) - 8
    assert len(set(unlabelled)) == len(unlabelled)
    for split in ("validation", "test"):
        assert 0 <= recipe["few_shot"][split]["accuracy"] <= 1
    assert model.config.normalize is True


def test_converted_classifier_scores_like_predict_proba(cfg):
    from setfit import SetFitModel

    few_shot = SetFitModel.from_pretrained(cfg.body)
    embeddings = few_shot.model_body.encode(TEXTS)
    few_shot.model_head = LogisticRegression().fit(embeddings, FRAME["label"])
    model = to_classifier(few_shot, LABELS)
    batch = few_shot.model_body.tokenizer(TEXTS, padding=True, truncation=True, max_length=24, return_tensors="pt")
    with torch.no_grad():
        ours = torch.softmax(model(**batch).logits, -1).numpy()
    np.testing.assert_allclose(ours, np.asarray(few_shot.predict_proba(TEXTS)), atol=1e-5)


def test_multiclass_head_converts_too(cfg):
    from setfit import SetFitModel

    few_shot = SetFitModel.from_pretrained(cfg.body)
    three = np.arange(len(TEXTS)) % 3
    few_shot.model_head = LogisticRegression().fit(few_shot.model_body.encode(TEXTS), three)
    model = to_classifier(few_shot, ["a", "b", "c"])
    batch = few_shot.model_body.tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        ours = torch.softmax(model(**batch).logits, -1).numpy()
    np.testing.assert_allclose(ours, np.asarray(few_shot.predict_proba(TEXTS)), atol=1e-5)


def _describe_as_setfit(model_dir):
    """The description the distill stage writes: its recipe name picks the recipe's exporter (torch.onnx)."""
    (model_dir / STUDENT_FILE).write_text('{"strategy": "setfit", "max_length": 24}')


def test_a_setfit_model_without_a_recipe_exports_through_torch_onnx(built, tmp_path):
    # A SetFit teacher, or a layer subset of one, has no SetFit recipe in its record; optimum does not know its type.
    model, tokenizer, _, _ = built
    model.save_pretrained(tmp_path / "student")
    tokenizer.save_pretrained(tmp_path / "student")
    onnx = export_to_onnx(tmp_path / "student", tmp_path / "onnx")
    exported = OnnxClassifier(onnx.parent, onnx.name, max_length=24).logits(TEXTS)
    np.testing.assert_allclose(exported, TorchClassifier(tmp_path / "student", 24).logits(TEXTS), atol=1e-4)


def test_exported_graph_matches_the_setfit_models_predict_proba(cfg, tmp_path):
    from setfit import SetFitModel

    few_shot = SetFitModel.from_pretrained(cfg.body)
    few_shot.model_head = LogisticRegression().fit(few_shot.model_body.encode(TEXTS), FRAME["label"])
    model = to_classifier(few_shot, LABELS)
    model.save_pretrained(tmp_path / "student")
    few_shot.model_body.tokenizer.save_pretrained(tmp_path / "student")
    _describe_as_setfit(tmp_path / "student")
    export_to_onnx(tmp_path / "student", tmp_path / "onnx")
    onnx_scores = _softmax(OnnxClassifier(tmp_path / "onnx", "model.onnx", 24).logits(TEXTS))
    np.testing.assert_allclose(onnx_scores, np.asarray(few_shot.predict_proba(TEXTS)), atol=1e-4)


def test_setfit_student_survives_prune_and_int8(built, tmp_path):
    model, tokenizer, _, _ = built
    sparsity = global_magnitude_prune(model, 0.3)
    assert sparsity["linear_sparsity"] == pytest.approx(0.3, abs=1e-3)
    assert model.classifier.weight.count_nonzero() == model.classifier.weight.numel()  # the head stays dense
    model.save_pretrained(tmp_path / "pruned")
    tokenizer.save_pretrained(tmp_path / "pruned")
    _describe_as_setfit(tmp_path / "pruned")
    export_to_onnx(tmp_path / "pruned", tmp_path / "onnx")
    quantize_dynamic(tmp_path / "onnx", tmp_path / "int8", "avx2", per_channel=True)
    int8, fp32 = tmp_path / "int8" / "model_quantized.onnx", tmp_path / "onnx" / "model.onnx"
    assert int8.stat().st_size < fp32.stat().st_size


def test_more_shots_than_a_class_has_is_named_before_training(cfg):
    small = {**SPLITS, "train": pd.concat([FRAME[FRAME["label"] == 0], FRAME[FRAME["label"] == 1].head(3)])}
    with pytest.raises(TextslimError, match=r"setfit.shots_per_class: 4 exceeds the 3 training examples of class 1"):
        build_setfit_student(small, LABELS, cfg, seed=0)


def test_a_body_without_mean_pooling_is_rejected(cfg, tmp_path):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules as models
    from setfit import SetFitModel

    st = SentenceTransformer(cfg.body)
    cls_body = SentenceTransformer(modules=[st[0], models.Pooling(32, "cls")], device="cpu")
    few_shot = SetFitModel(model_body=cls_body, model_head=LogisticRegression().fit(
        cls_body.encode(TEXTS), FRAME["label"]))
    with pytest.raises(TextslimError, match="setfit.body: only mean-pooling"):
        to_classifier(few_shot, LABELS)
