"""python -m textslim.students.check_params [params.yaml]: every params section checked, the student recipes'
included, before any work starts (`make repro` runs it first)."""

import sys

from textslim.cli import run_stage
from textslim.params import load_params
from textslim.students.registry import check_recipes

if __name__ == "__main__":
    run_stage(lambda: check_recipes(load_params(sys.argv[1] if len(sys.argv) > 1 else "params.yaml")))
