"""scripts/make_heldout_tasks.py: only sentences the training generator never writes are kept."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from coso.env.factory import GENERATED_TRAIN_TASKS
from coso.env.task_generator import generate_tasks

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_heldout_tasks.py"


def _module():
    spec = importlib.util.spec_from_file_location("make_heldout_tasks", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_sentences_are_dropped_and_the_rest_kept_once(tmp_path: Path) -> None:
    generated = generate_tasks(GENERATED_TRAIN_TASKS, 0, "webshop")[0].text
    novel = 'Go to bestbuy.com, search for "a query no template draws"'
    lines = [generated, novel, "", novel]
    assert _module().heldout_lines(lines, [0], "webshop") == [novel]
    out = tmp_path / "heldout.txt"
    source = tmp_path / "tasks.txt"
    source.write_text("\n".join(lines), encoding="utf-8")
    assert _module().main([str(source), str(out), "--seeds", "0"]) == 0
    assert out.read_text(encoding="utf-8").splitlines() == [novel]
