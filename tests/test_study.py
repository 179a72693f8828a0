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
