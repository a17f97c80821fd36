"""coso.atomic.atomic_write_directory: the one crash-safe directory writer of datasets and checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest

from coso.atomic import atomic_write_directory


def _fill(text: str):
    def write(directory: Path) -> None:
        (directory / "a.txt").write_text(text)
        (directory / "sub").mkdir()
        (directory / "sub" / "b.txt").write_text(text.upper())

    return write


def test_writes_then_replaces_a_directory_and_leaves_no_siblings(tmp_path: Path) -> None:
    target = tmp_path / "out" / "data"
    assert atomic_write_directory(target, _fill("one")) == target
    assert (target / "a.txt").read_text() == "one" and (target / "sub" / "b.txt").read_text() == "ONE"
    atomic_write_directory(target, _fill("two"), sync=True)
    assert (target / "a.txt").read_text() == "two"
    assert sorted(path.name for path in target.parent.iterdir()) == ["data"]


def test_a_failing_writer_keeps_the_old_directory_and_removes_its_temporary(tmp_path: Path) -> None:
    target = tmp_path / "data"
    atomic_write_directory(target, _fill("old"))

    def broken(directory: Path) -> None:
        (directory / "a.txt").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write_directory(target, broken)
    assert (target / "a.txt").read_text() == "old"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["data"]


def test_fixed_names_replace_a_stale_temporary_and_clear_the_previous_copy(tmp_path: Path) -> None:
    target, temporary, previous = tmp_path / "checkpoint", tmp_path / ".checkpoint.tmp", tmp_path / ".checkpoint.old"
    temporary.mkdir()
    (temporary / "stale.txt").write_text("from a crash")
    atomic_write_directory(target, _fill("new"), temporary=temporary, previous=previous)
    assert sorted(path.name for path in target.iterdir()) == ["a.txt", "sub"]
    assert not temporary.exists() and not previous.exists()
