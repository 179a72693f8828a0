"""dvc.yaml declares what each stage depends on; a dependency missing here would leave stale results after a change,
and one too many reruns (retrains) a stage for nothing."""

import ast
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.import_graph import files_loaded_by
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
# atomic writes, and the params loader (param_types: its type checks). Its defaults cannot change a result unseen,
# because params.yaml spells out every key (test_params_yaml_spells_out_every_key), and DVC tracks the values.
PLUMBING = {"textslim/__init__.py", "textslim/errors.py", "textslim/cli.py", "textslim/atomic.py",
            "textslim/params.py", "textslim/param_types.py", "textslim/data_params.py", "textslim/select_params.py",
            "textslim/compress_params.py"}
# Package markers, a docstring each (test_package_markers_hold_no_code): loaded with any module of their package.
PLUMBING |= {"textslim/train/__init__.py", "textslim/measure/__init__.py", "textslim/compress/__init__.py"}


def _code_deps(stage: dict) -> list[str]:
    return [d for d in stage["deps"] if d.startswith(("textslim", "stages")) and "$" not in d]


def _imported_files(script: str, module_level: bool = True) -> set[str]:
    """What loading the stage script loads, read from the source (tests/import_graph.py); with module_level=False,
    what any function it reaches could import too."""
    return {str(path.relative_to(REPO)) for path in files_loaded_by(REPO / script, module_level)}


def _loaded_on_import(script: str) -> set[str]:
    """What importing the stage script really loads, in a fresh Python process."""
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


@pytest.mark.parametrize("name", sorted(STAGES))
def test_code_deps_are_exactly_the_textslim_files_the_stage_imports(name):
    """Every textslim file loading the stage loads is under a declared dep, and every declared code dep is loaded,
    or imported inside a function the stage can reach.

    An import inside a function (the exporter's recipe lookup, the augmenter's word vectors) is declared by hand:
    which functions run is not read here, and following every such import would make the recipes' training code
    a dependency of every stage that describes a student.
    """
    stage = STAGES[name]
    script = stage["cmd"].split()[1]
    imported = _imported_files(script) | {script}
    deps = _code_deps(stage)
    undeclared = sorted(f for f in imported - PLUMBING if not any(_covers(d, f) for d in deps))
    assert not undeclared, f"{name} imports files dvc.yaml does not list: {undeclared}"
    reachable = _imported_files(script, module_level=False) | {script}
    unused = sorted(d for d in deps if not any(_covers(d, f) for f in reachable))
    assert not unused, f"{name} lists code deps it does not import: {unused}"


@pytest.mark.slow  # imports a stage script in its own Python process
def test_the_source_read_finds_every_file_a_real_import_loads():
    """distill_student's imports reach the recipe registry, whose package loads every recipe module at run time."""
    script = "stages/distill_student.py"
    loaded = _loaded_on_import(script)
    assert "textslim/students/lstm.py" in loaded
    assert loaded == _imported_files(script)


def test_params_yaml_spells_out_every_key():
    from textslim.params import Params, load_params
    from textslim.students.registry import recipe_section

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    params = load_params(REPO / "params.yaml")
    for section in dataclasses.fields(Params):
        if section.name in ("seed", "recipes"):
            continue
        keys = {f.name for f in dataclasses.fields(getattr(params, section.name))}
        assert keys == set(raw[section.name]), section.name
    for name in params.distill.students:  # each student's own section, from its recipe's dataclass
        keys = {f.name for f in dataclasses.fields(recipe_section(params, name))}
        assert keys == set(raw[name]), name


def test_no_stage_script_gives_a_path_argument_a_default():
    """dvc.yaml is the one place where paths are written: every stage argument but --params is required there."""
    defaults = []
    for script in sorted((REPO / "stages").glob("*.py")):
        for node in ast.walk(ast.parse(script.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
                option = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
                if option != "--params" and any(k.arg == "default" for k in node.keywords):
                    defaults.append(f"{script.name} {option}")
    assert not defaults, f"stage arguments with a default (dvc.yaml should pass them): {defaults}"


def test_package_markers_hold_no_code():
    """The package __init__ files left out of the deps above: a docstring each, nothing that could change a result."""
    for marker in sorted(PLUMBING):
        if marker.endswith("/__init__.py") and marker != "textslim/__init__.py":
            body = ast.parse((REPO / marker).read_text()).body
            assert len(body) == 1 and isinstance(body[0].value, ast.Constant), marker
