"""The quantize stage follows quantize.per_channel: one scale per weight tensor, or one per output channel."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import yaml
from onnx import numpy_helper

from tests.tiny import sentences
from textslim.inference import OnnxClassifier
from textslim.onnx_export import export_to_onnx

REPO = Path(__file__).resolve().parents[1]


def _vector_scales(model_path: Path) -> int:
    """How many weight scales are vectors (one per output channel) rather than one number per tensor."""
    graph = onnx.load(str(model_path)).graph
    return sum(numpy_helper.to_array(t).size > 1 for t in graph.initializer if t.name.endswith("_scale"))


@pytest.mark.parametrize("per_channel", [False, True])
def test_stage_sets_scale_granularity_and_keeps_logits(tiny_teacher, tmp_path, per_channel):
    export_to_onnx(tiny_teacher, tmp_path / "onnx")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["quantize"] = {"preset": "avx2", "per_channel": per_channel}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    subprocess.run([sys.executable, str(REPO / "stages" / "quantize.py"), "--params", str(tmp_path / "params.yaml"),
                    "--model", str(tmp_path / "onnx"), "--out", str(tmp_path / "int8")], check=True)

    quantized = tmp_path / "int8" / "model_quantized.onnx"
    assert (_vector_scales(quantized) > 0) == per_channel
    recorded = json.loads((tmp_path / "int8" / "quantize.json").read_text())
    assert recorded["scales"] == ("per-channel" if per_channel else "per-tensor")
    texts = sentences(20, seed=5)["text"].tolist()
    fp32 = OnnxClassifier(tmp_path / "onnx", "model.onnx", 32).logits(texts)
    int8 = OnnxClassifier(tmp_path / "int8", "model_quantized.onnx", 32).logits(texts)  # tokenizer copied beside it
    assert np.abs(fp32 - int8).max() < 0.5 * np.abs(fp32).max() + 1e-3
