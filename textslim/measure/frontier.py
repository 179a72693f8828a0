"""The Pareto frontier over every variant of a run: accuracy against batch-1 latency and against size, and whether
any variant dominates teacher-int8 (the one-line alternative a user tries first).

A variant is on a frontier when no other is at least as accurate and at least as fast (or small), and better in one
of the two. It dominates teacher-int8 when it is no more than DOMINANCE_POINTS less accurate and both faster and
smaller.
"""

import pandas as pd

DOMINANCE_POINTS = 0.5
AXES = {"batch1_ms_median": "batch-1 ms", "size_mb": "MB on disk"}  # lower is better on both
MARKED = {"teacher-int8": "teacher-int8, the one-line alternative", "tfidf-logreg": "TF-IDF, the floor"}


def on_frontier(rows: list[dict], axis: str) -> list[dict]:
    """The rows no other row beats on accuracy and `axis` together, fastest (smallest) first."""
    def beaten(row: dict) -> bool:
        return any(o["accuracy"] >= row["accuracy"] and o[axis] <= row[axis]
                   and (o["accuracy"] > row["accuracy"] or o[axis] < row[axis]) for o in rows)
    return sorted((r for r in rows if not beaten(r)), key=lambda r: r[axis])


def dominates(row: dict, reference: dict, points: float = DOMINANCE_POINTS) -> bool:
    return (100 * (reference["accuracy"] - row["accuracy"]) <= points + 1e-9  # exactly half a point counts
            and row["batch1_ms_median"] < reference["batch1_ms_median"] and row["size_mb"] < reference["size_mb"])


def dominance_line(rows: list[dict]) -> str:
    """One line: does any variant dominate teacher-int8, and which (the fastest of them)."""
    reference = next((r for r in rows if r["name"] == "teacher-int8"), None)
    if reference is None:
        return "Dominates teacher-int8: no teacher-int8 in this run."
    winners = sorted((r for r in rows if r is not reference and dominates(r, reference)),
                     key=lambda r: r["batch1_ms_median"])
    if not winners:  # how far the best of those that are faster and smaller falls short
        lighter = [r for r in rows if r["batch1_ms_median"] < reference["batch1_ms_median"]
                   and r["size_mb"] < reference["size_mb"]]
        close = max(lighter, key=lambda r: r["accuracy"], default=None)
        gap = 100 * (close["accuracy"] - reference["accuracy"]) if close else 0.0
        hint = (f" (the most accurate variant faster and smaller than it, `{close['name']}`, is {gap:+.2f} points "
                "from it)") if close else " (no variant is both faster and smaller)"
        return (f"Dominates teacher-int8 (no more than {DOMINANCE_POINTS:g} points less accurate, faster and "
                f"smaller): **no**{hint}.")
    best = winners[0]
    return (f"Dominates teacher-int8 (no more than {DOMINANCE_POINTS:g} points less accurate, faster and smaller): "
            f"**yes**: `{best['name']}` ({100 * (best['accuracy'] - reference['accuracy']):+.2f} points, "
            f"{reference['batch1_ms_median'] / best['batch1_ms_median']:.1f}× faster, "
            f"{reference['size_mb'] / best['size_mb']:.1f}× smaller)"
            + (f", and {len(winners) - 1} more" if len(winners) > 1 else "") + ".")


def frontier_lines(rows: list[dict]) -> list[str]:
    """reports/summary.md's lead: the two frontiers as tables (teacher-int8 and TF-IDF marked, on it or not) and the
    dominance line."""
    lines = ["## The frontier", "", dominance_line(rows), ""]
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
