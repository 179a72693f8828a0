"""The import graph of textslim/ points down: no cycle, no module importing a layer above its own, and nothing in the
package importing the stage scripts or scripts/. Function-level imports count too (a lazy import is still an arrow);
the graph comes from tests/import_graph.py, and the planted-defect tests below show the check can fail."""

import re
import shutil
from pathlib import Path

import pytest

from tests.import_graph import PACKAGE, import_graph, imported_names, modules

# Bottom up. A module may import its own layer and those below. Anything not listed is the top layer (the library
# the stages call: training, compression, measurement, serving), which may import every layer.
LAYERS = [
    # plumbing and inputs: no model code, nothing above them
    {"textslim.errors", "textslim.atomic", "textslim.cli", "textslim.params", "textslim.assets", "textslim.data",
     "textslim.sources", "textslim.cpu", "textslim.metrics", "textslim.forms", "textslim.param_types",
     "textslim.bert_from_onnx", "textslim.corpora", "textslim.drift", "textslim.data_params",
     "textslim.select_params", "textslim.compress_params"},
    {"textslim.architectures"},  # the code a saved model folder needs to load: our model types, MPNet's fix
    {"textslim.inference"},  # loading and running any deployed form
]


def cycles(graph: dict[str, set[str]]) -> set[tuple[str, ...]]:
    """Each cycle once, rotated to start at its smallest module."""
    found, done = set(), set()

    def visit(module: str, path: list[str]) -> None:
        for dep in graph[module]:
            if dep in path:
                cycle = path[path.index(dep):]
                start = cycle.index(min(cycle))
                found.add(tuple(cycle[start:] + cycle[:start]))
            elif dep not in done:
                visit(dep, path + [dep])
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    return found


def layer(module: str) -> int:
    for rank, members in enumerate(LAYERS):
        if any(module == m or module.startswith(m + ".") for m in members):
            return rank
    return len(LAYERS)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{m} -> {d}" for m, deps in graph.items() for d in deps if layer(d) > layer(m))


def script_imports(package: Path) -> list[str]:
    return sorted(f"{m} -> {d}" for m, p in modules(package).items() for d in imported_names(p)
                  if d.split(".")[0] in ("stages", "scripts"))


def test_the_import_graph_points_down():
    graph = import_graph(PACKAGE)
    assert not cycles(graph)
    assert not upward_imports(graph)
    assert not script_imports(PACKAGE)
    assert set().union(*LAYERS) <= set(graph)  # every module the layers name exists


@pytest.fixture
def package_copy(tmp_path) -> Path:
    copy = tmp_path / "textslim"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _plant(package: Path, module: str, line: str) -> None:
    path = package / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n\ndef planted():\n    {line}\n")


def test_a_planted_cycle_is_found(package_copy):
    _plant(package_copy, "measure.bench", "from textslim.measure.report import Timing")  # report imports bench
    assert ("textslim.measure.bench", "textslim.measure.report") in cycles(import_graph(package_copy))


def test_a_planted_upward_import_is_found(package_copy):
    _plant(package_copy, "params", "from textslim.students.registry import get_recipe")
    _plant(package_copy, "inference", "import textslim.compress.structured")
    assert upward_imports(import_graph(package_copy)) == [  # a module's import runs its package's __init__ first
        "textslim.inference -> textslim.compress", "textslim.inference -> textslim.compress.structured",
        "textslim.params -> textslim.students", "textslim.params -> textslim.students.registry"]


def test_a_planted_import_of_a_stage_script_is_found(package_copy):
    _plant(package_copy, "measure.report", "from stages import compare")
    assert script_imports(package_copy) == ["textslim.measure.report -> stages",
                                            "textslim.measure.report -> stages.compare"]


def test_files_stay_small_and_the_readme_layout_names_every_module():
    """No file in textslim/ over 320 lines; the README's layout names every top-level module and package, and every
    module of the packages that mirror the pipeline (train/, compress/, measure/, serve/)."""
    lines = {str(p.relative_to(PACKAGE.parent)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert not {path: n for path, n in lines.items() if n > 320}
    readme = (PACKAGE.parent / "README.md").read_text()
    words = set(re.findall(r"[a-z][a-z0-9_]*", readme[readme.index("## Layout"):readme.index("## Honest notes")]))
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    names = {p.stem for p in PACKAGE.glob("*.py")} | packages
    names |= {p.stem for folder in ("train", "compress", "measure", "serve") for p in (PACKAGE / folder).glob("*.py")}
    assert not sorted(names - words - {"__init__", "__main__"})
