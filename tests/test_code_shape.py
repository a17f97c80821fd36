"""The size bounds docs/architecture.md promises, read from the source with ``ast``: the training loop reads as
its phase sequence (≤ 300 lines) and no class in the package grows past 250 lines."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "coso"
MAX_CLASS_LINES = 250
MAX_LOOP_LINES = 300


def class_lengths() -> dict[str, int]:
    """Every class in coso/ by ``path:Name`` with its length in source lines (decorators excluded)."""
    lengths: dict[str, int] = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ClassDef):
                lengths[f"{path.relative_to(PACKAGE_DIR)}:{node.name}"] = node.end_lineno - node.lineno + 1
    return lengths


def test_no_class_over_the_bound() -> None:
    lengths = class_lengths()
    assert "training/trainer.py:Trainer" in lengths  # the walk sees the package
    too_long = {name: n for name, n in lengths.items() if n > MAX_CLASS_LINES}
    assert not too_long, f"classes over {MAX_CLASS_LINES} lines: {too_long}"


def test_training_loop_is_short() -> None:
    lines = len((PACKAGE_DIR / "training" / "loop.py").read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LOOP_LINES, f"coso/training/loop.py has {lines} lines (bound {MAX_LOOP_LINES})"
