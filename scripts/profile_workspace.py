"""A workspace for another profile, run up to the stages a study reads: a git clone of HEAD that shares this repo's DVC
cache, in which `dvc exp run` applies the profile's overrides and runs the targets (and what they depend on).

The workspace's own results stay as they are, as in scripts/benchmark.py. The clone is kept at --dest and reused:
a later call brings it to HEAD again (the overrides are applied anew) and runs only what changed, so a study over
several sessions pays for the profile's teacher once. scripts/transfer_curve.py --workspace reads it.

    python scripts/profile_workspace.py --dest ~/.cache/textslim/workspaces/tweets -- \\
        -S data.source=builtin:tweets-sentiment -S data.test_fraction=0.2
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmark import REPO, make_clone

# What scripts/transfer_curve.py reads: the split, the drift texts, the teacher, its logits and its scores.
TEACHER_STAGES = ["finetune_teacher", "prepare_drift", "evaluate_teacher"]


def bring_to_head(dest: Path) -> None:
    """The kept clone at this repo's HEAD, its params.yaml as committed (the overrides are applied again)."""
    subprocess.run(["git", "fetch", "-q", str(REPO), "HEAD"], cwd=dest, check=True)
    subprocess.run(["git", "checkout", "-q", "--force", "FETCH_HEAD"], cwd=dest, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", type=Path, required=True, help="the clone: made if missing, reused if there")
    parser.add_argument("--targets", nargs="+", default=TEACHER_STAGES, help="dvc.yaml stages to run")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="after --: `-S key=value` for dvc exp run")
    args = parser.parse_args()
    overrides = [o for o in args.overrides if o != "--"]
    dest = args.dest.expanduser().resolve()
    if (dest / ".git").is_dir():
        bring_to_head(dest)
    elif dest.exists() and any(dest.iterdir()):
        sys.exit(f"error: --dest {dest} exists and is not a clone made by this script; name an empty or new folder")
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        make_clone(dest)
    # Stages run as `python stages/x.py`: PYTHONPATH=. makes them import the clone's textslim (as benchmark.py does).
    started = time.monotonic()
    done = subprocess.run(["dvc", "exp", "run", *overrides, *args.targets], cwd=dest,
                          env={**os.environ, "PYTHONPATH": "."})
    minutes = (time.monotonic() - started) / 60
    if done.returncode != 0:
        sys.exit(f"error: `dvc exp run` in {dest} failed (exit {done.returncode}) after {minutes:.1f} min")
    print(f"{dest}: {', '.join(args.targets)} up to date with {' '.join(overrides) or 'no overrides'} "
          f"({minutes:.1f} min)")


if __name__ == "__main__":
    main()
