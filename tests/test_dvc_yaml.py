"""dvc.yaml declares what each stage depends on; a dependency missing here would leave stale results after a change,
and one too many reruns (retrains) a stage for nothing."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from textslim.params import DistillParams

REPO = Path(__file__).resolve().parents[1]
DVC_YAML = yaml.safe_load((REPO / "dvc.yaml").read_text())
STAGES = {name: stage.get("do", stage) for name, stage in DVC_YAML["stages"].items()}

# Imports the stage script as a module (its main() is not run) and lists the textslim files now loaded.
_IMPORTED = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("stage_under_test", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(json.dumps(sorted(m.__file__ for name, m in sys.modules.items()
                        if name.startswith("textslim") and getattr(m, "__file__", None))))
"""


# Plumbing every stage imports, left out of the deps so that dvc.yaml stays readable: logging and one-line errors,
# atomic writes, and the params loader. Its defaults cannot change a result unseen, because params.yaml spells out
# every key (test_params_yaml_spells_out_every_key), and DVC tracks the values.
PLUMBING = {"textslim/__init__.py", "textslim/errors.py", "textslim/cli.py", "textslim/atomic.py",
            "textslim/params.py"}


def _code_deps(stage: dict) -> list[str]:
    return [d for d in stage["deps"] if d.startswith(("textslim", "stages")) and "$" not in d]


def _imported_files(script: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", _IMPORTED, str(REPO / script)], cwd=REPO, capture_output=True,
                          text=True, check=True)
    return {str(Path(f).relative_to(REPO)) for f in json.loads(done.stdout.splitlines()[-1])}


def _covers(dep: str, path: str) -> bool:
    return path == dep or path.startswith(dep.rstrip("/") + "/")


def test_distill_stage_depends_on_the_shared_kd_settings_and_its_own_section():
    params = STAGES["distill_student"]["params"]
    declared = {p.split(".", 1)[1] for p in params if p.startswith("distill.")}
    keys = {f.name for f in dataclasses.fields(DistillParams)}
    # `students` is left out on purpose: adding a student must not retrain the others.
    assert declared == keys - {"students"}
    assert set(params) - {f"distill.{k}" for k in declared} == {"${item}"}  # not `seed`: the split's and teacher's


@pytest.mark.slow  # runs a stage or script in its own Python process
@pytest.mark.parametrize("name", sorted(STAGES))
def test_code_deps_are_exactly_the_textslim_files_the_stage_imports(name):
    """Every imported textslim file is under a declared dep, and every declared code dep is imported.

    Module-level imports only: an import inside a function (optimum in the exporter, the recipes where a model is
    one of ours) is a path this check does not follow, so such a lazy import must be declared by hand.
    """
    stage = STAGES[name]
    script = stage["cmd"].split()[1]
    imported = _imported_files(script) | {script}
    deps = _code_deps(stage)
    undeclared = sorted(f for f in imported - PLUMBING if not any(_covers(d, f) for d in deps))
    assert not undeclared, f"{name} imports files dvc.yaml does not list: {undeclared}"
    # textslim.inference imports the recipes and the pruning code only for a model that needs them (our own model
    # types, MPNet with pruned heads): a stage loading models through it may list them without importing them.
    lazy = {"textslim/students", "textslim/compress"} if "textslim/inference.py" in imported else set()
    unused = sorted(d for d in deps if d not in lazy and not any(_covers(d, f) for f in imported))
    assert not unused, f"{name} lists code deps it does not import: {unused}"


def test_params_yaml_spells_out_every_key():
    from textslim.params import Params, load_params

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    params = load_params(REPO / "params.yaml")
    for section in dataclasses.fields(Params):
        if section.name in ("seed", "recipes"):
            continue
        keys = {f.name for f in dataclasses.fields(getattr(params, section.name))}
        assert keys == set(raw[section.name]), section.name
    for name in params.distill.students:  # each student's own section, from its recipe's dataclass
        keys = {f.name for f in dataclasses.fields(params.recipe(name))}
        assert keys == set(raw[name]), name
