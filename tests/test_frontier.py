"""The frontier on hand-made rows: who is on it, who dominates teacher-int8 (and who nearly does), and what leads the
summary."""

from textslim.measure.frontier import dominance_line, dominates, frontier_lines, frontier_points, on_frontier


def _row(name, accuracy, ms, mb, student=True):
    return {"name": name, "student": student, "accuracy": accuracy, "batch1_ms_median": ms, "size_mb": mb,
            "speedup_vs_teacher_int8": round(3.0 / ms, 2), "size_ratio_vs_teacher_int8": round(22.0 / mb, 2)}


TEACHER = _row("teacher", 0.840, 12.0, 90.0, student=False)
TEACHER_INT8 = _row("teacher-int8", 0.838, 3.0, 22.0, student=False)
TFIDF = _row("tfidf-logreg", 0.784, 0.5, 8.0, student=False)
SPREAD = _row("spread-int8", 0.808, 1.0, 9.0)
FULL = _row("spread.full-int8", 0.835, 1.4, 14.0)  # within 0.5 points, faster and smaller: dominates
SLOWER = _row("setfit-int8", 0.830, 3.2, 23.0)  # beaten by teacher-int8 on both axes


def test_the_frontier_is_what_nothing_beats_on_both():
    rows = [TEACHER, TEACHER_INT8, TFIDF, SPREAD, FULL, SLOWER]
    assert [r["name"] for r in on_frontier(rows, "batch1_ms_median")] == [
        "tfidf-logreg", "spread-int8", "spread.full-int8", "teacher-int8", "teacher"]
    # a tie on both axes keeps both; one better in either is enough to beat
    twin = {**SPREAD, "name": "twin"}
    assert {"spread-int8", "twin"} <= {r["name"] for r in on_frontier([SPREAD, twin], "size_mb")}


def test_dominance_needs_half_a_point_faster_and_smaller():
    assert dominates(FULL, TEACHER_INT8)
    assert not dominates(SPREAD, TEACHER_INT8)  # 3 points less accurate
    assert not dominates({**FULL, "size_mb": 30.0}, TEACHER_INT8)  # larger
    assert not dominates({**FULL, "accuracy": 0.8329}, TEACHER_INT8)  # 0.51 points less
    assert dominates({**FULL, "accuracy": 0.833}, TEACHER_INT8)  # exactly 0.5 points less (0.50000000000004 in floats)


def test_the_line_names_the_fastest_that_dominates_or_the_closest_that_does_not():
    assert dominance_line([TEACHER, TEACHER_INT8, SPREAD, FULL]).endswith(
        "**yes**: `spread.full-int8` (-0.30 points, 2.1× faster, 1.6× smaller).")
    assert "**no** (the most accurate variant faster and smaller than it, `spread-int8`, is -3.00 points from it)" \
        in dominance_line([TEACHER, TEACHER_INT8, SPREAD, SLOWER])
    assert "(no variant is both faster and smaller)" in dominance_line([TEACHER, TEACHER_INT8, SLOWER])


def test_the_target_line_asks_for_twice_as_fast_and_twice_as_small():
    """FULL dominates teacher-int8, but at 2.1x faster and 1.6x smaller it misses the 2x/2x target: the target line
    says no and names the most accurate variant that is light enough (SPREAD), however far below it is."""
    assert dominates(FULL, TEACHER_INT8, ratio=1.5) and not dominates(FULL, TEACHER_INT8, ratio=2.0)
    assert dominates({**FULL, "size_mb": 11.0}, TEACHER_INT8, ratio=2.0)  # exactly 2x smaller counts
    line = dominance_line([TEACHER, TEACHER_INT8, SPREAD, FULL], ratio=2.0)
    assert line.startswith("Dominates teacher-int8 at the target (no more than 0.5 points less accurate, ≥2× faster "
                           "and ≥2× smaller): **no**")
    assert "`spread-int8`, is -3.00 points from it" in line
    assert dominance_line([TEACHER, TEACHER_INT8, {**FULL, "size_mb": 11.0}], ratio=2.0).endswith(
        "**yes**: `spread.full-int8` (-0.30 points, 2.1× faster, 2.0× smaller).")
    assert dominance_line([TEACHER, TEACHER_INT8, FULL], ratio=2.0).endswith(
        "(no variant is ≥2× faster and ≥2× smaller).")


def test_the_lead_marks_teacher_int8_and_tfidf_on_the_frontier_or_not():
    lines = frontier_lines([TEACHER, TEACHER_INT8, TFIDF, SPREAD, SLOWER])
    text = "\n".join(lines)
    assert lines[0] == "## The frontier" and "Accuracy against batch-1 ms:" in text and "Accuracy against MB" in text
    assert lines[2].startswith("Dominates teacher-int8 (") and lines[4].startswith("Dominates teacher-int8 at the "
                                                                                   "target (")
    assert "| teacher-int8 (teacher-int8, the one-line alternative) | yes" in text
    assert "tfidf-logreg (TF-IDF, the floor)" in text
    assert not any(line.startswith("| setfit-int8") for line in text.splitlines())  # off both frontiers
    points = frontier_points([TEACHER, TEACHER_INT8, SPREAD, SLOWER])
    assert points["variant"].tolist() == ["spread-int8", "teacher-int8", "teacher"]
    assert points["accuracy"].tolist() == [80.8, 83.8, 84.0]
