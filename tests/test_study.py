"""The study helpers behind scripts/prune_frontier.py and scripts/ablation.py: a tiny student deployed with chosen
prune settings, and the side-by-side table with ratios against its first row."""

import json

import numpy as np
import pandas as pd
import pytest

from tests.tiny import LABELS, make_tiny_model, sentences
from textslim.compress.deploy import deploy
from textslim.forms import STUDENT_FILE
from textslim.measure.study import Variant, markdown, measure
from textslim.params import Params, PruneParams


class _Fixed:
    """A classifier whose scores say `label` for every text (accuracy is then the share of that label)."""

    def __init__(self, label: int):
        self.label = label

    def logits(self, texts):
        scores = np.zeros((len(texts), 2))
        scores[:, self.label] = 1.0
        return scores


def test_measure_gives_accuracy_size_and_ratios_against_the_first_row(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"x" * 4_000_000)
    (tmp_path / "small.onnx").write_bytes(b"x" * 1_000_000)
    test = pd.DataFrame({"text": ["a", "b", "c", "d"], "label": [1, 1, 1, 0]})
    frame = measure({"big": Variant(_Fixed(1), tmp_path, "model.onnx"),
                     "small": Variant(_Fixed(0), tmp_path, "small.onnx")}, test, LABELS, latency_texts=4)
    rows = frame.set_index("variant")
    assert rows.at["big", "accuracy"] == pytest.approx(0.75) and rows.at["small", "accuracy"] == pytest.approx(0.25)
    assert rows.at["small", "smaller"] == pytest.approx(4.0) and rows.at["big", "speedup"] == pytest.approx(1.0)
    assert (rows.at["big", "delta_low"], rows.at["big", "delta_high"]) == (0, 0)  # the reference against itself
    assert rows.at["small", "delta_low"] <= -0.5 <= rows.at["small", "delta_high"]  # 4 texts: a wide interval
    table = markdown(frame)
    assert "| small" in table and "-50.00" in table and "4.0×" in table and "+0.00 to +0.00" in table


def test_deploy_prunes_exports_and_quantizes_a_student(tmp_path):
    student = make_tiny_model(tmp_path / "student", "bert", layers=2, seed=2)
    (student / STUDENT_FILE).write_text(json.dumps({"strategy": "spread", "max_length": 24}))
    frame = sentences(48, seed=4).assign(label=lambda f: (f["label"] == "pos").astype("int64"))
    splits = {"train": frame, "validation": frame.head(8), "test": frame.tail(8)}
    logits = {name: np.zeros((len(part), 2), dtype=np.float32) for name, part in splits.items()}
    prune = PruneParams(head_fraction=0.5, ffn_fraction=0.5, importance_texts=16, recovery_epochs=0)
    done = deploy(student, tmp_path / "out", prune, Params(prune=prune), splits, logits)
    assert done.report["structured"]["heads_after"] == [1, 1]
    assert (done.onnx / "model.onnx").is_file() and (done.int8 / "model_quantized.onnx").is_file()
    assert (done.int8 / "tokenizer.json").is_file()  # the quantized model ships with its (trimmed) tokenizer


@pytest.mark.slow  # exports, optimizes and times the graph at every level
def test_graph_optimization_study_measures_every_level_fp32_and_int8(tmp_path, tiny_teacher):
    from tests.scripts import load_script
    from textslim.compress.onnx_export import export_to_onnx

    export_to_onnx(tiny_teacher, tmp_path / "onnx")
    (tmp_path / "onnx" / STUDENT_FILE).write_text(json.dumps({"max_length": 24}))
    frame = sentences(24, seed=5).assign(label=lambda f: (f["label"] == "pos").astype("int64"))
    splits = {"train": frame, "validation": frame, "test": frame}
    study = load_script("graph_optimization")
    section = study.measure_case("tiny", tiny_teacher, tmp_path / "onnx", Params(), splits, LABELS, latency_texts=4)
    for level in ("none", "O1", "O2", "O3"):
        assert f"| {level} fp32" in section and f"| {level} int8" in section
    assert "SkipLayerNormalization" in section  # O2 and O3 fused the layer norms


def test_pareto_frontier_keeps_only_variants_nothing_beats_on_both_axes(tmp_path):
    from tests.scripts import load_script

    pareto = load_script("pareto")
    variants = [{"name": "teacher", "accuracy": 0.90, "batch1_ms_median": 10.0, "size_mb": 100.0},
                {"name": "fast", "accuracy": 0.85, "batch1_ms_median": 1.0, "size_mb": 50.0},
                {"name": "dominated", "accuracy": 0.84, "batch1_ms_median": 2.0, "size_mb": 60.0},
                {"name": "tiny", "accuracy": 0.80, "batch1_ms_median": 2.0, "size_mb": 5.0}]
    (tmp_path / "s.json").write_text(json.dumps({"variants": variants}))
    points = pareto.load_points([("run", tmp_path / "s.json")])
    speed = dict(zip(points["variant"], pareto.frontier(points, "speedup")))
    size = dict(zip(points["variant"], pareto.frontier(points, "smaller")))
    assert speed == {"teacher": True, "fast": True, "dominated": False, "tiny": False}
    assert size == {"teacher": True, "fast": True, "dominated": False, "tiny": True}
    assert points.set_index("variant").at["fast", "speedup"] == pytest.approx(10.0)


@pytest.mark.slow  # quantizes the graph three ways and times every variant
def test_int8_presets_table_has_every_model_and_preset_with_the_true_types(tmp_path, tiny_teacher):
    import argparse

    from tests.scripts import load_script
    from textslim.compress.onnx_export import export_to_onnx
    from textslim.cpu import describe_cpu
    from textslim.data import write_prepared

    export_to_onnx(tiny_teacher, tmp_path / "tiny")
    (tmp_path / "tiny" / STUDENT_FILE).write_text(json.dumps({"max_length": 24}))
    frame = sentences(24, seed=5).assign(label=lambda f: (f["label"] == "pos").astype("int64"))
    (tmp_path / "prepared").mkdir()
    write_prepared({"train": frame, "validation": frame, "test": frame}, LABELS, tmp_path / "prepared")
    args = argparse.Namespace(data=tmp_path / "prepared", onnx=[tmp_path / "tiny"], latency_texts=4,
                              presets=["avx512_vnni", "avx2", "avx512+reduce_range"], modes=["dynamic", "static"],
                              out=tmp_path / "report.md")
    load_script("int8_schemes").compare_presets(args)
    report = args.out.read_text()
    assert report.startswith(f"# INT8 presets on {describe_cpu()['model']}")
    table = [[cell.strip() for cell in line.split("|")] for line in report.splitlines() if line.startswith("| ")]
    header, rows = table[0], [row for row in table if row[1] == "tiny"]
    assert [row[2] for row in rows] == ["fp32"] + [f"{preset}{scheme}" for preset in ["avx512_vnni", "avx2",
                                                                                   "avx512+reduce_range"]
                                                   for scheme in ["", " static"]]
    assert [row[3] for row in rows] == ["float32"] + [t for t in ["uint8 x int8", "uint8 x uint8",
                                                                  "uint8 x int8 (7-bit weights)"] for _ in range(2)]
    assert rows[0][5] == "100.00%"  # fp32 agrees with itself
    # static scales cannot move with the batch; fp32 pads under a mask
    changed = {row[2]: int(row[header.index("changed at batch 1")]) for row in rows}
    assert changed["fp32"] == 0 and all(changed[name] == 0 for name in changed if name.endswith("static"))


def test_fp32_small_tables_keeps_every_matmul_fp32_and_only_the_tables_at_4_bits(tmp_path, tiny_teacher):
    import onnx
    from onnx import TensorProto, numpy_helper

    from tests.scripts import load_script
    from textslim.compress.onnx_export import export_to_onnx
    from textslim.inference import OnnxClassifier

    export_to_onnx(tiny_teacher, tmp_path / "onnx")
    out = load_script("fp32_small_tables").small_tables(tmp_path / "onnx", tmp_path / "tables", block_size=32)
    before, after = (onnx.load(str(folder / "model.onnx")).graph for folder in (tmp_path / "onnx", out))
    ops = [node.op_type for node in after.node]
    assert "GatherBlockQuantized" in ops and "Gather" not in [n.op_type for n in after.node
                                                              if n.input and n.input[0].endswith("embeddings.weight")]
    assert not set(ops) & {"MatMulInteger", "MatMulNBits", "MatMulIntegerToFloat", "DynamicQuantizeLinear",
                           "DynamicQuantizeMatMul", "QuantizeLinear", "DequantizeLinear", "QLinearMatMul"}
    # every MatMul of the export is still there, reading the same fp32 weights
    weights = {init.name: init for init in after.initializer}
    matmuls = [node for node in after.node if node.op_type == "MatMul"]
    assert len(matmuls) == sum(node.op_type == "MatMul" for node in before.node)
    read = [weights[name] for node in matmuls for name in node.input if name in weights]
    assert read and all(init.data_type == TensorProto.FLOAT for init in read)
    original = {init.name: init for init in before.initializer}
    assert all(np.array_equal(numpy_helper.to_array(w), numpy_helper.to_array(original[w.name])) for w in read)
    # the tables themselves are stored at 4 bits, no fp32 copy left (the tiny model's file still grows: its 50 x 32
    # table is smaller than what the conversion to opset 21 adds)
    embedding = [init for init in after.initializer if "embeddings" in init.name and len(init.dims) == 2]
    packed = [init for init in embedding if init.name.endswith("_Q4")]
    assert len(packed) == 3 and all(init.data_type == TensorProto.UINT4 for init in packed)  # word, position, type
    assert not [i.name for i in embedding if i.data_type == TensorProto.FLOAT and i.name.endswith("weight")]
    texts = sentences(8, seed=6)["text"].tolist()
    fp32, tables = (OnnxClassifier(folder, "model.onnx", 24).logits(texts) for folder in (tmp_path / "onnx", out))
    # 4-bit rows move the logits, by a small part of their size: the same graph reads rounded embeddings
    assert not np.array_equal(fp32, tables)
    assert np.abs(tables - fp32).max() <= 0.1 * np.abs(fp32).max()


def test_fp32_small_tables_adds_a_validation_column_row_by_row(tmp_path):
    from tests.scripts import load_script

    (tmp_path / "model.onnx").write_bytes(b"x" * 4_000_000)
    test = pd.DataFrame({"text": ["a", "b", "c", "d"], "label": [1, 1, 1, 0]})
    frame = measure({"big": Variant(_Fixed(1), tmp_path, "model.onnx"),
                     "small": Variant(_Fixed(0), tmp_path, "model.onnx")}, test, LABELS, latency_texts=4)
    study = load_script("fp32_small_tables")
    lines = study.with_validation(markdown(frame), [81.234, 79.5]).split("\n")
    assert lines[0].endswith("| validation |") and lines[1].endswith("|:--|")
    assert lines[2].startswith("| big") and lines[2].endswith("| 81.23 |")
    assert lines[3].startswith("| small") and lines[3].endswith("| 79.50 |")
    assert len({line.count("|") for line in lines}) == 1  # every row has the header's columns
    with pytest.raises(ValueError, match="2 table rows but 1 validation"):
        study.with_validation(markdown(frame), [81.0])
