"""The real-device backend: emulator fleet (AVD clones, ports, Appium servers) and Appium device control.

Nothing here needs an Android SDK at import time; processes start only when a fleet starts.
"""

from coso.env.android.appium_device import AppiumDevice, DeviceTimeouts
from coso.env.android.commands import CommandResult, CommandRunner, SubprocessRunner
from coso.env.android.emulator import AppiumServer, EmulatorConfig, EmulatorFleet, EmulatorInstance
from coso.env.android.emulator_device import AndroidSettings, EmulatorDevice
from coso.env.android.ports import PortAllocator

__all__ = [
    "AndroidSettings",
    "AppiumDevice",
    "AppiumServer",
    "CommandResult",
    "CommandRunner",
    "DeviceTimeouts",
    "EmulatorConfig",
    "EmulatorDevice",
    "EmulatorFleet",
    "EmulatorInstance",
    "PortAllocator",
    "SubprocessRunner",
]
