"""Emulator lifecycle: command lines, port allocation, boot waits, restarts with backoff and cleanup.

No emulator can run here (no Android SDK), so adb, the emulator and Appium are played by a recording
command runner; AVD cloning runs on real files in a temporary directory, and the real subprocess
runner is tested with ordinary commands.
"""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path
from typing import Mapping, Sequence

import pytest

from coso.env.android.avd import CopyAvdProvider, qcow2_backing_file, rewrite_avd_text
from coso.env.android.commands import CommandResult, SubprocessRunner
from coso.env.android.emulator import (
    EmulatorConfig,
    EmulatorFleet,
    appium_capabilities,
    emulator_command,
    parse_adb_devices,
)
from coso.env.android.avd import PreparedAvd
from coso.env.android.emulator_device import AndroidSettings
from coso.env.android.ports import PortAllocator, is_port_free
from coso.errors import ConfigError, EmulatorError, TooManyRestartsError


class FakeClock:
    """Time that advances only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeAndroid:
    """A recording CommandRunner that plays adb, the emulator and Appium.

    An emulator boots ``boot_s`` seconds after it is spawned; the first ``crashing_spawns`` emulators exit
    at once; with ``never_boots`` sys.boot_completed stays 0.
    """

    def __init__(self, clock: FakeClock, boot_s: float = 6.0, crashing_spawns: int = 0, never_boots: bool = False):
        self.clock = clock
        self.boot_s = boot_s
        self.crashing_spawns = crashing_spawns
        self.never_boots = never_boots
        self.commands: list[tuple[str, ...]] = []
        self.spawned: dict[int, tuple[str, ...]] = {}
        self.running: dict[int, dict] = {}
        self.killed: list[int] = []
        self._next_pid = 4000

    def _emulator_by_serial(self, serial: str) -> dict | None:
        for info in self.running.values():
            if info["kind"] == "emulator" and f"emulator-{info['port']}" == serial:
                return info
        return None

    def run(self, args: Sequence[str], timeout_s: float, env: Mapping[str, str] | None = None) -> CommandResult:
        args = tuple(args)
        self.commands.append(args)
        tool = Path(args[0]).name
        if tool == "adb" and args[1:] == ("devices",):
            lines = ["List of devices attached"]
            for info in self.running.values():
                if info["kind"] == "emulator":
                    booted = self.clock.now - info["started"] >= self.boot_s / 2
                    lines.append(f"emulator-{info['port']}\t{'device' if booted else 'offline'}")
            return CommandResult(args, 0, "\n".join(lines) + "\n")
        if tool == "adb" and args[1] == "-s":
            info = self._emulator_by_serial(args[2])
            rest = args[3:]
            if info is None:
                return CommandResult(args, 1, "", f"error: device '{args[2]}' not found")
            if rest == ("shell", "getprop", "sys.boot_completed"):
                booted = not self.never_boots and self.clock.now - info["started"] >= self.boot_s
                return CommandResult(args, 0, "1\n" if booted else "\n")
            if rest == ("emu", "kill"):
                for pid, other in list(self.running.items()):
                    if other is info:
                        del self.running[pid]
                return CommandResult(args, 0, "OK: killing emulator, bye bye\n")
            return CommandResult(args, 0, "OK\n")
        return CommandResult(args, 0, "")

    def spawn(self, args: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None) -> int:
        args = tuple(args)
        pid = self._next_pid
        self._next_pid += 1
        self.spawned[pid] = args
        tool = Path(args[0]).name
        if tool == "emulator":
            if self.crashing_spawns > 0:
                self.crashing_spawns -= 1
                log_path.parent.mkdir(parents=True, exist_ok=True)
                log_path.write_text("FATAL | could not open the AVD\n")
                return pid  # exits at once: never in self.running
            self.running[pid] = {"kind": "emulator", "port": int(args[args.index("-port") + 1]),
                                 "started": self.clock.now}
        else:
            self.running[pid] = {"kind": "appium", "port": int(args[args.index("--port") + 1])}
        return pid

    def is_running(self, pid: int) -> bool:
        return pid in self.running

    def kill(self, pid: int, grace_s: float = 5.0) -> None:
        self.killed.append(pid)
        self.running.pop(pid, None)

    def spawned_of(self, tool: str) -> list[tuple[int, tuple[str, ...]]]:
        return [(pid, args) for pid, args in self.spawned.items() if Path(args[0]).name == tool]


def make_avd(home: Path, name: str = "base") -> Path:
    """A minimal AVD on disk: top ini, config.ini, a qcow2 overlay backed by a file in the AVD, a lock file."""
    avd_dir = home / f"{name}.avd"
    (avd_dir / "snapshots" / "coso_ready").mkdir(parents=True)
    (home / f"{name}.ini").write_text(f"avd.ini.encoding=UTF-8\npath={avd_dir}\npath.rel=avd/{name}.avd\ntarget=android-33\n")
    (avd_dir / "config.ini").write_text(
        f"AvdId={name}\navd.ini.displayname={name}\nimage.sysdir.1=system-images/android-33/google_apis/x86_64/\n"
        "hw.lcd.width=1080\n")
    (avd_dir / "hardware-qemu.ini").write_text(f"disk.dataPartition.path = {avd_dir}/userdata-qemu.img\n")
    (avd_dir / "snapshots" / "coso_ready" / "hardware.ini").write_text(f"disk.cachePartition.path = {avd_dir}/cache.img\n")
    (avd_dir / "userdata-qemu.img").write_bytes(b"\0" * 64)
    backing = f"{avd_dir}/userdata-qemu.img".encode()
    header = b"QFI\xfb" + struct.pack(">I", 3) + struct.pack(">QI", 72, len(backing))
    (avd_dir / "userdata-qemu.img.qcow2").write_bytes(header.ljust(72, b"\0") + backing)
    (avd_dir / "multiinstance.lock").write_text("1234")
    return avd_dir


@pytest.fixture()
def sdk(tmp_path: Path) -> Path:
    root = tmp_path / "sdk"
    (root / "emulator").mkdir(parents=True)
    (root / "emulator" / "qemu-img").write_text("")
    return root


def make_config(tmp_path: Path, sdk: Path, **overrides) -> EmulatorConfig:
    home = tmp_path / "avd"
    if not (home / "base.ini").exists():
        home.mkdir(exist_ok=True)
        make_avd(home)
    values = dict(sdk_root=str(sdk), avd_home=str(home), base_avd="base", work_dir=str(tmp_path / "work"),
                  num_instances=1, boot_poll_s=1.0, boot_timeout_s=30.0, max_retries=2, backoff_base_s=5.0,
                  backoff_max_s=60.0, kill_grace_s=1.0, post_boot_shell=[])
    values.update(overrides)
    return EmulatorConfig(**values)


def make_fleet(config: EmulatorConfig, runner: FakeAndroid, clock: FakeClock, busy: set[int] = frozenset()):
    ports = PortAllocator(is_free=lambda port: port not in busy)
    return EmulatorFleet(config, runner=runner, clock=clock, ports=ports, probe=lambda url, timeout: True)


def test_emulator_command_line_is_headless_from_snapshot_on_its_port(tmp_path: Path, sdk: Path) -> None:
    config = make_config(tmp_path, sdk, memory_mb=2048, extra_emulator_args=["-camera-back", "none"])
    command = emulator_command(config, PreparedAvd("base_coso1"), 5556)
    assert command[0] == str(sdk / "emulator" / "emulator")
    assert command[1:5] == ["-avd", "base_coso1", "-port", "5556"]
    for flag in ("-no-window", "-no-audio", "-no-boot-anim", "-no-snapshot-save"):
        assert flag in command
    assert command[command.index("-snapshot") + 1] == "coso_ready"
    assert command[command.index("-memory") + 1] == "2048"
    assert command[-2:] == ["-camera-back", "none"]
    cold = emulator_command(make_config(tmp_path, sdk, snapshot="", headless=False), PreparedAvd("b", ("-read-only",)), 5554)
    assert "-no-snapshot" in cold and "-snapshot" not in cold and "-no-window" not in cold
    assert "-read-only" in cold


def test_fleet_gives_each_instance_its_own_clone_ports_and_appium_server(tmp_path: Path, sdk: Path) -> None:
    clock, runner = FakeClock(), FakeAndroid(FakeClock())
    runner.clock = clock
    config = make_config(tmp_path, sdk, num_instances=3)
    fleet = make_fleet(config, runner, clock)
    fleet.start()
    serials = [instance.serial for instance in fleet.instances]
    assert serials == ["emulator-5554", "emulator-5556", "emulator-5558"]
    assert [server.port for server in fleet.servers] == [4723, 4724, 4725]
    assert [server.system_port for server in fleet.servers] == [8200, 8201, 8202]
    emulators = runner.spawned_of("emulator")
    assert [args[args.index("-avd") + 1] for _, args in emulators] == ["base_coso0", "base_coso1", "base_coso2"]
    assert all((tmp_path / "avd" / f"base_coso{k}.avd").is_dir() for k in range(3))
    appium = runner.spawned_of("appium")
    assert [args[args.index("--port") + 1] for _, args in appium] == ["4723", "4724", "4725"]
    assert all("--session-override" in args and args[args.index("--address") + 1] == "127.0.0.1" for _, args in appium)
    # every port held exactly once: console/adb pairs, Appium ports, systemPorts
    held = [5554, 5555, 5556, 5557, 5558, 5559, 4723, 4724, 4725, 8200, 8201, 8202]
    assert sorted(fleet.ports.reserved) == sorted(held)
    capabilities = fleet.capabilities(2)
    assert capabilities["appium:udid"] == "emulator-5558"
    assert capabilities["appium:systemPort"] == 8202
    assert capabilities["appium:automationName"] == "UiAutomator2"
    # boot was checked through adb: listed by `adb devices`, then sys.boot_completed
    assert (config.adb, "devices") in runner.commands
    assert (config.adb, "-s", "emulator-5556", "shell", "getprop", "sys.boot_completed") in runner.commands
    fleet.close()


def test_busy_ports_are_skipped_without_clashes(tmp_path: Path, sdk: Path) -> None:
    clock = FakeClock()
    runner = FakeAndroid(clock)
    busy = {5554, 5557, 4723, 8201}  # another emulator's console, another's adb port, a user's Appium, a systemPort
    fleet = make_fleet(make_config(tmp_path, sdk, num_instances=2), runner, clock, busy)
    fleet.start()
    assert [i.console_port for i in fleet.instances] == [5558, 5560]  # 5554 busy, 5556's adb port 5557 busy
    assert [s.port for s in fleet.servers] == [4724, 4725]
    assert [s.system_port for s in fleet.servers] == [8200, 8202]
    fleet.close()
    assert fleet.ports.reserved == frozenset()


def test_port_allocator_never_hands_out_a_port_twice() -> None:
    allocator = PortAllocator(is_free=lambda port: True)
    consoles = [allocator.console_port(5554) for _ in range(4)]
    assert consoles == [5554, 5556, 5558, 5560]
    tcp = [allocator.tcp_port(4723) for _ in range(3)]
    assert tcp == [4723, 4724, 4725]
    allocator.release(5556, width=2)
    assert allocator.console_port(5554) == 5556
    with pytest.raises(EmulatorError, match="even"):
        allocator.console_port(5555)


def test_a_crashing_emulator_is_restarted_with_backoff(tmp_path: Path, sdk: Path) -> None:
    clock = FakeClock()
    runner = FakeAndroid(clock, crashing_spawns=2)
    fleet = make_fleet(make_config(tmp_path, sdk), runner, clock)
    fleet.start()
    emulators = runner.spawned_of("emulator")
    assert len(emulators) == 3
    crashed = [pid for pid, _ in emulators[:2]]
    assert all(pid in runner.killed for pid in crashed)  # each failed attempt was cleaned up by its pid
    backoffs = [s for s in clock.sleeps if s >= 5.0]
    assert backoffs == [5.0, 10.0]  # base 5 s, doubling
    assert fleet.instances[0].serial == "emulator-5554"
    assert runner.is_running(fleet.instances[0].pid)
    fleet.close()


def test_too_many_restarts_raise_a_clear_error_and_leave_nothing_behind(tmp_path: Path, sdk: Path) -> None:
    clock = FakeClock()
    runner = FakeAndroid(clock, crashing_spawns=100)
    config = make_config(tmp_path, sdk, max_retries=2)
    fleet = make_fleet(config, runner, clock)
    with pytest.raises(TooManyRestartsError) as caught:
        fleet.start()
    message = str(caught.value)
    assert "emulator instance 0 (base_coso0) failed to start 3 times" in message
    assert "max_retries=2" in message and "exited while booting" in message
    assert "could not open the AVD" in message  # the log tail is in the message
    assert len(runner.spawned_of("emulator")) == 3
    assert runner.running == {}
    assert not (tmp_path / "avd" / "base_coso0.avd").exists()
    assert not (tmp_path / "avd" / "base_coso0.ini").exists()
    assert fleet.ports.reserved == frozenset()


def test_a_boot_that_never_completes_times_out(tmp_path: Path, sdk: Path) -> None:
    clock = FakeClock()
    runner = FakeAndroid(clock, never_boots=True)
    fleet = make_fleet(make_config(tmp_path, sdk, max_retries=0, boot_timeout_s=20.0), runner, clock)
    with pytest.raises(TooManyRestartsError, match="did not boot within 20 s.*sys.boot_completed"):
        fleet.start()
    assert 20.0 <= clock.now <= 22.0  # polled until the deadline, not longer
    assert runner.running == {}


def test_close_kills_by_pid_deletes_clones_and_frees_ports(tmp_path: Path, sdk: Path) -> None:
    clock = FakeClock()
    runner = FakeAndroid(clock)
    fleet = make_fleet(make_config(tmp_path, sdk, num_instances=2), runner, clock)
    fleet.start()
    pids = sorted(runner.spawned)
    fleet.close()
    fleet.close()  # idempotent
    assert (str(Path(fleet.config.adb)), "-s", "emulator-5554", "emu", "kill") in runner.commands
    assert runner.running == {}
    assert set(pids) <= set(runner.killed)
    assert sorted(p.name for p in (tmp_path / "avd").iterdir()) == ["base.avd", "base.ini"]
    assert fleet.ports.reserved == frozenset()


def test_failed_slot_is_restarted_before_its_next_use(tmp_path: Path, sdk: Path) -> None:
    clock = FakeClock()
    runner = FakeAndroid(clock)
    fleet = make_fleet(make_config(tmp_path, sdk, num_instances=2), runner, clock)
    fleet.start()
    fleet.ensure_ready(1)  # healthy: nothing happens
    assert len(runner.spawned_of("emulator")) == 2
    fleet.mark_failed(1)
    fleet.ensure_ready(1)
    emulators = runner.spawned_of("emulator")
    assert len(emulators) == 3 and emulators[-1][1][emulators[-1][1].index("-avd") + 1] == "base_coso1"
    assert fleet.instances[1].restarts == 1
    runner.running.pop(fleet.instances[0].pid)  # the emulator of slot 0 dies on its own
    fleet.ensure_ready(0)
    assert runner.is_running(fleet.instances[0].pid)
    fleet.close()


def test_missing_base_avd_is_a_config_error_without_retries(tmp_path: Path, sdk: Path) -> None:
    clock = FakeClock()
    runner = FakeAndroid(clock)
    fleet = make_fleet(make_config(tmp_path, sdk, base_avd="pixel_missing"), runner, clock)
    with pytest.raises(ConfigError, match="base AVD 'pixel_missing' not found.*AVDs there: \\['base'\\]"):
        fleet.start()
    assert runner.spawned_of("emulator") == [] and clock.sleeps == []


def test_snapshot_reload_goes_through_the_console(tmp_path: Path, sdk: Path) -> None:
    clock = FakeClock()
    runner = FakeAndroid(clock)
    fleet = make_fleet(make_config(tmp_path, sdk), runner, clock)
    fleet.start()
    fleet.instances[0].reload_snapshot()
    assert (fleet.config.adb, "-s", "emulator-5554", "emu", "avd", "snapshot", "load", "coso_ready") in runner.commands
    fleet.close()


def test_avd_clone_rewrites_paths_and_repoints_overlays(tmp_path: Path) -> None:
    home = tmp_path / "avd"
    home.mkdir()
    base_dir = make_avd(home)
    clock = FakeClock()
    runner = FakeAndroid(clock)
    qemu_img = tmp_path / "qemu-img"
    qemu_img.write_text("")
    provider = CopyAvdProvider(home, runner, qemu_img)
    prepared = provider.prepare("base", "base_coso3")
    clone = home / "base_coso3.avd"
    assert prepared.name == "base_coso3"
    top = (home / "base_coso3.ini").read_text()
    assert f"path={clone}\n" in top and "path.rel=avd/base_coso3.avd\n" in top and "target=android-33" in top
    config = (clone / "config.ini").read_text()
    assert "AvdId=base_coso3\n" in config and "avd.ini.displayname=base_coso3\n" in config
    assert "image.sysdir.1=system-images/android-33/google_apis/x86_64/" in config
    assert str(base_dir) not in (clone / "hardware-qemu.ini").read_text()
    assert f"{clone}/cache.img" in (clone / "snapshots" / "coso_ready" / "hardware.ini").read_text()
    assert not (clone / "multiinstance.lock").exists()
    rebase = [c for c in runner.commands if Path(c[0]).name == "qemu-img"]
    assert rebase == [(str(qemu_img), "rebase", "-u", "-F", "raw", "-b", f"{clone}/userdata-qemu.img",
                       str(clone / "userdata-qemu.img.qcow2"))]
    assert (base_dir / "config.ini").read_text().startswith("AvdId=base\n")  # the base is untouched
    provider.cleanup(prepared)
    assert not clone.exists() and not (home / "base_coso3.ini").exists()


def test_qcow2_header_and_text_rewrite_helpers(tmp_path: Path) -> None:
    image = tmp_path / "x.qcow2"
    image.write_bytes(b"QFI\xfb" + struct.pack(">I", 3) + struct.pack(">QI", 0, 0) + b"\0" * 40)
    assert qcow2_backing_file(image) is None
    (tmp_path / "raw.img").write_bytes(b"\0" * 32)
    assert qcow2_backing_file(tmp_path / "raw.img") is None
    text = "path=/a/base.avd\nAvdId=base\nother=base.avd/x\n"
    rewritten = rewrite_avd_text(text, {"/a/base.avd": "/a/base_coso0.avd", "base.avd": "base_coso0.avd"},
                                 {"AvdId": "base_coso0"})
    assert rewritten == "path=/a/base_coso0.avd\nAvdId=base_coso0\nother=base_coso0.avd/x\n"


def test_config_errors_name_the_setting(tmp_path: Path, sdk: Path) -> None:
    with pytest.raises(ConfigError, match="console_port_base=5555 must be even"):
        make_config(tmp_path, sdk, console_port_base=5555)
    with pytest.raises(ConfigError, match="clone_mode='link'"):
        make_config(tmp_path, sdk, clone_mode="link")
    with pytest.raises(ConfigError, match="num_instances=0"):
        make_config(tmp_path, sdk, num_instances=0)
    with pytest.raises(ConfigError, match="env.android.boot_timout_s is not a setting.*boot_timeout_s"):
        AndroidSettings.from_mapping({"boot_timout_s": 10})
    with pytest.raises(ConfigError, match="env.android.timeouts.command is not a setting"):
        AndroidSettings.from_mapping({"timeouts": {"command": 1}})
    settings = AndroidSettings.from_mapping({"num_instances": 2, "timeouts": {"command_s": 5},
                                             "capabilities": {"appium:language": "en"}})
    assert settings.emulator.num_instances == 2 and settings.timeouts.command_s == 5
    assert appium_capabilities("emulator-5554", 8200, settings.capabilities)["appium:language"] == "en"


def test_parse_adb_devices() -> None:
    output = "* daemon started successfully\nList of devices attached\nemulator-5554\tdevice\nemulator-5556\toffline\n\n"
    assert parse_adb_devices(output) == {"emulator-5554": "device", "emulator-5556": "offline"}


def test_subprocess_runner_runs_times_out_spawns_and_kills(tmp_path: Path) -> None:
    runner = SubprocessRunner()
    assert runner.run(["sh", "-c", "echo hi"], timeout_s=5).stdout == "hi\n"
    assert runner.run(["sh", "-c", "exit 3"], timeout_s=5).returncode == 3
    assert runner.run(["sleep", "5"], timeout_s=0.2).timed_out
    with pytest.raises(ConfigError, match="cannot run '/nonexistent/adb'"):
        runner.run(["/nonexistent/adb", "devices"], timeout_s=1)
    log = tmp_path / "child.log"
    pid = runner.spawn(["sh", "-c", "echo started; sleep 30 & wait"], log)
    assert runner.is_running(pid)
    runner.kill(pid, grace_s=2.0)
    assert not runner.is_running(pid)
    deadline = time.monotonic() + 5.0
    while _live_group_members(pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # SIGKILL is delivered asynchronously
    assert _live_group_members(pid) == []  # the shell and its sleep child are gone


def _live_group_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are not zombies (a container's PID 1 may never reap orphans)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process exited while we looked
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return members


def test_is_port_free_sees_a_listening_socket() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert not is_port_free(port)
