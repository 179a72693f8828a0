"""scripts/int8_schemes.py quantizes the same graph per-tensor and per-channel, and each scheme is what it says."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from tests.scripts import load_script
from tests.tiny import sentences
from textslim.inference import OnnxClassifier
from textslim.onnx_export import export_to_onnx


def _vector_scales(model_path: Path) -> int:
    """How many weight scales are vectors (one per output channel) rather than one number per tensor."""
    graph = onnx.load(str(model_path)).graph
    return sum(numpy_helper.to_array(t).size > 1 for t in graph.initializer if t.name.endswith("_scale"))


@pytest.mark.parametrize("per_channel", [False, True])
def test_scheme_sets_scale_granularity_and_keeps_logits(tiny_teacher, tmp_path, per_channel):
    schemes = load_script("int8_schemes")
    export_to_onnx(tiny_teacher, tmp_path / "onnx")
    schemes.quantize(tmp_path / "onnx", tmp_path / "int8", "avx2", per_channel)
    quantized = tmp_path / "int8" / "model_quantized.onnx"
    assert (_vector_scales(quantized) > 0) == per_channel
    texts = sentences(20, seed=5)["text"].tolist()
    fp32 = OnnxClassifier(tmp_path / "onnx", "model.onnx", 32).logits(texts)
    int8 = OnnxClassifier(tmp_path / "int8", "model_quantized.onnx", 32).logits(texts)  # tokenizer copied beside it
    assert np.abs(fp32 - int8).max() < 0.5 * np.abs(fp32).max() + 1e-3
