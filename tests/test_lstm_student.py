"""The BiLSTM student: its word vocabulary, HF round trips, padding invariance, GloVe, ONNX + INT8, pruning."""

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn.utils import prune
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from tests.tiny import LABELS, sentences
from textslim.errors import TextslimError
from textslim.students.lstm import (
    GLOVE,
    BiLstmConfig,
    BiLstmForSequenceClassification,
    build_lstm_student,
    build_word_tokenizer,
    embedding_matrix,
    prunable_lstm_weights,
    word_vectors,
)
from textslim.students.torch_export import export_torch_onnx

ENGLISH = ["The film was a charming, clever story about friendship.",
           "A boring and tedious movie; the acting felt flat.",
           "Great music, warm characters and a moving ending!",
           "I hated the plot, but the photography was beautiful."]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return sentences(40)["text"].tolist()


def _student(texts: list[str], seed: int = 0):
    return build_lstm_student(texts, LABELS, "word2vec", embedding_dim=16, hidden_size=16, dropout=0.1, min_count=1,
                              max_vocab=1000, seed=seed)


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory, texts) -> Path:
    """A student trained a few steps on the tiny data (so its logits mean something), saved with its tokenizer."""
    model, tokenizer, _ = _student(texts)
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    labels = torch.tensor([i % 2 for i in range(len(texts))])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    model.train()
    for _ in range(30):
        optimizer.zero_grad()
        model(**batch, labels=labels).loss.backward()
        optimizer.step()
    out = tmp_path_factory.mktemp("lstm") / "model"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _ort_logits(path: Path, tokenizer, texts: list[str]) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch = tokenizer(texts, padding=True, return_tensors="np")
    return session.run(["logits"], {k: batch[k].astype(np.int64) for k in ("input_ids", "attention_mask")})[0]


def _torch_logits(model, tokenizer, texts: list[str]) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(**tokenizer(texts, padding=True, return_tensors="pt")).logits.numpy()


def test_vocabulary_round_trips_and_unknown_words_map_to_unk(tmp_path, texts):
    tokenizer = build_word_tokenizer(texts, min_count=1, max_vocab=1000)
    assert tokenizer.convert_tokens_to_ids(["[PAD]", "[UNK]"]) == [0, 1]
    assert tokenizer.model_input_names == ["input_ids", "attention_mask"]
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    probe = texts + ["The ZEBRA quokka, good?"]
    assert reloaded(probe)["input_ids"] == tokenizer(probe)["input_ids"]
    ids = reloaded("the zebra quokka good")["input_ids"]
    assert ids[1:3] == [1, 1] and 1 not in (ids[0], ids[3])
    assert "token_type_ids" not in reloaded("good")
    # Deterministic, frequency-ordered, capped.
    assert build_word_tokenizer(texts, 1, 1000).get_vocab() == tokenizer.get_vocab()
    small = build_word_tokenizer(texts, min_count=1, max_vocab=6)
    assert len(small) == 6 and set(small.get_vocab()) <= set(tokenizer.get_vocab())
    counts = Counter(word for text in texts for word in text.split())  # the tiny texts are lowercase, no punctuation
    frequent = set(build_word_tokenizer(texts, min_count=3, max_vocab=1000).get_vocab()) - {"[PAD]", "[UNK]"}
    assert frequent == {word for word, count in counts.items() if count >= 3}
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    assert tokenizer.convert_ids_to_tokens(list(range(2, len(tokenizer)))) == ranked


def test_model_saves_and_reloads_with_identical_logits(tmp_path, texts):
    model, tokenizer, recipe = _student(texts)
    assert recipe["recipe"] == "lstm" and recipe["vocab_size"] == len(tokenizer) and recipe["coverage"] == 1.0
    assert model.base_model is model.bilstm
    assert {n.split(".")[0] for n, _ in model.named_parameters()} == {"bilstm", "classifier"}
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert isinstance(reloaded, BiLstmForSequenceClassification)
    assert reloaded.config.id2label == {0: "neg", 1: "pos"}
    tok = AutoTokenizer.from_pretrained(tmp_path)
    np.testing.assert_array_equal(_torch_logits(model, tokenizer, texts[:5]), _torch_logits(reloaded, tok, texts[:5]))


@pytest.mark.parametrize("num_layers", [1, 2])
def test_padding_does_not_change_logits(texts, num_layers):
    tokenizer = build_word_tokenizer(texts, 1, 1000)
    torch.manual_seed(0)
    model = BiLstmForSequenceClassification(BiLstmConfig(vocab_size=len(tokenizer), embedding_dim=16, hidden_size=16,
                                                         num_layers=num_layers, num_labels=2)).eval()
    short, long = "good movie", " ".join(texts[:3])
    alone = _torch_logits(model, tokenizer, [short])[0]
    batch = tokenizer([long, short], padding=True, return_tensors="pt")
    assert batch["attention_mask"][1].sum() < batch["attention_mask"].shape[1]  # the short one really is padded
    padded = _torch_logits(model, tokenizer, [long, short])[1]
    np.testing.assert_allclose(padded, alone, atol=1e-5)


def test_one_optimizer_step_lowers_the_loss(texts):
    model, tokenizer, _ = _student(texts)
    model.eval()  # no dropout: the two losses see the same function
    batch = tokenizer(texts[:16], padding=True, return_tensors="pt")
    labels = torch.tensor([i % 2 for i in range(16)])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    before = model(**batch, labels=labels).loss
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = model(**batch, labels=labels).loss
    assert after < before


@pytest.fixture(scope="module")
def glove():
    return word_vectors(GLOVE, [], 16, seed=0)


def test_glove_covers_english_and_fills_rows(glove):
    model, tokenizer, recipe = build_lstm_student(ENGLISH, LABELS, GLOVE, embedding_dim=16, hidden_size=8,
                                                  dropout=0.0, min_count=1, max_vocab=1000, seed=0)
    assert recipe["coverage"] > 0.5 and recipe["embedding_dim"] == 50 and "note" in recipe
    assert model.config.embedding_dim == 50
    weight = model.bilstm.embeddings.weight.detach()
    for word in ("film", "charming", ",", "boring"):
        np.testing.assert_array_equal(weight[tokenizer.convert_tokens_to_ids(word)].numpy(), glove[word])
    assert torch.count_nonzero(weight[0]) == 0
    again = embedding_matrix(tokenizer, glove, seed=0)
    assert torch.equal(again, weight)  # the random rows for unknown words are seeded too


def test_unknown_embedding_source_names_the_param():
    with pytest.raises(TextslimError) as error:
        build_lstm_student(ENGLISH, LABELS, "fasttext", 16, 8, 0.0, 1, 100, 0)
    message = str(error.value)
    assert "lstm.embeddings" in message and "word2vec" in message and GLOVE in message and "\n" not in message


def test_onnx_export_matches_torch_and_quantizes(tmp_path, trained_dir, texts):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    onnx_path = export_torch_onnx(trained_dir, tmp_path)
    assert {"config.json", "tokenizer.json", "tokenizer_config.json"} <= {p.name for p in tmp_path.iterdir()}
    model = AutoModelForSequenceClassification.from_pretrained(trained_dir)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    probe = ["good", "bad film", texts[0] + " " + texts[1]] + texts[2:12]  # batch and lengths unlike the trace
    fp32 = _ort_logits(onnx_path, tokenizer, probe)
    np.testing.assert_allclose(fp32, _torch_logits(model, tokenizer, probe), atol=1e-4)
    quantized = tmp_path / "model_quantized.onnx"
    quantize_dynamic(onnx_path, quantized, weight_type=QuantType.QInt8)
    int8 = _ort_logits(quantized, tokenizer, probe)
    assert (int8.argmax(-1) == fp32.argmax(-1)).mean() >= 0.8
    assert quantized.stat().st_size < onnx_path.stat().st_size


def test_optimum_quantizer_accepts_the_export(tmp_path, trained_dir):
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    export_torch_onnx(trained_dir, tmp_path / "onnx")
    quantizer = ORTQuantizer.from_pretrained(str(tmp_path / "onnx"), file_name="model.onnx")
    quantizer.quantize(save_dir=str(tmp_path / "int8"),
                       quantization_config=AutoQuantizationConfig.avx2(is_static=False, per_channel=False))
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "onnx")
    logits = _ort_logits(tmp_path / "int8" / "model_quantized.onnx", tokenizer, ENGLISH)
    assert logits.shape == (len(ENGLISH), 2) and np.isfinite(logits).all()


def test_pruning_reaches_lstm_weights_and_still_exports(tmp_path, trained_dir):
    model = AutoModelForSequenceClassification.from_pretrained(trained_dir)
    pairs = prunable_lstm_weights(model)
    names = {(id(module), name) for module, name in pairs}
    for direction in (model.bilstm.fw[0], model.bilstm.bw[0]):
        assert {(id(direction), "weight_ih_l0"), (id(direction), "weight_hh_l0")} <= names
    assert (id(model.bilstm.attention), "weight") in names
    targets = pairs + [(model.classifier, "weight")]
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=0.6)
    for module, name in targets:
        prune.remove(module, name)
    total = sum(getattr(m, n).numel() for m, n in targets)
    zeros = sum(int((getattr(m, n) == 0).sum()) for m, n in targets)
    assert zeros / total == pytest.approx(0.6, abs=0.01)
    assert not any(name.endswith("_orig") for name, _ in model.named_parameters())
    model.save_pretrained(tmp_path / "pruned")
    AutoTokenizer.from_pretrained(trained_dir).save_pretrained(tmp_path / "pruned")
    onnx_path = export_torch_onnx(tmp_path / "pruned", tmp_path / "onnx")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "onnx")
    np.testing.assert_allclose(_ort_logits(onnx_path, tokenizer, ENGLISH), _torch_logits(model, tokenizer, ENGLISH),
                               atol=1e-4)
