"""What the test split can decide: every variant's paired interval read against 1 and 0.5 point, below the teacher
and below teacher-int8 (the teacher exported and quantized the same way: the one-line alternative a user tries
first), and how many test texts a 0.5-point decision would take."""

import pandas as pd

from textslim.measure.report import within_points
from textslim.measure.significance import REFERENCES, half_width_points, texts_needed

POINTS = (1.0, 0.5)


def verdict(low: float, high: float, points: float) -> str:
    """Is the variant at most `points` below the reference? report.within_points' reading of an interval (fractions),
    in a word: yes, no or undecided."""
    row = {"delta_accuracy_ci95_low": low, "delta_accuracy_ci95_high": high}
    return within_points(row, points).removesuffix(" by the test split")


def decisions_table(rows: list[dict]) -> str:
    """One row per variant with intervals (the teacher itself and TF-IDF left out)."""
    records = []
    for row in rows:
        if row["name"] == "teacher" or "delta_accuracy_ci95_low" not in row:
            continue
        record = {"variant": row["name"]}
        for reference, suffix in REFERENCES:
            low, high = row.get(f"delta_accuracy{suffix}_ci95_low"), row.get(f"delta_accuracy{suffix}_ci95_high")
            if low is None:
                continue
            record[f"Δ vs {reference}, 95% (pts)"] = f"{100 * low:+.2f} to {100 * high:+.2f}"
            for points in POINTS:
                record[f"≤ {points:g} pt below {reference}"] = verdict(low, high, points)
        records.append(record)
    return pd.DataFrame(records).to_markdown(index=False, disable_numparse=True)


def power_line(row: dict, test_texts: int) -> str:
    """How far this test split can see, at the disagreement between `row` and the teacher."""
    share, delta = row["disagreement"], row["delta_accuracy_vs_teacher"]
    return (f"Power: {row['name']} and the teacher differ in correctness on {100 * share:.1f}% of the "
            f"{test_texts:,} test texts, so this split's paired 95% interval is about "
            f"±{half_width_points(share, delta, test_texts):.2f} points; an interval of ±0.5 points would take "
            f"about {texts_needed(share, delta, 0.5):,} test texts.")


def decision_lines(rows: list[dict], best: dict | None, test_texts: int) -> list[str]:
    """The report's decisions section."""
    lines = ["## What the test split decides", "",
             "Each variant's paired 95% interval of the accuracy difference, against the teacher and against "
             "teacher-int8, read against 1 and 0.5 point: yes (the whole interval lies above −points), no (all of it "
             "below), or undecided by the test split. Both references are judged on the same resampled texts.", "",
             decisions_table(rows), ""]
    if best is not None and "disagreement" in best:
        lines += [power_line(best, test_texts), ""]
    return lines
