"""The Pareto frontier over every variant of a run: accuracy against batch-1 latency and against size, and whether
any variant dominates teacher-int8 (the one-line alternative a user tries first).

A variant is on a frontier when no other is at least as accurate and at least as fast (or small), and better in one
of the two. It dominates teacher-int8 when it is no more than DOMINANCE_POINTS less accurate and both faster and
smaller; the summary also says whether one does so at TARGET_RATIO times on both axes, so that a variant barely
lighter than teacher-int8 (setfit, the teacher's own architecture) is not read as meeting the target.
"""

import math

import pandas as pd

DOMINANCE_POINTS = 0.5
TARGET_RATIO = 2.0  # the second line: the compression target, >= 2x faster and >= 2x smaller than teacher-int8
AXES = {"batch1_ms_median": "batch-1 ms", "size_mb": "MB on disk"}  # lower is better on both
MARKED = {"teacher-int8": "teacher-int8, the one-line alternative", "tfidf-logreg": "TF-IDF, the floor"}


def on_frontier(rows: list[dict], axis: str) -> list[dict]:
    """The rows no other row beats on accuracy and `axis` together, fastest (smallest) first."""
    def beaten(row: dict) -> bool:
        return any(o["accuracy"] >= row["accuracy"] and o[axis] <= row[axis]
                   and (o["accuracy"] > row["accuracy"] or o[axis] < row[axis]) for o in rows)
    return sorted((r for r in rows if not beaten(r)), key=lambda r: r[axis])


def dominates(row: dict, reference: dict, points: float = DOMINANCE_POINTS, ratio: float = 1.0) -> bool:
    """No more than `points` less accurate than reference, and both faster and smaller: by at least `ratio` times."""
    faster = reference["batch1_ms_median"] / row["batch1_ms_median"]
    smaller = reference["size_mb"] / row["size_mb"]
    return (100 * (reference["accuracy"] - row["accuracy"]) <= points + 1e-9  # exactly half a point counts
            and faster > 1 and smaller > 1 and faster >= ratio and smaller >= ratio)


def dominance_line(rows: list[dict], ratio: float = 1.0) -> str:
    """One line: does any variant dominate teacher-int8 (by at least `ratio` times on both axes), and which: the
    fastest of them, or else how far the most accurate of those light enough falls short."""
    reference = next((r for r in rows if r["name"] == "teacher-int8"), None)
    lighter = "faster and smaller" if ratio == 1 else f"≥{ratio:g}× faster and ≥{ratio:g}× smaller"
    claim = f"Dominates teacher-int8{'' if ratio == 1 else ' at the target'}"
    if reference is None:
        return f"{claim}: no teacher-int8 in this run."
    rule = f"{claim} (no more than {DOMINANCE_POINTS:g} points less accurate, {lighter})"
    winners = sorted((r for r in rows if r is not reference and dominates(r, reference, ratio=ratio)),
                     key=lambda r: r["batch1_ms_median"])
    if not winners:
        light = [r for r in rows if r is not reference and dominates(r, reference, points=math.inf, ratio=ratio)]
        close = max(light, key=lambda r: r["accuracy"], default=None)
        hint = (f" (the most accurate variant {lighter} than it, `{close['name']}`, is "
                f"{100 * (close['accuracy'] - reference['accuracy']):+.2f} points from it)") if close else (
            f" (no variant is {'both ' if ratio == 1 else ''}{lighter})")
        return f"{rule}: **no**{hint}."
    best = winners[0]
    return (f"{rule}: **yes**: `{best['name']}` ({100 * (best['accuracy'] - reference['accuracy']):+.2f} points, "
            f"{reference['batch1_ms_median'] / best['batch1_ms_median']:.1f}× faster, "
            f"{reference['size_mb'] / best['size_mb']:.1f}× smaller)"
            + (f", and {len(winners) - 1} more" if len(winners) > 1 else "") + ".")


def frontier_lines(rows: list[dict]) -> list[str]:
    """reports/summary.md's lead: the two dominance lines (any lighter, and at TARGET_RATIO) and the two frontiers as
    tables (teacher-int8 and TF-IDF marked, on it or not)."""
    lines = ["## The frontier", "", dominance_line(rows), "", dominance_line(rows, TARGET_RATIO), ""]
    for axis, label in AXES.items():
        points = on_frontier(rows, axis)
        shown = points + [r for r in rows if r["name"] in MARKED and r not in points]
        ratio = "speedup_vs_teacher_int8" if axis == "batch1_ms_median" else "size_ratio_vs_teacher_int8"
        table = pd.DataFrame([{
            "model": r["name"] + (f" ({MARKED[r['name']]})" if r["name"] in MARKED else ""),
            "on the frontier": "yes" if r in points else "no", "accuracy": f"{100 * r['accuracy']:.2f}",
            label: f"{r[axis]:.2f}" if axis == "batch1_ms_median" else f"{r[axis]:.1f}",
            "× vs teacher-int8": f"{r[ratio]:.1f}" if ratio in r else "—"} for r in shown])
        lines += [f"Accuracy against {label}:", "", table.to_markdown(index=False, disable_numparse=True), ""]
    return lines


def frontier_points(rows: list[dict]) -> pd.DataFrame:
    """The latency frontier as data for a DVC plot (plots/frontier.csv): overlaid across experiments by
    `dvc plots diff`, beside plots/variants.csv's every point."""
    points = on_frontier(rows, "batch1_ms_median")
    return pd.DataFrame({"variant": [r["name"] for r in points], "batch1_ms": [r["batch1_ms_median"] for r in points],
                         "accuracy": [round(100 * r["accuracy"], 2) for r in points]})
