"""Atomic file and directory writes: write beside the target under a temporary name, then rename, so readers
never see half a file (or directory) and a crash leaves the previous version (or nothing) in place."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> None:
    """Call ``write(temporary_path)`` and rename the result onto ``path`` (the temporary is removed on failure)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically."""
    atomic_write(path, lambda temporary: temporary.write_text(text))


def atomic_write_directory(
    path: str | os.PathLike,
    write: Callable[[Path], object],
    *,
    temporary: str | os.PathLike | None = None,
    previous: str | os.PathLike | None = None,
    sync: bool = False,
) -> Path:
    """Call ``write(temporary_directory)``, then swap the result onto ``path`` (the datasets' and checkpoints' writer).

    Readers see the old directory or the new one; a crash between the two renames leaves the old one at
    ``previous``. ``temporary`` and ``previous`` are fixed names beside ``path`` for a reader that recovers
    from them (a checkpoint's), by default fresh hidden siblings. ``sync`` fsyncs every file before the swap.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if temporary is None:
        temporary = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    else:
        temporary = Path(temporary)
        if temporary.exists():  # left by a crash
            shutil.rmtree(temporary)
        temporary.mkdir(parents=True)
    previous = Path(previous) if previous is not None else path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
    try:
        write(temporary)
        if sync:
            _fsync_tree(temporary)
        if previous.exists():
            shutil.rmtree(previous)
        if path.exists():
            os.replace(path, previous)
            try:
                os.replace(temporary, path)
            except BaseException:
                os.replace(previous, path)
                raise
        else:
            os.replace(temporary, path)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    shutil.rmtree(previous, ignore_errors=True)
    return path


def _fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
