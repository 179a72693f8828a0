"""Spread over student seeds: queue one DVC experiment per extra `distill.seed`, run the queue, and aggregate.

The teacher and the split depend on the top-level `seed` only, so DVC restores them (and the baseline) from its
cache in every experiment; only the students and what follows them run again. The workspace's own run counts as
the seed in params.yaml.

    python scripts/seed_sweep.py --seeds 1 2          # queue and run (about 20 min a seed here), then aggregate
    python scripts/seed_sweep.py --report-only        # aggregate the experiments already run
"""

import argparse
import logging
import subprocess
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from textslim.atomic import atomic_file, write_json  # noqa: E402
from textslim.cli import run_stage  # noqa: E402
from textslim.errors import TextslimError  # noqa: E402
from textslim.measure.seeds import aggregate, runs_from_exp_show, seeds_markdown  # noqa: E402

log = logging.getLogger(__name__)


def run_queue(seeds: list[int]) -> None:
    """dvc exp run --queue for each seed, then dvc queue start with one worker (2 cores), and wait for it."""
    for seed in seeds:
        subprocess.run(["dvc", "exp", "run", "--queue", "--name", f"seed-{seed}", "-S", f"distill.seed={seed}"],
                       check=True)
    subprocess.run(["dvc", "queue", "start", "--jobs", "1"], check=True)
    while True:  # `dvc queue start` returns at once; its worker runs the experiments one after another
        status = subprocess.run(["dvc", "queue", "status"], check=True, capture_output=True, text=True).stdout
        if not any(word in status for word in ("Queued", "Running")):
            break
        time.sleep(30)
    log.info("queue done:\n%s", status)


def plot(stats, path) -> None:
    """Accuracy of every variant with its sd as an error bar."""
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(stats) + 1.5))
    ax.errorbar(100 * stats["accuracy_mean"], range(len(stats)), xerr=100 * stats["accuracy_std"].fillna(0),
                fmt="o", capsize=3)
    ax.set_yticks(range(len(stats)), stats["variant"])
    ax.set_xlabel("test accuracy (%), mean ± sd over student seeds")
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="*", default=[], help="extra distill.seed values to run")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--report", default="reports/seeds.md")
    parser.add_argument("--metrics", default="metrics/seeds.json")
    parser.add_argument("--plot", default="plots/seeds.png")
    args = parser.parse_args()
    if not args.report_only:
        if not args.seeds:
            raise TextslimError("--seeds (SEEDS in the Makefile): an empty list; give the extra distill.seed values")
        run_queue(args.seeds)

    import dvc.api

    # num: the queued experiments' baseline may be some commits behind HEAD by the time they finish
    runs = runs_from_exp_show(dvc.api.exp_show(num=50))
    stats = aggregate(runs)
    seeds = sorted(runs["seed"].unique().tolist())
    with atomic_file(args.report) as tmp:
        tmp.write_text(seeds_markdown(stats, seeds))
    write_json(args.metrics, {"seeds": seeds, "variants": stats.to_dict(orient="records")})
    plot(stats, args.plot)
    log.info("%d runs (seeds %s) aggregated into %s", len(seeds), seeds, args.report)


if __name__ == "__main__":
    run_stage(main)
