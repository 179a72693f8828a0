"""The comparison table: ratios against the teacher, the best INT8 student, the baseline warning."""

from dataclasses import replace
from pathlib import Path

import pytest

from textslim.measure.bench import Timing, benchmark
from textslim.measure.report import best_student, markdown_table, variant_rows, with_timings


def _metrics(accuracy, size, params=1000):
    return {"accuracy": accuracy, "macro_f1": accuracy - 0.01, "size_bytes": size, "params": params}


def _rows():
    teacher = {"params": 4000, "size_bytes": 80e6, "test": _metrics(0.85, 0)}
    baseline = {"params": 10, "size_bytes": 1e6, "test": _metrics(0.78, 0)}
    recipe = {"max_length": 64}
    students = {"s": {"recipe": recipe,
                      "forms": {"onnx-fp32": _metrics(0.84, 40e6), "onnx-int8": _metrics(0.835, 10e6)}},
                "w": {"recipe": recipe, "forms": {"onnx-int8": _metrics(0.70, 10e6)}}}
    rows = variant_rows(teacher, baseline, students, 64)
    timings = {"teacher": Timing(20.0, 25.0, 100.0), "s-fp32": Timing(10.0, 12.0, 200.0),
               "s-int8": Timing(4.0, 5.0, 500.0), "w-int8": Timing(2.0, 3.0, 900.0),
               "tfidf-logreg": Timing(0.5, 0.6, 9000.0)}
    return with_timings(rows, timings)


def test_ratios_are_against_the_teacher():
    rows = {r["name"]: r for r in _rows()}
    assert rows["s-int8"]["speedup_vs_teacher"] == pytest.approx(5.0)
    assert rows["s-int8"]["size_ratio_vs_teacher"] == pytest.approx(8.0)
    assert rows["s-int8"]["delta_accuracy_vs_teacher"] == pytest.approx(-0.015)
    assert (rows["s-int8"]["form"], rows["s-int8"]["runtime"], rows["s-int8"]["student"]) == ("onnx-int8",
                                                                                               "onnxruntime", "s")
    assert (rows["teacher"]["form"], rows["teacher"]["student"]) == ("pytorch-fp32", None)
    assert not any("path" in row for row in rows.values())  # where a model lives comes from dvc.yaml, not metrics


def test_best_student_is_the_most_accurate_int8():
    assert best_student(_rows())["name"] == "s-int8"


def test_students_below_the_baseline_are_flagged():
    table = markdown_table(_rows(), baseline_accuracy=0.78)
    flagged = [line for line in table.splitlines() if "below TF-IDF" in line]
    assert len(flagged) == 1 and "w-int8" in flagged[0]


def test_benchmark_times_every_classifier_interleaved():
    calls = []

    class Fake:
        def __init__(self, name):
            self.name = name

        def logits(self, texts):
            calls.append(self.name)
            import numpy as np
            return np.zeros((len(texts), 2))

    timings = benchmark({"a": {1: Fake("a")}, "b": {1: Fake("b")}}, ["x"] * 6, warmup=1,
                        throughput_texts=["x"] * 3, batch_sizes=[2], rounds=1, threads=1, block=3)
    assert set(timings) == {"a", "b"}
    # after one warm-up call each: blocks of 2 settle + 3 timed calls, the order rotating each round
    assert calls[2:22] == ["a"] * 5 + ["b"] * 5 + ["b"] * 5 + ["a"] * 5


def test_benchmark_times_each_thread_count_and_batch_size_in_one_rotation():
    import numpy as np
    import torch

    seen = []

    class Fake:
        def __init__(self, name):
            self.name = name

        def logits(self, texts):
            seen.append((self.name, torch.get_num_threads(), len(texts)))
            return np.zeros((len(texts), 2))

    before = torch.get_num_threads()
    try:
        timings = benchmark({"a": {1: Fake("a1"), 2: Fake("a2")}}, ["x"] * 4, warmup=0, throughput_texts=["x"] * 16,
                            batch_sizes=[1, 8], rounds=2, threads=2, block=2)
    finally:
        torch.set_num_threads(before)
    timing = timings["a"]
    assert set(timing.batch1_ms_by_threads) == {1, 2} and set(timing.texts_per_s_by_batch) == {1, 8}
    assert timing.texts_per_s == timing.texts_per_s_by_batch[8]  # the headline is at the largest batch
    # each thread count's classifier ran with torch set to that many threads; batches ran with `threads`
    assert {(name, threads) for name, threads, _ in seen} == {("a1", 1), ("a2", 2)}
    assert {size for name, _, size in seen if name == "a2"} == {1, 8}
    assert {size for name, _, size in seen if name == "a1"} == {1}


def test_recipe_notes_give_setfits_gap_closed_and_loras_trainable_share():
    from textslim.measure.report import recipe_notes

    forms = {"distilled-fp32": {"accuracy": 0.80}, "onnx-int8": {"accuracy": 0.79}}
    students = {
        "setfit": {"recipe": {"recipe": "setfit", "labelled_texts": 16, "shots_per_class": 8,
                              "unlabelled_texts": 1000, "few_shot": {"test": {"accuracy": 0.60}}}, "forms": forms},
        "lora": {"recipe": {"recipe": "lora", "rank": 4, "base": "spread", "trainable_params": 10,
                            "total_params": 100}, "forms": forms},
        "first": {"recipe": {"recipe": "layers"}, "forms": forms},
    }
    setfit, lora = recipe_notes(students, teacher_accuracy=0.85)
    assert "60.00% before distillation" in setfit and "closes 80% of the gap" in setfit  # (80 - 60) / (85 - 60)
    assert "trains 10 of 100 parameters" in lora


def test_header_calls_only_layer_subsets_k_layer_students():
    from textslim.measure.report import describe_students
    from textslim.params import load_params
    from textslim.students.layers import LayerParams

    params = load_params("params.yaml")
    params = replace(params, distill=replace(params.distill, students=("spread", "pretrained", "lora", "setfit",
                                                                         "lstm")),
                     recipes={**params.recipes, "spread": LayerParams(num_layers=6)})
    described = describe_students(params)
    assert described.startswith("spread (6 teacher layers), pretrained (`builtin:minilm-l6`), lora (adapters on ")
    assert described.count("teacher layers") == 1 and "lstm (BiLSTM on word2vec)" in described


def _rows_with_teacher_int8():
    teacher = {"params": 4000, "size_bytes": 80e6, "test": _metrics(0.85, 0)}
    baseline = {"params": 10, "size_bytes": 1e6, "test": _metrics(0.78, 0)}
    deployed = {"forms": {"onnx-int8": _metrics(0.849, 20e6)}}
    students = {"s": {"recipe": {"max_length": 64}, "forms": {"onnx-int8": _metrics(0.84, 8e6)}}}
    rows = variant_rows(teacher, baseline, students, 64, deployed)
    timings = {"teacher": Timing(20.0, 25.0, 100.0), "teacher-int8": Timing(6.0, 7.0, 300.0),
               "s-int8": Timing(2.0, 3.0, 900.0), "tfidf-logreg": Timing(0.5, 0.6, 9000.0)}
    return with_timings(rows, timings)


def test_teacher_int8_is_a_row_a_reference_and_never_the_best_student():
    rows = {r["name"]: r for r in _rows_with_teacher_int8()}
    assert rows["teacher-int8"]["student"] is None
    assert rows["teacher-int8"]["speedup_vs_teacher"] == pytest.approx(3.33)  # 20 ms / 6 ms, to 2 decimals
    assert rows["s-int8"]["speedup_vs_teacher_int8"] == pytest.approx(3.0)
    assert rows["s-int8"]["size_ratio_vs_teacher_int8"] == pytest.approx(2.5)
    assert best_student(list(rows.values()))["name"] == "s-int8"  # teacher-int8 is more accurate, but no student


def test_compression_and_baseline_lines_say_what_was_done():
    from textslim.measure.report import baseline_line, compression_lines

    structured = {"method": "structured", "params_before": 17_400_000, "params": 7_900_000,
                  "vocabulary": {"vocab_before": 30522, "vocab_after": 15540, "test_texts_with_dropped_tokens": 0.286,
                                 "validation_texts_with_dropped_tokens": 0.271, "trimmed_to_texts": 40201},
                  "structured": {"heads_before": [12, 12, 12], "heads_after": [5, 7, 6],
                                 "intermediate_size_before": 1536, "intermediate_size_after": 384}}
    fallback = {"method": "unstructured", "params_before": 1_260_000, "params": 1_260_000, "linear_sparsity": 0.3,
                "note": "structured pruning knows bert, mpnet encoders, not textslim-bilstm"}
    lines = compression_lines({"spread": {"sparsity": structured}, "lstm": {"sparsity": fallback}})
    spread, lstm = lines[2], lines[3]
    assert ("vocabulary 30,522 → 15,540 entries, kept for the 40,201 transfer texts (27.1% of validation and 28.6% of "
            "test texts use a dropped one)") in spread
    assert "heads 36 → 18 (per layer [5, 7, 6]), FFN 1536 → 384" in spread and "17.40M → 7.90M" in spread
    assert "sparsity 0.30" in lstm and "not textslim-bilstm" in lstm
    baseline = {"chosen": {"features": "word+char", "c": 8.0}, "grid": [{}] * 30,
                "selected_by": "validation macro_f1", "test": {"accuracy": 0.7837}}
    assert baseline_line(baseline) == ("TF-IDF + logistic regression: features word+char, c 8.0, the best of 30 "
                                       "settings by validation macro_f1: 78.37% on test.")


def hardware_summary() -> dict:
    """A compare stage's summary with the roofline, thread and where-the-time-goes figures, for spread-int8."""
    timing = {"batch1_ms_median": 2.0, "batch1_ms_threads1": 3.0, "batch1_ms_threads2": 2.0,
              "texts_per_s_batch1": 500.0, "texts_per_s_batch8": 1000.0, "texts_per_s_batch32": 1600.0}
    roof = {"tokens": 27, "gflops_per_text": 0.096, "tokenizer_ms": 0.1, "floor_ms_batch1": 0.08,
            "floor_ms_batch32": 2.5, "vs_floor_batch1": 25.0, "vs_floor_batch32": 8.0}
    rows = [{"name": "teacher", "form": "pytorch-fp32", **timing, **roof},
            {"name": "spread-int8", "form": "onnx-int8", **timing, **roof, "accuracy": 0.8, "accuracy_batch1": 0.81,
             "macro_f1_batch1": 0.8, "flips_vs_batched": 15},
            {"name": "tfidf-logreg", "form": "sklearn", **timing}]
    part = {"tokenizer_ms": 0.1, "session_run_ms": 1.0, "call_overhead_ms": 0.2, "gemm_kernels_ms": 0.5,
            "other_kernels_ms": 0.3, "top_ops_share": {"DynamicQuantizeMatMul": 0.4}, "floor_ms": 0.08}
    summary = {"variants": rows, "best_student": "spread-int8", "threads": 2, "latency_threads": [1, 2],
               "throughput_batch_sizes": [1, 8, 32],
               "peaks": {"fp32": 300.0, "torch_fp32": 300.0, "ort_fp32": 280.0, "ort_int8": 1200.0,
                         "int8_operands": "uint8 x uint8"},
               "cpu": {"model": "AMD EPYC 7B13", "int8_path": "no-vnni", "int8_path_means": "x86 without VNNI",
                       "int8_preset": "avx2", "quantized_on": {"model": "Intel Xeon", "int8_path": "vnni"}},
               "where_the_time_goes": [{"batch": 1, **part}, {"batch": 32, **part, "floor_ms": 2.5}]}
    return summary


def test_hardware_lines_show_floors_threads_batch_one_and_where_the_time_goes():
    from textslim.measure.report import hardware_lines

    text = "\n".join(hardware_lines(hardware_summary()))
    assert "CPU: AMD EPYC 7B13; int8 path `no-vnni`" in text
    assert "`avx2` preset on Intel Xeon (int8 path `vnni`)" in text
    assert "int8 1200 GOP/s (ONNX Runtime MatMulInteger, uint8 x uint8," in text
    assert "| spread-int8 " in text and "25×" in text and "8.0×" in text
    assert "TF-IDF + logistic regression has no row" in text  # no floor for sparse arithmetic
    assert "| 81.00 " in text and "| 15 " in text  # INT8 at batch 1 and its flips
    assert "## Where the time goes: spread-int8" in text and "6.2×" in text  # GEMM kernels 0.5 ms over 0.08 floor
    assert "DynamicQuantizeMatMul 40%" in text


def test_every_row_carries_its_validation_accuracy_the_select_stage_picks_by():
    teacher = {"params": 4000, "size_bytes": 80e6, "test": _metrics(0.85, 0)}
    baseline = {"params": 10, "size_bytes": 1e6, "test": _metrics(0.78, 0), "validation": {"accuracy": 0.77}}
    deployed = {"forms": {"onnx-int8": {**_metrics(0.849, 20e6), "validation": {"accuracy": 0.86}}},
                "source_validation": {"accuracy": 0.87, "macro_f1": 0.86}}
    students = {"s": {"recipe": {"max_length": 64},
                      "forms": {"onnx-int8": {**_metrics(0.84, 8e6), "validation": {"accuracy": 0.83}}}}}
    rows = {r["name"]: r for r in variant_rows(teacher, baseline, students, 64, deployed)}
    assert {name: row["validation_accuracy"] for name, row in rows.items()} == {
        "teacher": 0.87, "teacher-int8": 0.86, "s-int8": 0.83, "tfidf-logreg": 0.77}
    older = variant_rows(teacher, {"params": 10, "size_bytes": 1e6, "test": _metrics(0.78, 0)}, {}, 64)
    assert not any("validation_accuracy" in row for row in older)  # an older run's metrics: no figure, no error


def test_every_variant_of_every_student_is_evaluated_and_named_student_dot_variant(tmp_path):
    """What the summary names when compress.variants lists two (the e2e adds a variant and checks the stages)."""
    import yaml

    from textslim.measure.report import evaluated_models
    from textslim.params import load_params

    base = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    base["distill"]["students"] = ["spread", "lstm"]
    base["compress"]["variants"] = ["heavy", "trim"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(base))
    names = evaluated_models(load_params(tmp_path / "params.yaml"))
    assert names == ["spread", "spread.heavy", "spread.trim", "lstm", "lstm.heavy", "lstm.trim"]
    teacher = {"params": 4000, "size_bytes": 80e6, "test": _metrics(0.85, 0)}
    chains = {name: {"recipe": {"max_length": 64}, "forms": {"onnx-int8": _metrics(0.8, 1e6)}}
              for name in names if "." in name}
    rows = variant_rows(teacher, {"params": 1, "size_bytes": 1, "test": _metrics(0.7, 0)}, chains, 64)
    assert [(row["name"], row["student"]) for row in rows[1:-1]] == [(f"{name}-int8", name) for name in chains]



def test_where_the_time_goes_shows_a_floor_far_below_a_thousandth_of_a_ms():
    # a tiny BiLSTM's int8 floor on a CPU with a 1.6 TOP/s int8 peak: rounded to 4 decimals it was 0, and the report
    # divided by it
    from textslim.measure.report import hardware_lines
    from textslim.measure.roofline import significant

    floor = significant(0.5 / 12_000)
    assert floor == 4.167e-05
    summary = hardware_summary()
    summary["where_the_time_goes"][0]["floor_ms"] = floor
    text = "\n".join(hardware_lines(summary))
    assert "| 4.17e-05 " in text and "| 11999.0× " in text  # GEMM kernels 0.5 ms over the 4.167e-05 floor


def test_describe_prune_names_gradual_steps_only_when_there_are_several():
    from textslim.measure.report import describe_prune
    from textslim.params import PruneParams

    once = describe_prune(PruneParams(recovery_epochs=2))
    assert "2 recovery epoch(s);" in once and "steps" not in once
    assert "in 3 steps, 1 recovery epoch(s) after each;" in describe_prune(PruneParams(recovery_epochs=1, steps=3))
