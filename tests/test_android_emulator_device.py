"""EmulatorDevice on a fleet slot: snapshot resets, fresh sessions, and a restart after a failure.

adb and the emulator are played by the recording runner of test_android_emulator; the "Appium server" the
fleet spawns is the simulated phone's WebDriver server on the allocated port, so the device really talks
the protocol through appium-python-client.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Mapping, Sequence

import pytest

from coso.env.android.appium_device import DeviceTimeouts
from coso.env.android.emulator import EmulatorFleet
from coso.env.android.emulator_device import EmulatorDevice
from coso.env.android.ports import PortAllocator
from coso.env.sim import SimConfig, SimPhone
from coso.fakes.webdriver_server import Fault, SimWebDriverServer
from coso.errors import DeviceConnectionError

from test_android_emulator import FakeAndroid, FakeClock, make_config

TIMEOUTS = DeviceTimeouts(session_s=10.0, command_s=2.0)


class FakeAndroidWithServers(FakeAndroid):
    """FakeAndroid whose Appium processes are real simulator WebDriver servers on the requested ports."""

    def __init__(self, clock: FakeClock, faults: Sequence[Fault] = ()) -> None:
        super().__init__(clock)
        self.servers: dict[int, SimWebDriverServer] = {}
        self.faults = list(faults)

    def spawn(self, args: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None) -> int:
        pid = super().spawn(args, log_path, env)
        if Path(args[0]).name == "appium":
            port = int(args[args.index("--port") + 1])
            faults, self.faults = self.faults, []  # only the first server misbehaves
            self.servers[pid] = SimWebDriverServer(SimPhone(SimConfig()), port=port, faults=faults).start()
        return pid

    def kill(self, pid: int, grace_s: float = 5.0) -> None:
        super().kill(pid, grace_s)
        server = self.servers.pop(pid, None)
        if server is not None:
            server.stop()


@pytest.fixture()
def fleet(tmp_path: Path, request):
    root = tmp_path / "sdk"
    (root / "emulator").mkdir(parents=True)
    (root / "emulator" / "qemu-img").write_text("")
    clock = FakeClock()
    runner = FakeAndroidWithServers(clock, getattr(request, "param", ()))
    base = random.Random().randrange(20000, 60000, 100)  # real ports: stay clear of other test runs
    config = make_config(tmp_path, root, num_instances=1, appium_port_base=base)
    fleet = EmulatorFleet(config, runner=runner, clock=clock, ports=PortAllocator())
    yield fleet, runner
    fleet.close()


def served_phone(runner: FakeAndroidWithServers) -> SimPhone:
    (server,) = runner.servers.values()
    return server.device


def test_a_slot_boots_on_first_use_and_resets_from_the_snapshot(fleet) -> None:
    fleet, runner = fleet
    device = EmulatorDevice(fleet, 0, TIMEOUTS, {})
    assert isinstance(device, EmulatorDevice)
    assert len(runner.spawned_of("emulator")) == 1 and len(runner.servers) == 1  # booted by ensure_ready
    phone = served_phone(runner)
    device.swipe(0.5, 0.8, 0.5, 0.3)
    assert phone.privileged_state().page.view == "drawer"
    first_session = list(runner.servers.values())[0].session_id
    device.reset(0)
    load = (fleet.config.adb, "-s", "emulator-5554", "emu", "avd", "snapshot", "load", "coso_ready")
    assert load in runner.commands
    assert list(runner.servers.values())[0].session_id != first_session  # a fresh session after the load
    assert phone.privileged_state().page.view == "home"  # then Home
    assert device.window_size() == (phone.config.width, phone.config.height)
    assert device.privileged_state() is None
    device.close()
    again = EmulatorDevice(fleet, 0, TIMEOUTS)  # a healthy slot is reused, not restarted
    assert len(runner.spawned_of("emulator")) == 1
    again.close()


@pytest.mark.parametrize("fleet", [[Fault("drop", at_request=3)]], indirect=True)
def test_a_failed_device_gets_its_emulator_restarted_when_the_slot_is_rebuilt(fleet) -> None:
    fleet, runner = fleet
    device = EmulatorDevice(fleet, 0, TIMEOUTS)  # request 1: the session
    device.press_home()  # request 2
    with pytest.raises(DeviceConnectionError):
        device.press_home()  # request 3: dropped
    device.close()
    first_emulator = runner.spawned_of("emulator")[0][0]
    rebuilt = EmulatorDevice(fleet, 0, TIMEOUTS)  # what the environment pool does next
    assert first_emulator in runner.killed and len(runner.spawned_of("emulator")) == 2
    assert fleet.instances[0].restarts == 1
    rebuilt.press_home()
    rebuilt.close()
