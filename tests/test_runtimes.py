"""OpenVINO and CTranslate2 forms of a tiny BERT classifier answer like PyTorch: fp32 to float precision, INT8 close,
the same token ids through the same tokenizer; what a runtime cannot take is one line."""

from pathlib import Path

import numpy as np
import pytest

from tests.tiny import make_tiny_model, sentences
from textslim.compress.onnx_export import export_to_onnx
from textslim.errors import TextslimError
from textslim.inference import TorchClassifier, load_torch_model
from textslim.runtimes import (
    CTranslate2Classifier,
    OpenVinoClassifier,
    convert_to_ctranslate2,
    convert_to_openvino,
    quantize_openvino,
)

pytestmark = pytest.mark.slow  # converts and quantizes models (NNCF's calibration among them)

TEXTS = sentences(48, seed=3)["text"].tolist()


@pytest.fixture(scope="module")
def bert(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A tiny random BERT classifier with more than chance logits to agree on, and its PyTorch logits."""
    folder = make_tiny_model(tmp_path_factory.mktemp("bert") / "model", "bert", layers=2, seed=4)
    return folder, TorchClassifier(folder, 32).logits(TEXTS)


def test_openvino_fp32_is_the_onnx_graph_and_int8_stays_close(bert, tmp_path):
    folder, reference = bert
    export_to_onnx(folder, tmp_path / "onnx")
    ir = convert_to_openvino(tmp_path / "onnx", tmp_path / "ov")
    assert (ir / "model.xml").is_file() and (ir / "model.bin").is_file() and (ir / "tokenizer.json").is_file()
    fp32 = OpenVinoClassifier(ir, 32)
    np.testing.assert_allclose(fp32.logits(TEXTS), reference, atol=1e-4)
    assert fp32.labels == ["neg", "pos"]
    int8 = OpenVinoClassifier(quantize_openvino(ir, tmp_path / "ov8", TEXTS[:16], 32), 32)
    logits = int8.logits(TEXTS)
    assert not np.allclose(logits, reference, atol=1e-6)  # really quantized
    np.testing.assert_allclose(logits, reference, atol=0.05 * np.abs(reference).max())
    # static ranges: a text's logits are the same alone as in a batch
    np.testing.assert_allclose(np.vstack([int8.logits([t]) for t in TEXTS[:8]]), logits[:8], atol=1e-5)


def test_openvino_int8_needs_calibration_texts(bert, tmp_path):
    export_to_onnx(bert[0], tmp_path / "onnx")
    ir = convert_to_openvino(tmp_path / "onnx", tmp_path / "ov")
    with pytest.raises(TextslimError, match="calibration texts"):
        quantize_openvino(ir, tmp_path / "ov8", [], 32)
    assert not (tmp_path / "ov8").exists()


@pytest.mark.parametrize("quantization, atol", [(None, 1e-5), ("int8", 0.05)])
def test_ctranslate2_encoder_with_the_head_in_numpy_answers_like_pytorch(bert, tmp_path, quantization, atol):
    folder, reference = bert
    converted = convert_to_ctranslate2(folder, tmp_path / "ct2", quantization)
    logits = CTranslate2Classifier(converted, 32).logits(TEXTS)
    np.testing.assert_allclose(logits, reference, atol=atol * max(1.0, float(np.abs(reference).max())))
    assert (logits.argmax(axis=1) == reference.argmax(axis=1)).mean() >= 0.9


def test_ctranslate2_refuses_a_model_with_pruned_heads_and_mpnet(bert, tmp_path):
    model = load_torch_model(bert[0])
    model.prune_heads({0: [0]})
    model.save_pretrained(tmp_path / "pruned")
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (bert[0] / name).is_file():
            (tmp_path / "pruned" / name).write_bytes((bert[0] / name).read_bytes())
    with pytest.raises(TextslimError, match="heads were pruned"):
        convert_to_ctranslate2(tmp_path / "pruned", tmp_path / "ct2")
    mpnet = make_tiny_model(tmp_path / "mpnet", "mpnet", layers=1)
    with pytest.raises(TextslimError, match="BERT classifiers only.*'mpnet'"):
        convert_to_ctranslate2(mpnet, tmp_path / "ct2-mpnet")
    assert not (tmp_path / "ct2").exists() and not (tmp_path / "ct2-mpnet").exists()


def test_the_runtime_table_times_every_runtime_and_names_what_a_runtime_refused(bert, tmp_path, monkeypatch):
    """scripts/runtimes.py on a models root laid out as dvc.yaml writes it: the teacher, and a chain whose heads were
    pruned (CTranslate2 refuses it, the other runtimes run it)."""
    import json
    import re
    import sys

    import pandas as pd

    from tests.scripts import load_script
    from tests.tiny import models_root

    models, data = models_root(bert[0], tmp_path)
    out, metrics = tmp_path / "runtimes.md", tmp_path / "runtimes.json"
    monkeypatch.setattr(sys, "argv", ["runtimes.py", "--chains", "teacher", "s.heavy", "--models", str(models),
                                      "--data", str(data), "--latency-texts", "4", "--calibration-texts", "8",
                                      "--out", str(out), "--metrics", str(metrics)])
    load_script("runtimes").main()
    record = json.loads(metrics.read_text())
    rows = pd.DataFrame(record["rows"])
    measured = set(zip(rows["model"], rows["runtime"], rows["precision"]))
    assert measured == {(m, r, p) for m in ("teacher", "s.heavy") for r in ("onnxruntime", "openvino", "ctranslate2")
                        for p in ("fp32", "int8")} - {("s.heavy", "ctranslate2", "fp32"), ("s.heavy", "ctranslate2",
                                                                                           "int8")}
    assert [(r["model"], r["runtime"]) for r in record["refused"]] == [("s.heavy", "ctranslate2")] * 2
    assert "heads were pruned" in record["refused"][0]["why"]
    assert (rows["batch1_ms"] > 0).all() and (rows["size_mb"] > 0).all() and (rows["floor_ms"] > 0).all()
    # both ratios are against the same per-text floor, the int8 one for the INT8 forms
    assert np.allclose(rows["batch1_vs_floor"], rows["batch1_ms"] / rows["floor_ms"])
    assert np.allclose(rows["batch32_vs_floor"], rows["batch32_ms_per_text"] / rows["floor_ms"])
    floor = rows.set_index(["model", "runtime", "precision"])["floor_ms"]
    assert floor["teacher", "openvino", "int8"] == floor["teacher", "onnxruntime", "int8"] < floor["teacher",
                                                                                                    "openvino", "fp32"]
    assert ((rows["accuracy"] >= 0) & (rows["accuracy"] <= 1) & (rows["accuracy_batch1"] <= 1)).all()
    assert record["peaks"]["int8_operands"] and record["versions"]["openvino"]
    # every fp32 runtime computes the same function: the same predictions as ONNX Runtime fp32
    assert (rows[rows["precision"] == "fp32"]["agrees_with_ort_fp32"] == 1.0).all()
    # OpenVINO's static INT8 cannot depend on the batch
    assert (rows[(rows["runtime"] == "openvino")]["flips_batch1_vs_64"] == 0).all()
    report = out.read_text()
    assert report.startswith("# Runtimes on ") and re.search(r"\| s\.heavy +\| openvino +\| int8 +\|", report)
    assert "s.heavy on ctranslate2 fp32: CTranslate2 assumes every layer keeps all its attention heads" in report
