"""ONNX export matches PyTorch within 1e-4 on texts; INT8 agrees with fp32; the preset follows the CPU."""

import numpy as np
import pytest

from tests.tiny import sentences
from textslim.compress.onnx_export import export_to_onnx, parity
from textslim.compress.quantize import detect_preset, operand_types, quantization_config, quantize_dynamic
from textslim.errors import TextslimError
from textslim.forms import write_model_files
from textslim.inference import OnnxClassifier, TorchClassifier

TEXTS = sentences(120, seed=3)["text"].tolist()


@pytest.fixture(scope="module")
def exported(tiny_teacher, tmp_path_factory):
    """The tiny teacher as ONNX fp32 and dynamic INT8, built once for this module."""
    onnx_dir = tmp_path_factory.mktemp("onnx")
    export_to_onnx(tiny_teacher, onnx_dir)
    int8_dir = tmp_path_factory.mktemp("int8")
    quantize_dynamic(onnx_dir, int8_dir, "avx2", per_channel=True)
    write_model_files(onnx_dir, int8_dir)
    return onnx_dir, int8_dir


def test_onnx_logits_match_pytorch_within_1e4(tiny_teacher, exported):
    onnx_dir, _ = exported
    report = parity(tiny_teacher, onnx_dir, TEXTS, max_length=32, tolerance=1e-4)
    assert report["max_abs_diff"] < 1e-4 and report["argmax_agreement"] == 1.0
    # batched, variable-length inputs too: dynamic axes, padding masked out
    torch_logits = TorchClassifier(tiny_teacher, 32).logits(TEXTS[:7])
    onnx_logits = OnnxClassifier(onnx_dir, "model.onnx", 32).logits(TEXTS[:7])
    assert np.abs(torch_logits - onnx_logits).max() < 1e-4


def test_parity_failure_names_the_tolerance(tiny_teacher, exported):
    onnx_dir, _ = exported
    with pytest.raises(TextslimError, match="export_onnx.tolerance"):
        parity(tiny_teacher, onnx_dir, TEXTS[:5], max_length=32, tolerance=1e-12)


def test_int8_predictions_agree_with_fp32(exported):
    onnx_dir, int8_dir = exported
    fp32 = OnnxClassifier(onnx_dir, "model.onnx", 32).logits(TEXTS)
    int8 = OnnxClassifier(int8_dir, "model_quantized.onnx", 32).logits(TEXTS)
    margin = np.abs(fp32[:, 0] - fp32[:, 1])
    confident = margin > np.percentile(margin, 20)  # near-ties may flip under any rounding
    assert (fp32.argmax(-1) == int8.argmax(-1))[confident].mean() >= 0.9
    assert (int8_dir / "model_quantized.onnx").stat().st_size < (onnx_dir / "model.onnx").stat().st_size


@pytest.mark.parametrize("flags, machine, expected", [
    ({"avx2", "avx512f", "avx512_vnni"}, "x86_64", "avx512_vnni"),
    ({"avx2", "avx_vnni"}, "x86_64", "avx512_vnni"),  # AVX-VNNI: ONNX Runtime's u8 x s8 kernel is exact there too
    ({"avx2", "avx512f"}, "x86_64", "avx2"),  # AVX-512 without VNNI saturates u8 x s8 like AVX2 does
    ({"avx2", "fma"}, "x86_64", "avx2"),
    (set(), "aarch64", "arm64"),
])
def test_preset_follows_cpu_features(flags, machine, expected):
    assert detect_preset(flags, machine) == expected


@pytest.mark.parametrize("preset, activations, weights", [
    ("avx2", "uint8", "uint8"), ("avx512", "uint8", "int8"), ("avx512_vnni", "uint8", "int8"),
    ("arm64", "uint8", "int8"),
])
def test_operand_types_come_from_the_quantization_config(preset, activations, weights):
    types = operand_types(quantization_config(preset))
    assert (types["activations"], types["weights"], types["reduce_range"]) == (activations, weights, False)


@pytest.mark.parametrize("level", ["O1", "O2", "O3"])
def test_graph_optimization_keeps_parity_and_quantizes(tiny_teacher, tmp_path, level):
    import onnx

    from textslim.compress.onnx_export import optimize_graph

    export_to_onnx(tiny_teacher, tmp_path / "onnx")
    before = {node.op_type for node in onnx.load(str(tmp_path / "onnx" / "model.onnx")).graph.node}
    assert optimize_graph(tmp_path / "onnx", level) == level
    after = {node.op_type for node in onnx.load(str(tmp_path / "onnx" / "model.onnx")).graph.node}
    if level != "O1":  # the transformer fusions replace the layer norms' elementary ops
        assert "SkipLayerNormalization" in after and "SkipLayerNormalization" not in before
    assert parity(tiny_teacher, tmp_path / "onnx", TEXTS[:16], 64, 1e-4)["max_abs_diff"] <= 1e-4
    quantize_dynamic(tmp_path / "onnx", tmp_path / "int8", "avx2", per_channel=True)
    write_model_files(tmp_path / "onnx", tmp_path / "int8")
    fp32 = OnnxClassifier(tmp_path / "onnx", "model.onnx", 32).logits(TEXTS)
    int8 = OnnxClassifier(tmp_path / "int8", "model_quantized.onnx", 32).logits(TEXTS)
    margin = np.abs(fp32[:, 0] - fp32[:, 1])
    confident = margin > np.percentile(margin, 20)  # as for the unoptimized graph above
    assert (fp32.argmax(-1) == int8.argmax(-1))[confident].mean() >= 0.9


def test_graph_optimization_leaves_types_optimum_cannot_fuse(tmp_path):
    from textslim.compress.onnx_export import optimize_graph

    (tmp_path / "config.json").write_text('{"model_type": "textslim-lstm"}')
    assert optimize_graph(tmp_path, "O2").startswith("none (textslim-lstm")
    assert optimize_graph(tmp_path, "none") == "none"


def test_unknown_optimization_level_names_the_param():
    from textslim.params import ExportParams

    with pytest.raises(TextslimError, match="export_onnx.optimization"):
        ExportParams(optimization="O9").validate()


def test_static_int8_gives_the_same_prediction_whatever_the_batch(exported, tmp_path):
    from textslim.compress.quantize import quantize_static

    onnx_dir, _ = exported
    quantize_static(onnx_dir, tmp_path / "static", "avx2", per_channel=True, texts=TEXTS[:32], max_length=32)
    write_model_files(onnx_dir, tmp_path / "static")
    static = OnnxClassifier(tmp_path / "static", "model_quantized.onnx", 32)
    alone = np.concatenate([static.logits([text]) for text in TEXTS[:24]])
    together = static.logits(TEXTS[:24])
    # fixed activation scales: a text's logits do not depend on its batch (up to padding's float noise)
    np.testing.assert_allclose(alone, together, atol=1e-4)


def test_graph_optimization_of_a_head_pruned_model_keeps_parity(tiny_teacher, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from textslim.compress.onnx_export import optimize_graph

    model = AutoModelForSequenceClassification.from_pretrained(tiny_teacher)
    model.prune_heads({0: [0], 2: [1]})  # layers left with 1 of 2 heads: fewer than the config's num_attention_heads
    model.save_pretrained(tmp_path / "pruned")
    AutoTokenizer.from_pretrained(tiny_teacher).save_pretrained(tmp_path / "pruned")
    export_to_onnx(tmp_path / "pruned", tmp_path / "onnx")
    assert optimize_graph(tmp_path / "onnx", "O2") == "O2"
    assert parity(tmp_path / "pruned", tmp_path / "onnx", TEXTS[:16], 64, 1e-4)["max_abs_diff"] <= 1e-4


@pytest.mark.parametrize("quantized_on, here_flags, weights, warned, differ", [
    ("vnni", {"avx2", "fma"}, "int8", True, True),  # quantized u8 x s8 on an Intel Xeon, loaded on an AVX2 AMD
    ("no-vnni", {"avx2", "avx512f", "avx512_vnni"}, "int8", True, True),  # and the other way round
    ("vnni", {"avx2", "fma"}, "uint8", True, False),  # u8 x u8 is exact on both: said so, still one line
    ("vnni", {"avx2", "avx512f", "avx512_vnni"}, "int8", False, False),  # on its own path: no line
    ("no-vnni", {"avx2", "fma"}, "uint8", False, False),
])
def test_loading_int8_on_another_int8_path_logs_one_line(exported, tmp_path, monkeypatch, caplog, quantized_on,
                                                         here_flags, weights, warned, differ):
    import json
    import logging
    import shutil

    from textslim.inference import ort_session

    _, int8_dir = exported
    folder = shutil.copytree(int8_dir, tmp_path / "int8")
    (folder / "quantize.json").write_text(json.dumps({"preset": "any", "activations": "uint8", "weights": weights,
                                                      "reduce_range": False,
                                                      "cpu": {"model": "Build CPU 9000", "int8_path": quantized_on}}))
    monkeypatch.setattr("textslim.cpu.platform.machine", lambda: "x86_64")
    monkeypatch.setattr("textslim.cpu.cpu_flags", lambda: here_flags)
    monkeypatch.setattr("textslim.cpu.cpu_model", lambda: "Serving CPU 1")
    with caplog.at_level(logging.WARNING, logger="textslim.inference"):
        for _ in range(3):  # one line per folder, however many sessions open it (one per thread count)
            ort_session(folder / "model_quantized.onnx", threads=1)
    lines = [r.getMessage() for r in caplog.records if r.name == "textslim.inference"]
    if not warned:
        assert lines == []
        return
    assert len(lines) == 1
    here = "no-vnni" if quantized_on == "vnni" else "vnni"
    assert f"Build CPU 9000 (int8 path {quantized_on})" in lines[0] and "checked there only" in lines[0]
    assert f"Serving CPU 1, takes the {here} path" in lines[0]
    assert ("products can differ here" in lines[0]) == differ
    assert ("products are the same here" in lines[0]) == (not differ)


@pytest.mark.parametrize("weights, reduce_range, path, other, differ", [
    ("int8", False, "vnni", "no-vnni", True), ("int8", False, "arm64", "no-vnni", True),
    ("int8", False, "vnni", "arm64", False), ("int8", True, "vnni", "no-vnni", False),
    ("uint8", False, "vnni", "no-vnni", False),
])
def test_products_differ_only_for_full_range_int8_weights_across_vnni(weights, reduce_range, path, other, differ):
    from textslim.cpu import products_differ

    operands = {"activations": "uint8", "weights": weights, "reduce_range": reduce_range}
    assert products_differ(operands, path, other) == products_differ(operands, other, path) == differ


@pytest.mark.parametrize("preset", ["avx512_vnni", "arm64"])
def test_reduce_range_on_a_preset_without_it_names_the_ones_that_have_it(preset):
    with pytest.raises(TextslimError, match=f"reduce_range: optimum's {preset} preset .* avx2 and avx512"):
        quantization_config(preset, reduce_range=True)


def test_4bit_embeddings_shrink_the_model_and_keep_its_predictions(exported, tmp_path):
    """quantize.embedding_bits 4: every embedding table becomes GatherBlockQuantized (nothing else changes kind),
    the file shrinks, the predictions stay the INT8 model's, and optimum loads the folder the way a user would."""
    import onnx
    from optimum.onnxruntime import ORTModelForSequenceClassification

    from textslim.compress.embedding_bits import embedding_gathers
    from textslim.compress.quantize import quantize_folder
    from textslim.params import QuantizeParams

    onnx_dir, int8_dir = exported
    tables = embedding_gathers(onnx.load(str(onnx_dir / "model.onnx")))
    assert sorted(name.split("/")[-2] for name in tables) == [
        "position_embeddings", "token_type_embeddings", "word_embeddings"]
    cfg = QuantizeParams(preset="avx2", mode="dynamic", embedding_bits=4, embedding_block_size=16)
    record = quantize_folder(onnx_dir, tmp_path, cfg)
    assert record["embeddings"] == "4-bit, a scale and zero point per 16 numbers"
    graph = onnx.load(str(tmp_path / "model_quantized.onnx")).graph
    ops = [node.op_type for node in graph.node]
    assert ops.count("GatherBlockQuantized") == 3 and "MatMulInteger" in ops
    assert not embedding_gathers(onnx.load(str(tmp_path / "model_quantized.onnx")))
    assert (tmp_path / "model_quantized.onnx").stat().st_size < (int8_dir / "model_quantized.onnx").stat().st_size
    int8 = OnnxClassifier(int8_dir, "model_quantized.onnx", 32).logits(TEXTS)
    four = OnnxClassifier(tmp_path, "model_quantized.onnx", 32).logits(TEXTS)
    margin = np.abs(int8[:, 0] - int8[:, 1])
    confident = margin > np.percentile(margin, 20)
    assert (int8.argmax(-1) == four.argmax(-1))[confident].mean() >= 0.9
    optimum_model = ORTModelForSequenceClassification.from_pretrained(tmp_path, file_name="model_quantized.onnx")
    encoded = optimum_model_inputs(tmp_path, TEXTS[:4])
    # the same batch both ways: dynamic INT8 scales its activations per call
    same_batch = OnnxClassifier(tmp_path, "model_quantized.onnx", 32).logits(TEXTS[:4])
    assert np.allclose(optimum_model(**encoded).logits.numpy(), same_batch, atol=1e-5)


def optimum_model_inputs(folder, texts):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)(texts, padding=True, truncation=True, max_length=32,
                                                 return_tensors="pt")


def test_4bit_embeddings_need_an_embedding_table(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from textslim.compress.embedding_bits import embeddings_to_4bit

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "no-tables",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), str(tmp_path / "model_quantized.onnx"))
    with pytest.raises(TextslimError, match="quantize.embedding_bits = 4: .* has no embedding table"):
        embeddings_to_4bit(tmp_path / "model_quantized.onnx", 32)


def test_4bit_embeddings_on_a_graph_from_an_older_opset(tmp_path):
    """A graph exported below opset 21 whose ops changed form on the way (ReduceL2's axes: an attribute at 17, an input
    from 18) is converted, not relabelled, before its table goes to 4 bits: ONNX Runtime loads it and it computes
    what it did."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from textslim.compress.embedding_bits import copy_at_opset, embeddings_to_4bit

    table = np.random.default_rng(0).normal(size=(16, 32)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "ids"], ["rows"], name="/embeddings/Gather"),
         helper.make_node("ReduceL2", ["rows"], ["norms"], axes=[1], keepdims=1)], "old-opset",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["n"])],
        [helper.make_tensor_value_info("norms", TensorProto.FLOAT, ["n", 1])],
        [numpy_helper.from_array(table, "table")])
    (tmp_path / "onnx").mkdir()
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "onnx/model.onnx"))
    converted = copy_at_opset(tmp_path / "onnx", tmp_path / "converted")
    assert embeddings_to_4bit(converted / "model.onnx", 16) == 1
    ids = np.arange(16, dtype=np.int64)
    norms = ort.InferenceSession(str(converted / "model.onnx")).run(None, {"ids": ids})[0][:, 0]
    assert np.allclose(norms, np.linalg.norm(table, axis=1), rtol=0.05)
