"""The Pareto frontier of every variant a profile has tried: accuracy against batch-1 latency and against size.

Reads one or more compare-stage summaries (metrics/summary.json, metrics/full-profile.json, or one from git history),
marks the variants no other variant beats on both axes, and writes a markdown section and a two-panel plot. Ratios
are against each summary's own teacher (PyTorch fp32), so runs timed on different days compare by ratio.

    python scripts/pareto.py --run "session 6=metrics/full-profile.json" \\
        --run "session 3=/tmp/full-profile-session3.json" --plot plots/full-profile-pareto.png \\
        --out reports/full-profile-pareto.md
"""

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def load_points(runs: list[tuple[str, Path]]) -> pd.DataFrame:
    """One row per variant per run: accuracy, and speed-up and size ratio against that run's teacher."""
    rows = []
    for label, path in runs:
        summary = json.loads(path.read_text())
        teacher = next(v for v in summary["variants"] if v["name"] == "teacher")
        for variant in summary["variants"]:
            rows.append({"run": label, "variant": variant["name"], "accuracy": 100 * variant["accuracy"],
                         "delta_pts": 100 * (variant["accuracy"] - teacher["accuracy"]),
                         "speedup": teacher["batch1_ms_median"] / variant["batch1_ms_median"],
                         "smaller": teacher["size_mb"] / variant["size_mb"]})
    return pd.DataFrame(rows)


def frontier(points: pd.DataFrame, axis: str) -> pd.Series:
    """True where no other point has at least this `axis` ratio and more accuracy, or more of both."""
    def dominated(row) -> bool:
        better = points[(points[axis] >= row[axis]) & (points["accuracy"] >= row["accuracy"])
                        & ((points[axis] > row[axis]) | (points["accuracy"] > row["accuracy"]))]
        return not better.empty
    return ~points.apply(dominated, axis=1)


def plot(points: pd.DataFrame, out: Path, target_ratio: float, target_delta: float) -> None:
    teacher_accuracy = points.loc[points["variant"] == "teacher", "accuracy"].max()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for ax, axis, title in ((axes[0], "speedup", "batch-1 speed-up vs teacher"),
                            (axes[1], "smaller", "size ratio vs teacher")):
        on = frontier(points, axis)
        for run, part in points.groupby("run"):
            ax.scatter(part[axis], part["accuracy"], label=run, alpha=0.7)
        best = points[on].sort_values(axis)
        ax.plot(best[axis], best["accuracy"], "k--", lw=1, label="frontier")
        for _, row in best.iterrows():
            ax.annotate(row["variant"], (row[axis], row["accuracy"]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        ax.axvline(target_ratio, color="grey", lw=0.8)
        ax.axhline(teacher_accuracy + target_delta, color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(title + " (log)")
        ax.set_title(f"target: ≥{target_ratio:g}× and ≥ teacher {target_delta:+g} pts (grey lines)", fontsize=9)
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="append", required=True, metavar="LABEL=SUMMARY_JSON")
    parser.add_argument("--plot", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path, help="markdown section to write")
    parser.add_argument("--target-ratio", type=float, default=10.0)
    parser.add_argument("--target-delta", type=float, default=-1.0, help="points against the teacher")
    args = parser.parse_args()

    runs = [(label, Path(path)) for label, path in (run.split("=", 1) for run in args.run)]
    points = load_points(runs)
    points["on speed frontier"] = frontier(points, "speedup")
    points["on size frontier"] = frontier(points, "smaller")
    plot(points, args.plot, args.target_ratio, args.target_delta)
    shown = points[points["on speed frontier"] | points["on size frontier"]].sort_values("accuracy", ascending=False)
    table = pd.DataFrame({
        "run": shown["run"], "variant": shown["variant"], "accuracy": shown["accuracy"].map("{:.2f}".format),
        "Δ pts": shown["delta_pts"].map("{:+.2f}".format), "speed-up": shown["speedup"].map("{:.1f}×".format),
        "smaller": shown["smaller"].map("{:.1f}×".format),
        "frontier": [", ".join(axis for axis, on in (("speed", s), ("size", z)) if on)
                     for s, z in zip(shown["on speed frontier"], shown["on size frontier"])],
    }).to_markdown(index=False, disable_numparse=True)
    meets = points[(points["speedup"] >= args.target_ratio) & (points["smaller"] >= args.target_ratio)
                   & (points["delta_pts"] >= args.target_delta)]
    verdict = (f"{len(meets)} variant(s) meet the target." if len(meets) else
               f"No variant is at once ≥{args.target_ratio:g}× faster, ≥{args.target_ratio:g}× smaller and within "
               f"{-args.target_delta:g} point of its teacher.")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(f"Variants on either frontier ({len(points)} tried over {len(runs)} run(s); a variant is on "
                        "the frontier when no other is both at least as fast (or small) and more accurate). "
                        f"{verdict} Plot: `{args.plot}`.\n\n{table}\n")
    print(table)
    print(verdict)


if __name__ == "__main__":
    main()
