"""Port allocation for emulators and Appium servers: checked free before use, never handed out twice.

An emulator takes an even console port ``p`` and the adb port ``p + 1`` (its adb serial is
``emulator-<p>``); adb only discovers emulators on console ports 5554-5584 unless
``ADB_LOCAL_TRANSPORT_MAX_PORT`` is raised. Each Appium server needs its own HTTP port and each
UiAutomator2 session its own device-side ``systemPort``; clashes between these are the usual cause of
"device not found" and "could not start session" failures when several emulators run at once.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable

from coso.errors import EmulatorError

EMULATOR_CONSOLE_PORT_MIN = 5554
EMULATOR_CONSOLE_PORT_MAX = 5682  # the emulator's own upper bound for -port
ADB_DEFAULT_SCAN_MAX = 5585  # adb scans console/adb port pairs up to here by default

PortCheck = Callable[[int], bool]


def is_port_free(port: int) -> bool:
    """True when nothing listens on ``port``: it can be bound on loopback and on all interfaces."""
    for host in ("127.0.0.1", "0.0.0.0"):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                return False
    return True


class PortAllocator:
    """Hands out ports that are free and not already reserved by this process; thread-safe."""

    def __init__(self, is_free: PortCheck = is_port_free) -> None:
        self._is_free = is_free
        self._reserved: set[int] = set()
        self._lock = threading.Lock()

    @property
    def reserved(self) -> frozenset[int]:
        """The ports currently held."""
        with self._lock:
            return frozenset(self._reserved)

    def _take_first(self, candidates: Iterable[int], width: int, what: str) -> int:
        with self._lock:
            for port in candidates:
                block = range(port, port + width)
                if any(p in self._reserved for p in block):
                    continue
                if all(self._is_free(p) for p in block):
                    self._reserved.update(block)
                    return port
        raise EmulatorError(
            f"no free {what} port: every candidate is in use or reserved; stop stale emulators/Appium "
            "servers (`adb devices`, `ps aux | grep -e emulator -e appium`) or change the port bases in "
            "env.android"
        )

    def console_port(self, preferred: int) -> int:
        """An even emulator console port (and its adb port ``+1``), ``preferred`` first, then the next free pair."""
        if preferred % 2 or not EMULATOR_CONSOLE_PORT_MIN <= preferred <= EMULATOR_CONSOLE_PORT_MAX - 1:
            raise EmulatorError(
                f"emulator console port {preferred} must be even and in "
                f"[{EMULATOR_CONSOLE_PORT_MIN}, {EMULATOR_CONSOLE_PORT_MAX - 1}]"
            )
        candidates = range(preferred, EMULATOR_CONSOLE_PORT_MAX, 2)
        return self._take_first(candidates, 2, "emulator console")

    def tcp_port(self, preferred: int, span: int = 200) -> int:
        """A TCP port (Appium, UiAutomator2 systemPort), ``preferred`` first, then up to ``span`` above it."""
        if not 1024 <= preferred <= 65535 - span:
            raise EmulatorError(f"port {preferred} is outside [1024, {65535 - span}]")
        return self._take_first(range(preferred, preferred + span), 1, "TCP")

    def release(self, *ports: int, width: int = 1) -> None:
        """Give ports back (``width=2`` for a console/adb pair)."""
        with self._lock:
            for port in ports:
                for p in range(port, port + width):
                    self._reserved.discard(p)
