"""Per-instance Android Virtual Devices: a full copy of the base AVD with its paths rewritten, or a shared one.

An AVD is ``<avd_home>/<name>.ini`` (pointing at the directory) plus ``<avd_home>/<name>.avd/``. Two
emulators cannot boot the same AVD writable, so each instance gets its own: ``copy`` clones the base
(text files rewritten to the clone's name and directory; qcow2 overlays whose backing file lies in the
base directory are re-pointed with ``qemu-img rebase -u``), ``read_only`` boots the base with
``-read-only`` (no copy, nothing persists; needs emulator 28+).
"""

from __future__ import annotations

import logging
import re
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from coso.env.android.commands import CommandRunner
from coso.errors import ConfigError, EmulatorError

logger = logging.getLogger(__name__)

QCOW2_MAGIC = b"QFI\xfb"
TEXT_SUFFIXES = (".ini", ".txt")  # AVD files that name the AVD or its directory
SKIPPED_SUFFIXES = (".lock",)  # the emulator's per-run locks must not be copied


@dataclass(frozen=True)
class AvdPaths:
    """Where an AVD named ``name`` lives under ``avd_home``."""

    avd_home: Path
    name: str

    @property
    def ini(self) -> Path:
        """The top-level ``<name>.ini`` that points at the AVD directory."""
        return self.avd_home / f"{self.name}.ini"

    @property
    def directory(self) -> Path:
        """The ``<name>.avd`` directory with config.ini, disk images and snapshots."""
        return self.avd_home / f"{self.name}.avd"


@dataclass(frozen=True)
class PreparedAvd:
    """The AVD an emulator instance boots, the extra emulator flags it needs, and what to delete afterwards."""

    name: str
    extra_args: tuple[str, ...] = ()
    owned_paths: tuple[Path, ...] = ()


def qcow2_backing_file(path: Path) -> str | None:
    """The backing-file path recorded in a qcow2 image's header, or None (not qcow2, or no backing file)."""
    with open(path, "rb") as handle:
        header = handle.read(20)
        if len(header) < 20 or header[:4] != QCOW2_MAGIC:
            return None
        offset, size = struct.unpack(">QI", header[8:20])
        if offset == 0 or size == 0:
            return None
        handle.seek(offset)
        return handle.read(size).decode("utf-8", errors="replace")


def image_format(path: Path) -> str:
    """``qcow2`` or ``raw``: the format ``qemu-img rebase -F`` needs for a backing file."""
    try:
        with open(path, "rb") as handle:
            return "qcow2" if handle.read(4) == QCOW2_MAGIC else "raw"
    except OSError:
        return "raw"


def rewrite_avd_text(text: str, replacements: dict[str, str], identity: dict[str, str]) -> str:
    """Replace path fragments, then set ``key=value`` identity lines (AvdId, display name) to new values."""
    if replacements:  # one pass, longest first, so a replacement is never rewritten again
        pattern = re.compile("|".join(re.escape(old) for old in sorted(replacements, key=len, reverse=True)))
        text = pattern.sub(lambda match: replacements[match.group(0)], text)
    lines = []
    for line in text.splitlines(keepends=True):
        key = line.split("=", 1)[0].strip()
        if "=" in line and key in identity:
            ending = "\n" if line.endswith("\n") else ""
            line = f"{key}={identity[key]}{ending}"
        lines.append(line)
    return "".join(lines)


def _read_ini(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def _ignore_locks(_directory: str, names: list[str]) -> set[str]:
    return {name for name in names if name.endswith(SKIPPED_SUFFIXES)}


class AvdProvider(Protocol):
    """Gives each emulator instance an AVD it may boot, and removes what it made."""

    def prepare(self, base: str, instance_name: str) -> PreparedAvd:
        """Make (or choose) the AVD that instance ``instance_name`` boots."""

    def cleanup(self, prepared: PreparedAvd) -> None:
        """Delete what ``prepare`` created."""


def find_base_avd(avd_home: Path, base: str) -> AvdPaths:
    """The base AVD's paths; a clear ConfigError when it does not exist."""
    paths = AvdPaths(avd_home, base)
    if not paths.ini.is_file() or not paths.directory.is_dir():
        existing = sorted(p.stem for p in avd_home.glob("*.ini")) if avd_home.is_dir() else []
        raise ConfigError(
            f"base AVD {base!r} not found: expected {paths.ini} and {paths.directory}/ "
            f"(AVDs there: {existing or 'none'}); create it as in env_setup/README.md or set "
            "env.android.base_avd / env.android.avd_home"
        )
    return paths


class CopyAvdProvider:
    """Clones the base AVD per instance: files copied, paths and names rewritten, qcow2 overlays re-pointed."""

    def __init__(self, avd_home: Path, runner: CommandRunner, qemu_img: Path, command_timeout_s: float = 60.0) -> None:
        self.avd_home = avd_home
        self.runner = runner
        self.qemu_img = qemu_img
        self.command_timeout_s = command_timeout_s

    def prepare(self, base: str, instance_name: str) -> PreparedAvd:
        """Copy ``base`` to ``instance_name`` (replacing a stale clone of that name)."""
        source = find_base_avd(self.avd_home, base)
        clone = AvdPaths(self.avd_home, instance_name)
        prepared = PreparedAvd(instance_name, (), (clone.ini, clone.directory))
        self.cleanup(prepared)
        try:
            shutil.copytree(source.directory, clone.directory, ignore=_ignore_locks)
            self._rewrite_texts(source, clone)
            self._write_top_ini(source, clone)
            self._repoint_overlays(source, clone)
        except OSError as error:
            self.cleanup(prepared)
            raise EmulatorError(
                f"could not clone AVD {base!r} to {clone.directory}: {error}; check free disk space "
                "(each clone is a full copy) or use env.android.clone_mode=read_only"
            ) from error
        return prepared

    def _path_replacements(self, source: AvdPaths, clone: AvdPaths) -> dict[str, str]:
        replacements = {str(source.directory): str(clone.directory)}
        resolved = source.directory.resolve()
        if str(resolved) != str(source.directory):
            replacements[str(resolved)] = str(clone.directory)
        replacements[f"{source.name}.avd"] = f"{clone.name}.avd"
        return replacements

    def _rewrite_texts(self, source: AvdPaths, clone: AvdPaths) -> None:
        replacements = self._path_replacements(source, clone)
        identity = {"AvdId": clone.name, "avd.ini.displayname": clone.name}
        for path in clone.directory.rglob("*"):
            if path.is_file() and path.suffix in TEXT_SUFFIXES:
                text = path.read_text(encoding="utf-8", errors="surrogateescape")
                path.write_text(rewrite_avd_text(text, replacements, identity), encoding="utf-8",
                                errors="surrogateescape")

    def _write_top_ini(self, source: AvdPaths, clone: AvdPaths) -> None:
        text = source.ini.read_text(encoding="utf-8", errors="surrogateescape")
        identity = {"path": str(clone.directory), "path.rel": f"avd/{clone.name}.avd"}
        clone.ini.write_text(rewrite_avd_text(text, {}, identity), encoding="utf-8", errors="surrogateescape")

    def _repoint_overlays(self, source: AvdPaths, clone: AvdPaths) -> None:
        replacements = self._path_replacements(source, clone)
        for overlay in sorted(clone.directory.rglob("*.qcow2")):
            backing = qcow2_backing_file(overlay)
            if backing is None:
                continue
            new_backing = backing
            for old, new in replacements.items():
                if old.startswith("/") and backing.startswith(old):
                    new_backing = new + backing[len(old):]
                    break
            if new_backing == backing:
                continue
            if not self.qemu_img.exists():
                logger.warning(
                    "qemu-img not found at %s: clone overlay %s keeps reading its backing file from the base "
                    "AVD (safe while the base AVD is left unchanged)", self.qemu_img, overlay.name)
                continue
            command = [str(self.qemu_img), "rebase", "-u", "-F", image_format(Path(new_backing)),
                       "-b", new_backing, str(overlay)]
            result = self.runner.run(command, timeout_s=self.command_timeout_s)
            if not result.ok:
                raise EmulatorError(f"could not re-point clone overlay {overlay}: {result.describe()}")

    def cleanup(self, prepared: PreparedAvd) -> None:
        """Delete the clone's .ini and directory (only paths this provider created)."""
        for path in prepared.owned_paths:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists():
                path.unlink(missing_ok=True)


class ReadOnlyAvdProvider:
    """Boots the base AVD itself with ``-read-only``: nothing to copy, nothing persists between boots."""

    def __init__(self, avd_home: Path) -> None:
        self.avd_home = avd_home

    def prepare(self, base: str, instance_name: str) -> PreparedAvd:
        """Check the base AVD exists and return it with the ``-read-only`` flag."""
        find_base_avd(self.avd_home, base)
        return PreparedAvd(base, ("-read-only",), ())

    def cleanup(self, prepared: PreparedAvd) -> None:
        """Nothing was created."""


AvdProviderFactory = Callable[[Path, CommandRunner, Path, float], AvdProvider]

AVD_PROVIDERS: dict[str, AvdProviderFactory] = {
    "copy": lambda home, runner, qemu_img, timeout: CopyAvdProvider(home, runner, qemu_img, timeout),
    "read_only": lambda home, runner, qemu_img, timeout: ReadOnlyAvdProvider(home),
}
