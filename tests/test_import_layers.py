"""The package's layering, read from the source with ``ast``: no import cycle, no upward import (docs/architecture.md)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "coso"

# Each unit (a subpackage or a top-level module of coso) and its layer; a unit imports only lower layers.
LAYERS: dict[str, int] = {
    "coso.errors": 0,
    "coso.actions": 1, "coso.atomic": 1, "coso.config": 1, "coso.config_mapping": 1, "coso.registry": 1,
    "coso.retry": 1, "coso.seeding": 1, "coso.stats": 1, "coso.threads": 1,
    "coso.algorithms": 2,
    "coso.data": 3, "coso.env": 3, "coso.models": 3,  # peers: none imports another
    "coso.agents": 4, "coso.rollout": 4, "coso.fakes": 4,
    "coso.distributed": 4.5,
    "coso.training": 5,
    "coso.runs": 6,
    "coso.cli": 7,
}
GROUND_FLOOR = sorted(unit for unit, layer in LAYERS.items() if layer <= 1)
UPPER = ("coso.env", "coso.training", "coso.agents", "coso.rollout", "coso.fakes", "coso.runs", "coso.cli")
LOWER = ("coso.models", "coso.algorithms", "coso.data", *GROUND_FLOOR)


def module_name(path: Path) -> str:
    """The dotted name of a source file under coso/ (a package's ``__init__`` is the package)."""
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every ``coso`` module a file imports, anywhere in it (lazy and TYPE_CHECKING imports included)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)  # ``from coso import actions``
    return {module for module in found if module == "coso" or module.startswith("coso.")}


def unit_of(module: str) -> str:
    """The unit a module belongs to: ``coso.<first name>`` (its subpackage or its top-level module)."""
    return ".".join(module.split(".")[:2])


def unit_graph() -> dict[str, dict[str, list[str]]]:
    """unit -> imported unit -> the modules that import it (imports inside a unit are left out)."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        source = module_name(path)
        for target in imported_modules(path):
            if target != "coso" and unit_of(target) != unit_of(source):
                graph[unit_of(source)][unit_of(target)].append(source)
    return graph


def find_cycle(graph: dict[str, dict[str, list[str]]]) -> list[str] | None:
    """One cycle of the unit graph as a list of units, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(unit: str) -> list[str] | None:
        state[unit] = "open"
        stack.append(unit)
        for target in sorted(graph.get(unit, {})):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[unit] = "done"
        stack.pop()
        return None

    for unit in sorted(graph):
        if unit not in state and (cycle := visit(unit)):
            return cycle
    return None


def test_every_unit_has_a_layer() -> None:
    units = {unit_of(module_name(path)) for path in PACKAGE_DIR.rglob("*.py")} - {"coso"}
    missing = sorted(units - set(LAYERS))
    assert not missing, f"place {missing} in LAYERS (and in docs/architecture.md)"


def test_no_import_cycle_between_units() -> None:
    cycle = find_cycle(unit_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_upward_or_sideways_import() -> None:
    wrong = [f"{source} ({', '.join(sorted(set(modules)))}) imports {target}"
             for source, targets in unit_graph().items() for target, modules in targets.items()
             if LAYERS.get(target, 99) >= LAYERS.get(source, -1)]
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


@pytest.mark.parametrize("lower", LOWER)
def test_lower_layers_never_import_env_training_agents_or_the_runs(lower: str) -> None:
    imported = set(unit_graph().get(lower, {}))
    assert not imported & set(UPPER), f"{lower} imports {sorted(imported & set(UPPER))}"


def test_the_checker_finds_cycles_and_sees_type_checking_imports() -> None:
    graph = {"coso.a": {"coso.b": ["coso.a"]}, "coso.b": {"coso.c": ["coso.b"]}, "coso.c": {"coso.a": ["coso.c"]}}
    assert find_cycle(graph) == ["coso.a", "coso.b", "coso.c", "coso.a"]
    assert find_cycle({"coso.a": {"coso.b": ["coso.a"]}}) is None
    source = PACKAGE_DIR / "env" / "gemini_judge.py"
    assert {"coso.retry", "coso.actions", "coso.env.tasks"} <= imported_modules(source)
