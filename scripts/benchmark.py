"""A benchmark: the default recipe on another data set, over several student seeds, in a clone of this repo.

The clone (a temporary `git clone` of HEAD that shares this repo's DVC cache) keeps the workspace's default results
as they are, and runs the committed code, not whatever the workspace holds while a long benchmark runs. The first
seed is `dvc exp run` with the benchmark's overrides: every stage runs. Each further seed is
`dvc exp run -S distill.seed=N` in the same clone, whose workspace then holds the first run: the split and the teacher
are up to date, so only the students and what follows them run again. (`dvc exp run --temp` would start every seed
from the commit and fine-tune the teacher again: its DVCLive outputs keep it out of the run cache.)

The report: the data set's split and class counts, mean ± sd over the seeds, then the first seed's summary in full
(its decisions against the teacher and teacher-int8, and the test split's power), with the wall time of each run.

    python scripts/benchmark.py --name tweets --seeds 42 1 2 --report reports/benchmark-tweets.md \\
        --metrics metrics/benchmark-tweets.json -- -S data.source=builtin:tweets-sentiment -S data.test_fraction=0.2
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from textslim.atomic import atomic_file, write_json
from textslim.cpu import cpu_model
from textslim.measure.seeds import aggregate, runs_from_summaries, seeds_markdown

REPO = Path(__file__).resolve().parents[1]


def make_clone(dest: Path) -> None:
    """A git clone of HEAD at dest, using this repo's DVC cache (outputs already cached are linked, not rebuilt)."""
    cache = subprocess.run(["dvc", "cache", "dir"], cwd=REPO, check=True, capture_output=True,
                           text=True).stdout.strip()
    subprocess.run(["git", "clone", "-q", str(REPO), str(dest)], check=True)
    subprocess.run(["dvc", "cache", "dir", "--local", cache], cwd=dest, check=True)


def run_seed(clone: Path, name: str, overrides: list[str], seed: int) -> float:
    """One `dvc exp run` in the clone's workspace with distill.seed=seed; its wall time in minutes."""
    # Stages run as `python stages/x.py`: PYTHONPATH=. makes them import the clone's textslim, not the editable
    # install's (the workspace).
    env = {**os.environ, "PYTHONPATH": "."}
    started = time.monotonic()
    done = subprocess.run(["dvc", "exp", "run", "-n", f"{name}-seed-{seed}", *overrides, "-S", f"distill.seed={seed}"],
                          cwd=clone, env=env)
    minutes = (time.monotonic() - started) / 60
    if done.returncode != 0:
        sys.exit(f"error: `dvc exp run` for seed {seed} failed (exit {done.returncode}) after {minutes:.1f} min; "
                 f"nothing written (the clone is kept for a look: {clone})")
    return minutes


def data_lines(data: dict) -> list[str]:
    """The split as prepare_data made it: sizes, class counts per split, and what it dropped."""
    labels = data["labels"]
    counts = data["class_counts"]
    lines = ["## Data", "",
             f"`{data['source']}`: {data['rows_read']:,} rows read, {data['rows_kept']:,} kept "
             f"(dropped: {', '.join(f'{k} {v:,}' for k, v in data['dropped'].items())}; "
             f"left out by `data.max_train_samples`: {data['left_out_by_train_limit']:,}).", ""]
    if data.get("too_small_classes"):
        named = ", ".join(f"{label} ({n})" for label, n in data["too_small_classes"].items())
        lines += [f"Classes too small for every split, dropped (texts): {named}.", ""]
    lines += ["| class | " + " | ".join(counts) + " |", "|:--|" + "--:|" * len(counts)]
    lines += [f"| {label} | " + " | ".join(f"{counts[split].get(label, 0):,}" for split in counts) + " |"
              for label in labels]
    lines.append("| **total** | " + " | ".join(f"**{data['split_sizes'][split]:,}**" for split in counts) + " |")
    return [*lines, ""]


def benchmark_markdown(name: str, overrides: list[str], minutes: dict[int, float], data: dict,
                       summaries: dict[int, dict], first_summary_md: str, cpu: str) -> str:
    """reports/benchmark-<name>.md."""
    seeds = list(minutes)
    stats = aggregate(runs_from_summaries({seed: summaries[seed] for seed in seeds}))
    spread = seeds_markdown(stats, seeds).replace("# Spread over student seeds", "## Spread over student seeds", 1)
    heading = f"## The first seed's run in full (distill.seed={seeds[0]})"
    first = first_summary_md.replace("# textslim summary", heading, 1)
    first = "\n".join(("#" + line) if line.startswith("## ") and i else line
                      for i, line in enumerate(first.splitlines()))
    timing = "; ".join(f"seed {seed}: {m:.1f} min" for seed, m in minutes.items())
    lines = [f"# Benchmark: {name}", "",
             f"`python scripts/benchmark.py --name {name}` (`make benchmark-{name}`): the default recipe with "
             f"`{' '.join(overrides)}`, student seeds {', '.join(map(str, seeds))}, in a clone of the commit that ran "
             "it. The split and the teacher are the same in every run (top-level `seed`).", "",
             f"CPU: {cpu}. Wall time: **{sum(minutes.values()):.1f} min** ({timing}; the first seed runs every "
             "stage, the others the students onward).", "",
             *data_lines(data), spread.rstrip("\n"), "", first.rstrip("\n"), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="the benchmark's name (its experiments are <name>-seed-<N>)")
    parser.add_argument("--seeds", type=int, nargs="+", required=True, help="distill.seed values, the first run first")
    parser.add_argument("--report", required=True, type=Path)
    parser.add_argument("--metrics", required=True, type=Path)
    parser.add_argument("--collect", type=Path, metavar="CLONE",
                        help="write the report from the seeds already finished in an earlier run's clone (one stopped "
                             "before its last seed), with --minutes; runs nothing")
    parser.add_argument("--minutes", type=float, nargs="+", help="with --collect: each seed's wall time, as logged")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="-- then `dvc exp run` options (-S key=value)")
    args = parser.parse_args()
    overrides = [o for o in args.overrides if o != "--"]
    if any("distill.seed" in o for o in overrides):
        sys.exit("error: --seeds sets distill.seed; leave it out of the overrides")
    if args.collect is not None:
        collect(args, overrides)
        return

    clone = Path(tempfile.mkdtemp(prefix=f"textslim-benchmark-{args.name}-"))
    make_clone(clone)
    minutes, summaries = {}, {}
    for i, seed in enumerate(args.seeds):
        # -S persists in the clone's params.yaml, so the later seeds need only their own distill.seed
        minutes[seed] = run_seed(clone, args.name, overrides if i == 0 else [], seed)
        summaries[seed] = json.loads((clone / "metrics/summary.json").read_text())
        if i == 0:
            data = json.loads((clone / "metrics/data.json").read_text())
            first_md = (clone / "reports/summary.md").read_text()
            per_class = per_class_scores(summaries[seed], lambda path: (clone / path).read_text())
        print(f"{args.name}: seed {seed} done in {minutes[seed]:.1f} min", flush=True)

    write_outputs(args, overrides, minutes, summaries, data, first_md, per_class)
    shutil.rmtree(clone)
    print(f"{args.name}: {sum(minutes.values()):.1f} min; wrote {args.report} and {args.metrics}")


def collect(args, overrides: list[str]) -> None:
    """The report from the experiments a clone finished: each seed's files as its `dvc exp run -n` commit has them."""
    if not args.minutes or len(args.minutes) != len(args.seeds):
        sys.exit("error: --collect needs --minutes, one per seed")

    def show(seed: int, path: str) -> str:
        refs = subprocess.run(["git", "for-each-ref", "--format=%(refname)", "refs/exps/"], cwd=args.collect,
                              check=True, capture_output=True, text=True).stdout.split()
        ref = next((r for r in refs if r.endswith(f"/{args.name}-seed-{seed}")), None)
        if ref is None:
            sys.exit(f"error: no finished experiment {args.name}-seed-{seed} in {args.collect}")
        return subprocess.run(["git", "show", f"{ref}:{path}"], cwd=args.collect, check=True, capture_output=True,
                              text=True).stdout

    summaries = {seed: json.loads(show(seed, "metrics/summary.json")) for seed in args.seeds}
    first = args.seeds[0]
    write_outputs(args, overrides, dict(zip(args.seeds, args.minutes)), summaries,
                  json.loads(show(first, "metrics/data.json")), show(first, "reports/summary.md"),
                  per_class_scores(summaries[first], lambda path: show(first, path)))
    print(f"{args.name}: collected seeds {args.seeds} from {args.collect}; wrote {args.report} and {args.metrics}")


def per_class_scores(summary: dict, read) -> dict[str, dict]:
    """Each variant's per-class precision, recall, F1 and support on the test split, from the metrics the run's
    evaluate stages wrote (read: a path in the run -> its text). A many-class set is judged class by class."""
    def metrics(path: str) -> dict:
        return json.loads(read(path))

    scores = {"teacher": metrics("metrics/teacher.json")["test"]["per_class"],
              "tfidf-logreg": metrics("metrics/baseline.json")["test"]["per_class"]}
    deployed = metrics("metrics/teacher-deployed.json")["forms"]
    for row in summary["variants"]:
        if row["name"] in scores:
            continue
        forms = deployed if row["student"] is None else metrics(f"metrics/students/{row['student']}.json")["forms"]
        scores[row["name"]] = forms[row["form"]]["per_class"]
    return scores


def write_outputs(args, overrides: list[str], minutes: dict[int, float], summaries: dict[int, dict], data: dict,
                  first_md: str, per_class: dict[str, dict]) -> None:
    cpu = cpu_model()
    with atomic_file(args.report) as tmp:
        tmp.write_text(benchmark_markdown(args.name, overrides, minutes, data, summaries, first_md, cpu))
    stats = aggregate(runs_from_summaries(summaries))
    write_json(args.metrics, {
        "name": args.name, "overrides": overrides, "seeds": args.seeds, "cpu": cpu,
        "minutes": {str(seed): round(m, 1) for seed, m in minutes.items()},
        "data": data, "spread": stats.astype(object).where(stats.notna(), None).to_dict(orient="records"),
        "by_seed": {str(seed): summary["by_variant"] for seed, summary in summaries.items()},
        "first_seed_summary": summaries[args.seeds[0]], "first_seed_per_class": per_class})


if __name__ == "__main__":
    main()
