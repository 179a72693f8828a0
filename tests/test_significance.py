"""The paired bootstrap interval for an accuracy difference."""

import numpy as np
import pandas as pd
import pytest

from textslim.measure.significance import accuracy_difference_interval


def _pair(n: int, only_variant_right: int, only_reference_right: int, both_right: int):
    """Labels all 0; predictions 0 (right) or 1 (wrong), in the counts asked for."""
    labels = np.zeros(n, dtype=int)
    reference, variant = np.ones(n, dtype=int), np.ones(n, dtype=int)
    a, b, c = only_variant_right, only_reference_right, both_right
    variant[:a] = 0
    reference[a:a + b] = 0
    variant[a + b:a + b + c] = reference[a + b:a + b + c] = 0
    return labels, reference, variant


def test_interval_matches_the_normal_approximation_of_the_paired_difference():
    labels, reference, variant = _pair(2000, only_variant_right=120, only_reference_right=60, both_right=1500)
    per_text = (variant == labels).astype(float) - (reference == labels).astype(float)
    assert per_text.mean() == pytest.approx(0.03)
    half_width = 1.96 * per_text.std(ddof=1) / np.sqrt(len(per_text))
    low, high = accuracy_difference_interval(labels, reference, variant)
    assert low == pytest.approx(0.03 - half_width, abs=0.003)
    assert high == pytest.approx(0.03 + half_width, abs=0.003)
    assert low > 0  # 60 more texts right out of 2000 is more than luck


def test_a_small_difference_straddles_zero_and_the_sign_follows_the_order():
    labels, reference, variant = _pair(1276, only_variant_right=10, only_reference_right=16, both_right=1050)
    low, high = accuracy_difference_interval(labels, reference, variant)
    assert low < -6 / 1276 < high and low < 0 < high
    back = accuracy_difference_interval(labels, variant, reference)
    assert back[0] == pytest.approx(-high, abs=0.002) and back[1] == pytest.approx(-low, abs=0.002)


def test_identical_predictions_give_an_exact_zero_and_it_is_seeded():
    labels, reference, variant = _pair(100, 5, 7, 60)
    assert accuracy_difference_interval(labels, reference, reference) == (0.0, 0.0)
    assert accuracy_difference_interval(labels, reference, variant, seed=3) == \
        accuracy_difference_interval(labels, reference, variant, seed=3)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="equal-length"):
        accuracy_difference_interval(np.zeros(3), np.zeros(3), np.zeros(4))


def test_every_model_row_gets_its_interval_from_its_own_predictions(tmp_path):
    from textslim.measure.significance import with_accuracy_intervals

    labels = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    teacher = np.array([0, 1, 0, 1, 0, 1, 0, 0])  # 7 of 8
    pd.DataFrame({"onnx-int8": teacher}).to_csv(tmp_path / "teacher.csv", index=False)
    pd.DataFrame({"onnx-fp32": labels, "onnx-int8": 1 - labels}).to_csv(tmp_path / "s.csv", index=False)
    rows = [{"name": "teacher", "student": None, "form": "pytorch-fp32", "runtime": "pytorch"},
            {"name": "teacher-int8", "student": None, "form": "onnx-int8", "runtime": "onnxruntime"},
            {"name": "s-fp32", "student": "s", "form": "onnx-fp32", "runtime": "onnxruntime"},
            {"name": "s-int8", "student": "s", "form": "onnx-int8", "runtime": "onnxruntime"},
            {"name": "tfidf-logreg", "student": None, "form": "sklearn", "runtime": "sklearn"}]
    out = {r["name"]: r for r in with_accuracy_intervals(rows, labels, teacher, tmp_path)}
    assert (out["teacher"]["delta_accuracy_ci95_low"], out["teacher"]["delta_accuracy_ci95_high"]) == (0, 0)
    assert out["teacher-int8"]["delta_accuracy_ci95_low"] == 0 == out["teacher-int8"]["delta_accuracy_ci95_high"]
    assert out["s-fp32"]["delta_accuracy_ci95_low"] <= 1 / 8 <= out["s-fp32"]["delta_accuracy_ci95_high"]
    assert out["s-fp32"]["delta_accuracy_ci95_high"] > 0  # right on the one text the teacher gets wrong
    assert out["s-int8"]["delta_accuracy_ci95_low"] <= -7 / 8 <= out["s-int8"]["delta_accuracy_ci95_high"] < 0
    assert "delta_accuracy_ci95_low" not in out["tfidf-logreg"]


def test_a_missing_predictions_file_names_the_stage_that_writes_it(tmp_path):
    from textslim.errors import TextslimError
    from textslim.measure.significance import with_accuracy_intervals

    rows = [{"name": "s-int8", "student": "s", "form": "onnx-int8", "runtime": "onnxruntime"}]
    with pytest.raises(TextslimError, match=r"s\.csv is missing: the evaluate stage writes it"):
        with_accuracy_intervals(rows, np.zeros(2), np.zeros(2), tmp_path)


def test_the_summary_reads_the_best_students_interval_against_one_point():
    from textslim.measure.report import within_points

    def row(low, high):
        return {"delta_accuracy_ci95_low": low / 100, "delta_accuracy_ci95_high": high / 100}

    assert within_points(row(-0.8, 0.3), 1.0) == "yes"
    assert within_points(row(-3.5, -1.4), 1.0) == "no"
    assert within_points(row(-1.9, -0.2), 1.0) == "undecided by the test split"


def test_the_teacher_int8_interval_is_drawn_on_the_same_resampled_texts(tmp_path):
    from textslim.measure.significance import with_accuracy_intervals

    labels, teacher, variant = _pair(400, 30, 50, 11)
    int8_differs = teacher.copy()
    int8_differs[:9] = 1 - int8_differs[:9]
    rows = [{"name": "teacher", "student": None, "form": "pytorch-fp32", "runtime": "pytorch"},
            {"name": "teacher-int8", "student": None, "form": "onnx-int8", "runtime": "onnxruntime"},
            {"name": "s-int8", "student": "s", "form": "onnx-int8", "runtime": "onnxruntime"}]
    pd.DataFrame({"onnx-int8": variant}).to_csv(tmp_path / "s.csv", index=False)
    for int8 in (teacher, int8_differs):
        pd.DataFrame({"onnx-int8": int8}).to_csv(tmp_path / "teacher.csv", index=False)
        out = {r["name"]: r for r in with_accuracy_intervals(rows, labels, teacher, tmp_path)}["s-int8"]
        against = [(out[f"delta_accuracy{s}_ci95_low"], out[f"delta_accuracy{s}_ci95_high"])
                   for s in ("", "_vs_teacher_int8")]
        # teacher-int8 equal to the teacher: the same resamples give the very same interval; else another one
        assert (against[0] == against[1]) == (int8 is teacher)
        assert out["disagreement_vs_teacher_int8"] == float(((variant == labels) != (int8 == labels)).mean())


def test_the_power_figures_match_the_normal_approximation():
    from textslim.measure.significance import half_width_points, texts_needed

    # the figures: 12% of texts differing, 7,000 texts: about ±0.8 points; 1,276 texts: about ±1.9
    assert half_width_points(0.12, 0.0, 7000) == pytest.approx(0.81, abs=0.01)
    assert half_width_points(0.12, 0.0, 1276) == pytest.approx(1.90, abs=0.01)
    assert texts_needed(0.12, 0.0, 0.5) == 18440  # ceil(3.8416 * 0.12 / 0.005²)
    assert half_width_points(0.12, 0.0, texts_needed(0.12, 0.0, 0.5)) <= 0.5


def test_the_decisions_read_each_interval_against_both_references_and_both_bars():
    from textslim.measure.decisions import decision_lines, verdict

    assert [verdict(-0.004, 0.01, 0.5), verdict(-0.009, -0.006, 0.5), verdict(-0.02, 0.0, 1.0)] == \
        ["yes", "no", "undecided"]
    rows = [{"name": "teacher", "delta_accuracy_ci95_low": 0.0, "delta_accuracy_ci95_high": 0.0},
            {"name": "s-int8", "delta_accuracy_ci95_low": -0.012, "delta_accuracy_ci95_high": -0.002,
             "delta_accuracy_vs_teacher_int8_ci95_low": -0.004, "delta_accuracy_vs_teacher_int8_ci95_high": 0.003,
             "disagreement": 0.12, "delta_accuracy_vs_teacher": -0.007},
            {"name": "tfidf-logreg"}]
    lines = "\n".join(decision_lines(rows, rows[1], test_texts=7000)).splitlines()
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if line.startswith("| ")]
    assert cells[0] == ["variant", "Δ vs teacher, 95% (pts)", "≤ 1 pt below teacher", "≤ 0.5 pt below teacher",
                        "Δ vs teacher-int8, 95% (pts)", "≤ 1 pt below teacher-int8", "≤ 0.5 pt below teacher-int8"]
    assert cells[1:] == [["s-int8", "-1.20 to -0.20", "undecided", "undecided", "-0.40 to +0.30", "yes", "yes"]]
    assert not any(line.startswith(("| teacher ", "| tfidf")) for line in lines)
    assert lines[-1] == ("Power: s-int8 and the teacher differ in correctness on 12.0% of the 7,000 test texts, so "
                         "this split's paired 95% interval is about ±0.81 points; an interval of ±0.5 points would "
                         "take about 18,433 test texts.")
