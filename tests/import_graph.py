"""textslim's import graph, read from the source (ast), not by importing it: every import statement at any depth
counts, so a function-level import is an arrow too. Used by the layering test and by the dvc.yaml code-deps test.

Why by hand rather than import-linter or pydeps: the walk is these few lines, its tests show it can fail, and the one
dynamic import in the package (students/__init__.py loading every recipe module through pkgutil) needs a rule of its
own that a general tool would not know.
"""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "textslim"
# A package __init__ containing this imports every module beside it at run time (the recipe registry does).
DYNAMIC_IMPORT_OF_EVERY_MODULE = "pkgutil.iter_modules(__path__)"


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under the package (a package by its __init__.py)."""
    found = {}
    for path in package.rglob("*.py"):
        name = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _statements(tree: ast.Module, module_level: bool):
    """Every node at any depth; or, module_level, those that run when the module is loaded (not in a def's body)."""
    if not module_level:
        yield from ast.walk(tree)
        return
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            todo.extend(ast.iter_child_nodes(node))


def imported_names(path: Path, module_level: bool = False) -> set[str]:
    """Every dotted name an import statement names, at any depth (or only where it runs on load, module_level);
    `from a import b` gives a and a.b (b may be a module)."""
    names = set()
    for node in _statements(ast.parse(path.read_text()), module_level):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise ValueError(f"{path}: a relative import; write textslim.x in full")
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _with_parents(name: str) -> set[str]:
    """Importing a.b.c runs a/__init__ and a/b/__init__ first."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def direct_imports(module: str, mods: dict[str, Path], module_level: bool = False) -> set[str]:
    """The textslim modules that running any function of `module` imports directly (module_level: loading it)."""
    path = mods[module]
    found = {parent for name in imported_names(path, module_level) for parent in _with_parents(name)
             if parent in mods}
    if path.name == "__init__.py" and DYNAMIC_IMPORT_OF_EVERY_MODULE in path.read_text():
        found |= {m for m in mods if m.rsplit(".", 1)[0] == module}
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the textslim modules it imports (a package and its own modules are not arrows between layers)."""
    mods = modules(package)

    def related(a: str, b: str) -> bool:
        return a.startswith(b + ".") or b.startswith(a + ".")

    return {m: {d for d in direct_imports(m, mods) if d != m and not related(m, d)} for m in mods}


def files_loaded_by(script: Path, module_level: bool = False, package: Path = PACKAGE) -> set[Path]:
    """Every textslim file that running `script` can load, parent packages included: through function-level
    imports too, or, module_level, only what loading it loads (what Python does on import)."""
    mods = modules(package)
    todo = {parent for name in imported_names(script, module_level) for parent in _with_parents(name)
            if parent in mods}
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        seen.add(module)
        todo |= direct_imports(module, mods, module_level) - seen
    return {mods[m] for m in seen}
