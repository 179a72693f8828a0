"""Spread over student seeds: mean ± sd (and n) of each variant's figures across runs that differ only in
`distill.seed`, and which pairs of students differ by less than that spread."""

import math
from itertools import combinations

import pandas as pd

from textslim.errors import TextslimError

FIGURES = ("accuracy", "macro_f1", "speedup_vs_teacher")


SWEEP_PREFIX = "seed-"  # scripts/seed_sweep.py names its experiments seed-<N>


def runs_from_exp_show(rows: list[dict]) -> pd.DataFrame:
    """One row per (seed, variant) from `dvc.api.exp_show()` rows (flattened keys like by_variant.<name>.accuracy).

    The workspace's run and the sweep's finished experiments count; git commits (earlier code) and queued, running or
    failed experiments (whose figures are still their baseline's) do not. A seed counts once, first row first.
    """
    records, seen = [], set()
    for row in rows:
        seed = row.get("distill.seed")
        sweep = str(row.get("Experiment") or "").startswith(SWEEP_PREFIX) and row.get("State") == "Success"
        if not (row.get("rev") == "workspace" or sweep) or seed is None or seed in seen:
            continue
        # by_variant.<name>.<figure>: a chain's name has a dot (spread.heavy-int8), a figure's never
        variants = {key.removeprefix("by_variant.").rsplit(".", 1)[0] for key in row
                    if key.startswith("by_variant.") and row[key] not in (None, "None")}
        if not variants:
            continue
        seen.add(seed)
        for variant in sorted(variants):
            records.append({"seed": int(seed), "variant": variant,
                            **{f: row.get(f"by_variant.{variant}.{f}") for f in FIGURES}})
    return pd.DataFrame.from_records(records, columns=["seed", "variant", *FIGURES])


def runs_from_summaries(summaries: dict[int, dict]) -> pd.DataFrame:
    """One row per (seed, variant) from each seed's metrics/summary.json (its `by_variant` figures)."""
    records = [{"seed": int(seed), "variant": variant, **{f: figures[f] for f in FIGURES}}
               for seed, summary in summaries.items() for variant, figures in sorted(summary["by_variant"].items())]
    return pd.DataFrame.from_records(records, columns=["seed", "variant", *FIGURES])


def aggregate(runs: pd.DataFrame) -> pd.DataFrame:
    """Per variant: n, and mean and sample sd of every figure (sd is NaN for a single run)."""
    if runs.empty:
        raise TextslimError("seeds: no finished run with a metrics/summary.json to aggregate")
    stats = runs.groupby("variant")[list(FIGURES)].agg(["mean", "std"])
    stats.columns = [f"{figure}_{stat}" for figure, stat in stats.columns]
    stats.insert(0, "n", runs.groupby("variant")["seed"].nunique())
    return stats.reset_index()


def within_spread(stats: pd.DataFrame, form: str = "-int8") -> list[tuple[str, str, float, float]]:
    """Pairs of `form` students whose mean accuracies differ by less than the larger of their two sds."""
    students = stats["variant"].str.endswith(form) & ~stats["variant"].str.startswith("teacher")
    rows = stats[students].set_index("variant")
    pairs = []
    for a, b in combinations(rows.index, 2):
        gap = abs(rows.at[a, "accuracy_mean"] - rows.at[b, "accuracy_mean"])
        spread = max(rows.at[a, "accuracy_std"], rows.at[b, "accuracy_std"])
        if not math.isnan(spread) and gap < spread:
            pairs.append((a, b, gap, spread))
    return pairs


def seeds_markdown(stats: pd.DataFrame, seeds: list[int]) -> str:
    """reports/seeds.md: the table and the pairs that seed noise cannot tell apart."""
    table = pd.DataFrame({
        "variant": stats["variant"], "n": stats["n"],
        "accuracy (mean ± sd)": [f"{100 * m:.2f} ± {100 * s:.2f}" for m, s in
                                 zip(stats["accuracy_mean"], stats["accuracy_std"])],
        "macro-F1 (mean ± sd)": [f"{100 * m:.2f} ± {100 * s:.2f}" for m, s in
                                 zip(stats["macro_f1_mean"], stats["macro_f1_std"])],
        "speed-up vs teacher (mean ± sd)": [f"{m:.1f}× ± {s:.1f}" for m, s in
                                            zip(stats["speedup_vs_teacher_mean"], stats["speedup_vs_teacher_std"])],
    }).to_markdown(index=False, disable_numparse=True)
    lines = ["# Spread over student seeds", "",
             f"`distill.seed` ∈ {{{', '.join(map(str, seeds))}}}; the split and the teacher are the same in every run "
             "(top-level `seed`). Each run's compare stage timed its own variants, so the speed-up's sd includes the "
             "machine's drift between runs. Test split; sd is the sample standard deviation.", "", table, ""]
    close = within_spread(stats)
    if len(seeds) < 2:
        lines += ["One seed: no sd yet, so nothing here tells which differences between students are seed noise."]
    elif close:
        lines += ["INT8 students whose accuracies differ by less than their spread over seeds (the ranking between "
                  "them is noise):", ""]
        lines += [f"- `{a}` vs `{b}`: {100 * gap:.2f} points apart, sd up to {100 * sd:.2f}"
                  for a, b, gap, sd in close]
    else:
        lines += ["Every pair of INT8 students differs by more than the larger of their two sds."]
    return "\n".join(lines) + "\n"
