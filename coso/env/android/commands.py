"""The one place where the Android backend starts processes: an injectable command runner and clock.

Every ``adb``, ``emulator``, ``qemu-img`` and ``appium`` call of the backend goes through a
``CommandRunner``, so the lifecycle logic (command lines, retries, cleanup) can be unit-tested with a
recording fake where no Android SDK exists. Long-lived processes are started in their own process group
and stopped by that group's id, so an emulator's qemu children never outlive it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from coso.errors import ConfigError

TIMED_OUT_RETURNCODE = 124  # the return code a command that ran past its limit reports, as timeout(1) does


@dataclass(frozen=True)
class CommandResult:
    """The outcome of one short command: its arguments, exit status and captured output."""

    args: tuple[str, ...]
    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        """True when the command exited with status 0."""
        return self.returncode == 0

    @property
    def timed_out(self) -> bool:
        """True when the command was stopped for running past its time limit."""
        return self.returncode == TIMED_OUT_RETURNCODE

    def describe(self) -> str:
        """One line for error messages: the command, its status and the end of its output."""
        output = (self.stderr.strip() or self.stdout.strip())[-300:]
        return f"`{' '.join(self.args)}` exited with {self.returncode}" + (f": {output}" if output else "")


class CommandRunner(Protocol):
    """Runs short commands and starts, watches and stops long-lived ones."""

    def run(self, args: Sequence[str], timeout_s: float, env: Mapping[str, str] | None = None) -> CommandResult:
        """Run ``args`` to completion (at most ``timeout_s`` seconds) and capture its output."""

    def spawn(self, args: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None) -> int:
        """Start ``args`` in the background, its output appended to ``log_path``; returns its process id."""

    def is_running(self, pid: int) -> bool:
        """True while the process started with ``spawn`` has not exited."""

    def kill(self, pid: int, grace_s: float = 5.0) -> None:
        """Stop a spawned process and its children: SIGTERM to its group, SIGKILL after ``grace_s``."""


class Clock(Protocol):
    """Monotonic time and sleeping, injectable so retry and boot-wait loops are testable in no time."""

    def monotonic(self) -> float:
        """Seconds on a monotonic clock."""

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        """Seconds on the system's monotonic clock."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        if seconds > 0:
            time.sleep(seconds)


def _merged_env(env: Mapping[str, str] | None) -> dict[str, str] | None:
    if env is None:
        return None
    merged = dict(os.environ)
    merged.update(env)
    return merged


def _missing_binary_error(args: Sequence[str], error: OSError) -> ConfigError:
    return ConfigError(
        f"cannot run {args[0]!r} ({error.strerror or error}): install it or point the backend at it "
        "(env.android.sdk_root for adb/emulator/qemu-img, env.android.appium_binary for Appium); "
        "see env_setup/README.md"
    )


class SubprocessRunner:
    """The real runner: ``subprocess`` with time limits, process groups and reaping of children."""

    def __init__(self) -> None:
        self._processes: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def run(self, args: Sequence[str], timeout_s: float, env: Mapping[str, str] | None = None) -> CommandResult:
        """Run a short command; a timeout is reported as return code 124, a missing binary as ConfigError."""
        argv = tuple(str(a) for a in args)
        try:
            completed = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout_s, env=_merged_env(env), check=False
            )
        except subprocess.TimeoutExpired as error:
            stdout = error.stdout.decode(errors="replace") if isinstance(error.stdout, bytes) else error.stdout or ""
            return CommandResult(argv, TIMED_OUT_RETURNCODE, stdout, f"timed out after {timeout_s:g} s")
        except OSError as error:
            raise _missing_binary_error(argv, error) from error
        return CommandResult(argv, completed.returncode, completed.stdout, completed.stderr)

    def spawn(self, args: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None) -> int:
        """Start a background process in a new session (its own process group), logging to ``log_path``."""
        argv = [str(a) for a in args]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            try:
                process = subprocess.Popen(
                    argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=_merged_env(env), start_new_session=True,
                )
            except OSError as error:
                raise _missing_binary_error(argv, error) from error
        with self._lock:
            self._processes[process.pid] = process
        return process.pid

    def is_running(self, pid: int) -> bool:
        """True while the spawned process has not exited (reaping it when it has)."""
        with self._lock:
            process = self._processes.get(pid)
        return process is not None and process.poll() is None

    def kill(self, pid: int, grace_s: float = 5.0) -> None:
        """SIGTERM the process group started by ``spawn``, then SIGKILL it after ``grace_s`` seconds."""
        with self._lock:
            process = self._processes.pop(pid, None)
        if process is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):  # the group id is the pid: spawn started a new session
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break  # the whole group is gone
            try:
                process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                pass


def tail_of_file(path: Path, max_chars: int = 800) -> str:
    """The end of a log file for error messages ("" when it does not exist)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_chars))
            return handle.read().decode(errors="replace").strip()
    except OSError:
        return ""
