"""The roofline's parts: FLOPs that match the formula, the floor, the probes' graphs, the op profile."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

from tests.tiny import sentences, tiny_config
from textslim.compress.onnx_export import export_to_onnx
from textslim.compress.quantize import detect_preset, operand_types, quantization_config
from textslim.cpu import int8_path
from textslim.measure.roofline import (
    Peaks,
    Work,
    _lstm_flops,
    _matmul_graph,
    floor_ms,
    int8_probe_operands,
    matmul_peaks,
    median_tokens,
    op_times,
    work_per_text,
)


def test_work_per_text_counts_every_linear_and_the_attention_matmuls(tiny_teacher):
    config = tiny_config()  # the tiny teacher's shape: hidden 32, FFN 37, 4 layers, 2 heads, 2 labels
    h, ffn, layers, tokens = config.hidden_size, config.intermediate_size, config.num_hidden_layers, 10
    per_layer = 2 * tokens * (4 * h * h + 2 * h * ffn)  # Q, K, V, output; FFN in and out
    pooled = 2 * h * h + 2 * h * 2  # the pooler and the classifier, on the [CLS] vector only
    attention = layers * 2 * (2 * tokens * tokens * h)  # scores (QK^T) and mixing (AV), all heads together
    work = work_per_text(tiny_teacher, tokens)
    assert work.weight_flops == layers * per_layer + pooled
    assert work.other_flops == attention
    assert work.tokens == tokens


def test_lstm_flops_are_four_gates_per_step_per_direction():
    lstm = torch.nn.LSTM(input_size=5, hidden_size=3, bidirectional=True, num_layers=2)
    first, second = 2 * 7 * 4 * 2 * (5 + 3) * 3, 2 * 7 * 4 * 2 * (6 + 3) * 3  # layer 2 reads both directions
    assert _lstm_flops(lstm, tokens=7) == first + second


def test_floor_puts_weight_gemms_at_the_int8_peak_only_for_int8_forms():
    work = Work(tokens=10, weight_flops=4_000_000_000, other_flops=1_000_000_000)
    peaks = Peaks(torch_fp32=100.0, ort_fp32=50.0, ort_int8=400.0, threads=2)
    assert peaks.fp32 == 100.0  # the better of the two fp32 GEMMs
    assert floor_ms(work, peaks, int8=False) == pytest.approx(1e3 * (4 / 100 + 1 / 100))
    assert floor_ms(work, peaks, int8=True) == pytest.approx(1e3 * (4 / 400 + 1 / 100))
    assert floor_ms(work, peaks, int8=True, batch=32) == pytest.approx(32 * floor_ms(work, peaks, int8=True))


@pytest.mark.parametrize("integer", [False, True])
def test_probe_graphs_compute_the_product(tmp_path, integer):
    """Exact integer products with the operand types `auto` gives this CPU, full-range activations included: the
    kernel the int8 peak is measured on is the one whose answers INT8 models here rely on."""
    size = 16
    path = tmp_path / "probe.onnx"
    _matmul_graph(path, size, int8_probe_operands() if integer else None)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (size, size), dtype=np.uint8) if integer else rng.standard_normal((size, size),
                                                                                               dtype=np.float32)
    from onnx import load, numpy_helper

    weights = numpy_helper.to_array(load(str(path)).graph.initializer[0])
    if integer:
        np.testing.assert_array_equal(session.run(None, {"A": a})[0], a.astype(np.int64) @ weights.astype(np.int64))
    else:
        np.testing.assert_allclose(session.run(None, {"A": a})[0], a @ weights, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("flags, weights", [
    ({"avx2", "fma"}, "uint8"),  # AMD EPYC (Zen 3): no VNNI, u8 x s8 would saturate
    ({"avx2", "avx512f"}, "uint8"),  # AVX-512 without VNNI: the same saturating u8 x s8 kernel
    ({"avx2", "avx512f", "avx512_vnni"}, "int8"),  # Intel Xeon with VNNI
    ({"avx2", "avx_vnni"}, "int8"),  # AVX-VNNI without AVX-512
])
def test_int8_probe_uses_the_operand_types_of_the_preset_auto_picks(tmp_path, monkeypatch, flags, weights):
    from onnx import TensorProto, load

    monkeypatch.setattr("textslim.cpu.platform.machine", lambda: "x86_64")
    monkeypatch.setattr("textslim.cpu.cpu_flags", lambda: flags)
    assert detect_preset() == {"uint8": "avx2", "int8": "avx512_vnni"}[weights]
    _matmul_graph(tmp_path / "probe.onnx", 8, int8_probe_operands())
    graph = load(str(tmp_path / "probe.onnx")).graph
    assert graph.initializer[0].data_type == {"uint8": TensorProto.UINT8, "int8": TensorProto.INT8}[weights]
    assert graph.input[0].type.tensor_type.elem_type == TensorProto.UINT8
    assert graph.node[0].op_type == "MatMulInteger"


def test_reduce_range_probe_keeps_weights_to_seven_bits(tmp_path):
    from onnx import load, numpy_helper

    operands = operand_types(quantization_config("avx512", reduce_range=True))
    assert operands == {"activations": "uint8", "weights": "int8", "reduce_range": True}
    _matmul_graph(tmp_path / "probe.onnx", 64, operands)
    weights = numpy_helper.to_array(load(str(tmp_path / "probe.onnx")).graph.initializer[0]).astype(int)
    assert weights.min() >= -64 and weights.max() <= 64 and weights.max() - weights.min() > 100


def test_matmul_peaks_are_measured_rates():
    peaks = matmul_peaks(threads=1, size=64)
    assert peaks.threads == 1
    assert peaks.int8_operands == {"vnni": "uint8 x int8", "no-vnni": "uint8 x uint8", "arm64": "uint8 x int8"}[
        int8_path()]  # what `auto` quantizes with on this CPU
    record = {"preset": "avx512", "activations": "uint8", "weights": "int8", "reduce_range": True, "cpu": {}}
    assert matmul_peaks(threads=1, size=64, operands=record).int8_operands == "uint8 x int8 (7-bit weights)"
    assert min(peaks.torch_fp32, peaks.ort_fp32, peaks.ort_int8) > 0


def test_op_times_profile_the_graphs_ops(tiny_teacher, tmp_path):
    from transformers import AutoTokenizer

    export_to_onnx(tiny_teacher, tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    texts = sentences(8)["text"].tolist()
    feeds = [{k: v.astype(np.int64) for k, v in tokenizer([t], return_tensors="np").items()} for t in texts]
    times = op_times(tmp_path / "model.onnx", threads=1, feeds=feeds, runs=5)
    assert "MatMul" in times and "session overhead" in times
    assert all(ms >= 0 for ms in times.values())
    assert median_tokens(tokenizer, texts, max_length=64) == int(np.median([len(f["input_ids"][0]) for f in feeds]))


def test_where_the_time_goes_splits_a_call_into_tokenizer_overhead_and_kernels(tiny_teacher, tmp_path):
    from textslim.inference import OnnxClassifier
    from textslim.measure.roofline import where_the_time_goes

    export_to_onnx(tiny_teacher, tmp_path)
    classifier = OnnxClassifier(tmp_path, "model.onnx", 32, threads=1)
    texts = sentences(16)["text"].tolist()
    for batch in (1, 4, 32):  # 32 > the 16 texts: one group of all of them
        # a floor far below 0.0001 ms (a tiny model on a fast int8 CPU) keeps its significant figures, never 0
        parts = where_the_time_goes(classifier, texts, threads=1, batch=batch, floor=3.21e-6, runs=8)
        assert parts["batch"] == batch and parts["floor_ms"] == 3.21e-6
        assert 0 < parts["call_overhead_ms"] <= parts["session_run_ms"]
        # the kernels are what the session call spends beyond the empty call, split GEMM / other by the profile
        kernels = parts["session_run_ms"] - parts["call_overhead_ms"]
        assert parts["gemm_kernels_ms"] + parts["other_kernels_ms"] == pytest.approx(kernels, abs=2e-4)
        assert parts["gemm_kernels_ms"] > 0 and parts["other_kernels_ms"] > 0  # MatMul; LayerNorm, Softmax, ...
        assert abs(sum(parts["top_ops_share"].values())) <= 1.0 + 1e-6 and parts["tokenizer_ms"] > 0
