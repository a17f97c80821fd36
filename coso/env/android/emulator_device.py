"""A Device on one emulator of an ``EmulatorFleet``: snapshot resets, health checks, restart on the next build.

The environment pool builds a device per slot and throws it away when it fails; the emulator behind it
survives that, so a new ``EmulatorDevice`` for the same slot restarts the emulator only when it is
unhealthy or the previous device saw it fail. Resets reload the boot snapshot through the emulator
console (seconds instead of a reboot) and open a fresh Appium session, as the snapshot restores the
phone's side of the old one.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from coso.config_mapping import dataclass_from_mapping
from coso.env.android.appium_device import AppiumDevice, DeviceTimeouts
from coso.env.android.emulator import EmulatorConfig, EmulatorFleet
from coso.env.base import DeviceWrapper
from coso.errors import DeviceError

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclasses.dataclass
class AndroidSettings:
    """Everything ``env.android`` configures: the fleet, device time limits and extra capabilities."""

    emulator: EmulatorConfig
    timeouts: DeviceTimeouts
    capabilities: dict[str, Any]

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> AndroidSettings:
        """Split ``env.android`` into its parts: ``timeouts`` and ``capabilities`` sub-maps, the rest emulator keys."""
        values = dict(values)
        timeouts = dataclass_from_mapping(DeviceTimeouts, dict(values.pop("timeouts", {}) or {}),
                                          "env.android.timeouts")
        capabilities = dict(values.pop("capabilities", {}) or {})
        emulator = dataclass_from_mapping(EmulatorConfig, values, "env.android")
        return cls(emulator, timeouts, capabilities)


class EmulatorDevice(DeviceWrapper):
    """``coso.env.base.Device`` for slot ``index`` of a fleet: Appium control plus snapshot resets."""

    def __init__(self, fleet: EmulatorFleet, index: int, timeouts: DeviceTimeouts | None = None,
                 capabilities: Mapping[str, Any] | None = None) -> None:
        self.fleet = fleet
        self.index = index
        self.timeouts = timeouts or DeviceTimeouts()
        self.extra_capabilities = dict(capabilities or {})
        fleet.ensure_ready(index)
        super().__init__(self._forward("opening a session", self._open_session))

    def __repr__(self) -> str:
        return f"EmulatorDevice(index={self.index}, instance={self.fleet.instances[self.index]!r})"

    @property
    def remote(self) -> AppiumDevice:
        """The Appium session this device drives."""
        return self.device  # type: ignore[return-value]  # always the AppiumDevice of _open_session

    def _open_session(self) -> AppiumDevice:
        return AppiumDevice(self.fleet.servers[self.index].url,
                            self.fleet.capabilities(self.index, self.extra_capabilities),
                            self.timeouts, reset_mode="none")

    def _forward(self, what: str, call: Callable[[], T]) -> T:
        """Run a call; on a device failure, flag the emulator so the next device for this slot restarts it."""
        try:
            return call()
        except DeviceError:
            self.fleet.mark_failed(self.index)
            logger.warning("emulator slot %d failed while %s; it restarts when the slot is rebuilt", self.index, what)
            raise

    def reset(self, seed: int) -> None:
        """Reload the snapshot and open a fresh session (Home when no snapshot is configured); the seed is unused."""
        def reset() -> None:
            if self.fleet.config.snapshot:
                self.fleet.instances[self.index].reload_snapshot()
                self.remote.connect()
            self.remote.press_home()

        self._forward("resetting", reset)

    def close(self) -> None:
        """End the Appium session; the emulator stays up for the slot's next device (the fleet stops it)."""
        self.remote.close()

    def privileged_state(self) -> object | None:
        """None: a real phone has no simulator state."""
        return None
