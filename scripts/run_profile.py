"""Run the pipeline under a profile (params overrides) as a named DVC experiment, and keep its report.

`dvc exp run --temp` works in a temporary copy of the repo, so the default results in the workspace stay as they
are; the experiment is saved under its name (`dvc exp show`, `dvc exp diff`), and its summary is copied out as a
committed report with the wall time it took. DVC's run cache restores only stages it could save: not the training
stages, whose DVCLive folders are `cache: false` outputs (DVC skips run-caching those), so they rerun every time.

    python scripts/run_profile.py --name full-profile --report reports/full-profile.md \
        --metrics metrics/full-profile.json -- -S teacher.model=builtin:mpnet-base ...
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def experiment_ref(name: str) -> str:
    """The git ref DVC stored the named experiment under (refs/exps/<baseline>/<name>)."""
    refs = subprocess.run(["git", "for-each-ref", "--format=%(refname)", "refs/exps/"], check=True,
                          capture_output=True, text=True).stdout.split()
    matches = [ref for ref in refs if ref.endswith(f"/{name}")]
    if len(matches) != 1:
        sys.exit(f"error: expected one experiment named {name!r}, found {len(matches)}")
    return matches[0]


def reference_lines(summary: dict, source: str) -> list[str]:
    """The teacher rows (PyTorch and INT8) of another run's summary, e.g. the fully supervised default run beside a
    few-shot profile: accuracy only, since timings from another process and time are not comparable."""
    rows = [row for row in summary["variants"] if row["name"] in ("teacher", "teacher-int8")]
    lines = ["## Reference", "",
             f"The teacher rows of `{source}` (another run; same data, seed and split fractions, so the same test "
             "split). Its timings are left out: they were measured in another process, at another time.", "",
             "| model | accuracy | macro-F1 | MB on disk |", "|:--|--:|--:|--:|"]
    lines += [f"| reference {row['name']} | {100 * row['accuracy']:.2f} | {100 * row['macro_f1']:.2f} | "
              f"{row['size_mb']:.1f} |" for row in rows]
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="the experiment's name")
    parser.add_argument("--report", required=True, type=Path, help="where to write the experiment's summary.md")
    parser.add_argument("--metrics", required=True, type=Path, help="where to write its summary.json")
    parser.add_argument("--reference", type=Path, help="a summary.json whose teacher rows the report adds")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="-- then `dvc exp run` options (-S key=value)")
    args = parser.parse_args()
    overrides = [o for o in args.overrides if o != "--"]
    # Read before the run: the workspace's own summary is the reference, and a long run must not fail at its end.
    reference = [] if args.reference is None else reference_lines(json.loads(args.reference.read_text()),
                                                                  str(args.reference))

    # Stages run as `python stages/x.py` in the temporary copy: PYTHONPATH=. makes them import that copy's textslim,
    # not the editable install's (the workspace, which may be edited while a long profile runs).
    env = {**os.environ, "PYTHONPATH": "."}
    started = time.monotonic()
    done = subprocess.run(["dvc", "exp", "run", "--temp", "-n", args.name, *overrides], env=env)
    minutes = (time.monotonic() - started) / 60
    if done.returncode != 0:
        sys.exit(f"error: `dvc exp run` failed (exit {done.returncode}) after {minutes:.1f} min; nothing written")

    ref = experiment_ref(args.name)
    summary = subprocess.run(["git", "show", f"{ref}:reports/summary.md"], check=True, capture_output=True,
                             text=True).stdout
    metrics = subprocess.run(["git", "show", f"{ref}:metrics/summary.json"], check=True, capture_output=True,
                             text=True).stdout
    header = (f"Profile run as the DVC experiment `{args.name}` (`dvc exp show`): `dvc exp run --temp` "
              f"{' '.join(overrides)}\n\nWall time of this invocation: **{minutes:.1f} min** (stages restored from "
              "the run cache count as the time it took to restore them).\n\n")
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(summary.replace("# textslim summary\n", "# textslim summary: " + args.name + "\n\n"
                                           + header, 1).rstrip("\n") + "\n\n" + "\n".join(reference))
    args.metrics.parent.mkdir(parents=True, exist_ok=True)
    args.metrics.write_text(metrics)
    print(f"{args.name}: {minutes:.1f} min; wrote {args.report} and {args.metrics}")


if __name__ == "__main__":
    main()
