"""The quantize stage follows quantize.per_channel: one scale per weight tensor, or one per output channel."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import yaml
from onnx import numpy_helper

from tests.stages import run_stage_script
from tests.tiny import sentences
from textslim.compress.onnx_export import export_to_onnx
from textslim.inference import OnnxClassifier

REPO = Path(__file__).resolve().parents[1]


def _vector_scales(model_path: Path) -> int:
    """How many weight scales are vectors (one per output channel) rather than one number per tensor."""
    graph = onnx.load(str(model_path)).graph
    return sum(numpy_helper.to_array(t).size > 1 for t in graph.initializer if t.name.endswith("_scale"))


def _gemm_weight_types(model_path: Path) -> set[str]:
    """The integer types of the weights the graph's integer GEMMs multiply (the embeddings' Gather tables are
    quantized apart, as uint8 in every preset), read from the graph itself."""
    graph = onnx.load(str(model_path)).graph
    gemm_inputs = {name for node in graph.node if node.op_type == "MatMulInteger" for name in node.input}
    return {str(numpy_helper.to_array(t).dtype) for t in graph.initializer if t.name in gemm_inputs}


@pytest.mark.parametrize("preset, per_channel, weights", [
    ("avx2", False, "uint8"), ("avx2", True, "uint8"), ("avx512", False, "int8"), ("avx512_vnni", True, "int8"),
    ("arm64", False, "int8"),
])
def test_stage_sets_scale_granularity_records_true_types_and_keeps_logits(tiny_teacher, tmp_path, preset,
                                                                          per_channel, weights):
    from textslim.cpu import describe_cpu

    export_to_onnx(tiny_teacher, tmp_path / "onnx")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["quantize"] = {"preset": preset, "per_channel": per_channel, "mode": "dynamic"}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    done = run_stage_script("quantize", "--params", tmp_path / "params.yaml", "--model", tmp_path / "onnx",
                            "--data", tmp_path / "unused", "--out", tmp_path / "int8")  # dynamic: no calibration
    assert done.returncode == 0, done.stderr

    quantized = tmp_path / "int8" / "model_quantized.onnx"
    assert (_vector_scales(quantized) > 0) == per_channel
    recorded = json.loads((tmp_path / "int8" / "quantize.json").read_text())
    assert recorded["scales"] == ("per-channel" if per_channel else "per-tensor")
    assert _gemm_weight_types(quantized) == {recorded["weights"]} == {weights}  # what the file holds
    assert (recorded["preset"], recorded["activations"], recorded["reduce_range"]) == (preset, "uint8", False)
    assert recorded["cpu"] == describe_cpu()  # where it was quantized
    texts = sentences(20, seed=5)["text"].tolist()
    fp32 = OnnxClassifier(tmp_path / "onnx", "model.onnx", 32).logits(texts)
    int8 = OnnxClassifier(tmp_path / "int8", "model_quantized.onnx", 32).logits(texts)  # tokenizer copied beside it
    assert np.abs(fp32 - int8).max() < 0.5 * np.abs(fp32).max() + 1e-3


# auto with limits nothing exceeds keeps static: the stage hands it the validation split to choose on
@pytest.mark.parametrize("settings", [{"mode": "static"}, {"mode": "auto", "auto_max_drop_points": 100.0,
                                                           "auto_max_slowdown": 100.0, "auto_max_growth": 100.0,
                                                           "auto_latency_texts": 10}])
def test_static_mode_calibrates_on_training_texts_and_predicts_the_same_at_any_batch(tiny_teacher, tmp_path,
                                                                                      settings):
    from textslim.data import write_prepared
    from textslim.forms import STUDENT_FILE

    export_to_onnx(tiny_teacher, tmp_path / "onnx")
    (tmp_path / "onnx" / STUDENT_FILE).write_text(json.dumps({"max_length": 32}))
    frame = sentences(40, seed=6).assign(label=lambda f: (f["label"] == "pos").astype("int64"))
    (tmp_path / "prepared").mkdir()
    write_prepared({"train": frame, "validation": frame, "test": frame}, ["neg", "pos"], tmp_path / "prepared")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["quantize"] = {"preset": "avx2", "per_channel": True, "calibration_texts": 16, **settings}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    done = run_stage_script("quantize", "--params", tmp_path / "params.yaml", "--model", tmp_path / "onnx",
                            "--data", tmp_path / "prepared", "--out", tmp_path / "int8")
    assert done.returncode == 0, done.stderr

    record = json.loads((tmp_path / "int8" / "quantize.json").read_text())
    assert record["mode"] == "static" and record["requested_mode"] == settings["mode"]
    assert ("auto" in record) == (settings["mode"] == "auto")
    texts = sentences(20, seed=5)["text"].tolist()
    static = OnnxClassifier(tmp_path / "int8", "model_quantized.onnx", 32)
    alone = np.concatenate([static.logits([text]) for text in texts])
    np.testing.assert_allclose(alone, static.logits(texts), atol=1e-4)  # fixed scales: no batch dependence


def test_an_unknown_quantize_mode_is_named(tmp_path, tiny_teacher):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["quantize"]["mode"] = "magic"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    done = run_stage_script("quantize", "--params", tmp_path / "params.yaml", "--model", tiny_teacher, "--data",
                            tmp_path / "unused", "--out", tmp_path / "int8")
    assert done.returncode == 2 and "quantize.mode" in done.stderr and not (tmp_path / "int8").exists()
