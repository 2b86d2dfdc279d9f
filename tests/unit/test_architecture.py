"""The package's shape: no import cycle, each folder imports only the layers its `__init__` docstring names, the
top level reads as the README's layers, and no module passes ~400 lines without saying why at its top.

Imports are read from the source (every `import` and `from … import`, inside functions and `TYPE_CHECKING`
blocks too), so a lazy import that points the wrong way fails here as well.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "sdbench"
LAYERS = ("core", "rewards", "data", "models", "rollout", "rl", "warm_start", "evaluation", "integrations",
          "commands")
"""The folders of sdbench/, bottom to top (README, "Repository layout")."""
MAX_LINES = 400
LONG_REASON = "Why one file:"
"""A module longer than MAX_LINES says, in its docstring, why it is not split, in a paragraph starting so."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str, path: Path) -> set[str]:
    """The sdbench modules `name` imports (a `from pkg import mod` counts as importing pkg.mod)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: imported_modules(name, path) for name, path in MODULES.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, …, a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    """The check below could fail: a planted loop is found, a DAG passes."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_in_sdbench():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def allowed_layers(folder: Path) -> set[str]:
    """The layers a folder's `__init__` docstring allows ("May import: core, data." or "May import: nothing ...")."""
    doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text(encoding="utf-8"))) or ""
    match = re.search(r"^May import: (.*)$", doc, re.M)
    assert match, f"{folder}/__init__.py: its docstring needs a line 'May import: <layers>' (or 'nothing')"
    if match.group(1).startswith("nothing"):
        return set()
    return {name.strip() for name in match.group(1).rstrip(".").split(",")}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else None


@pytest.mark.parametrize("folder", sorted(p.parent for p in PACKAGE.rglob("__init__.py") if p.parent != PACKAGE),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_folder_imports_only_the_layers_its_init_names(folder: Path):
    allowed = allowed_layers(folder)
    assert allowed <= set(LAYERS), f"{folder}/__init__.py names unknown layers: {sorted(allowed - set(LAYERS))}"
    own = folder.relative_to(PACKAGE).parts[0]
    assert LAYERS.index(own) > max((LAYERS.index(name) for name in allowed), default=-1), \
        f"{own} may only import layers below it, not {sorted(allowed)}"
    prefix = module_name(folder / "__init__.py")
    wrong = sorted(f"{module} imports {dep}" for module, deps in GRAPH.items()
                   if module == prefix or module.startswith(prefix + ".")
                   for dep in deps if layer_of(dep) not in (None, own, *allowed))
    assert not wrong, f"{folder.name}/ may import {sorted(allowed)} (its __init__ says so), but:\n" + "\n".join(wrong)


def test_the_top_level_reads_as_the_layers():
    entries = {p.name for p in PACKAGE.iterdir() if not p.name.startswith((".", "__pycache__"))}
    assert entries == {"__init__.py", "cli.py", "assets", *LAYERS}, sorted(entries)


def test_nothing_imports_the_cli():
    """cli.py is the top: it routes to every layer; no layer reaches back up to it."""
    assert not [module for module, deps in GRAPH.items() if "sdbench.cli" in deps]


def test_no_module_passes_the_line_limit_without_a_reason():
    long = []
    for name, path in MODULES.items():
        lines = path.read_text(encoding="utf-8").count("\n")
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if lines > MAX_LINES and LONG_REASON not in doc:
            long.append(f"{path.relative_to(PACKAGE.parent)}: {lines} lines")
    assert not long, f"over {MAX_LINES} lines with no '{LONG_REASON}' paragraph in the docstring: {long}"
