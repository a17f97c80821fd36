"""Android emulator lifecycle: one AVD clone, console port, Appium server and systemPort per instance.

``EmulatorInstance`` clones the base AVD, starts the emulator headless from a snapshot, waits until adb
lists it and ``sys.boot_completed`` is 1, and on failure kills it (by process group), deletes the clone
and tries again with exponential backoff; after ``max_retries`` restarts it raises
``TooManyRestartsError`` naming the instance, every failure and the log file. ``AppiumServer`` runs one
Appium 2 server per instance on a port checked free. ``EmulatorFleet`` owns them all and cleans up on
exit. Every process call goes through an injectable ``CommandRunner``.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shlex
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coso.env.android.avd import AVD_PROVIDERS, AvdProvider, PreparedAvd
from coso.env.android.commands import Clock, CommandResult, CommandRunner, SubprocessRunner, SystemClock, tail_of_file
from coso.env.android.ports import (
    ADB_DEFAULT_SCAN_MAX,
    EMULATOR_CONSOLE_PORT_MAX,
    EMULATOR_CONSOLE_PORT_MIN,
    PortAllocator,
)
from coso.errors import ConfigError, DeviceError, EmulatorError, TooManyRestartsError
from coso.retry import Backoff

logger = logging.getLogger(__name__)

DEFAULT_POST_BOOT_SHELL = [
    "settings put global window_animation_scale 0",
    "settings put global transition_animation_scale 0",
    "settings put global animator_duration_scale 0",
]


@dataclass
class EmulatorConfig:
    """Where the SDK and the base AVD are, how many emulators to run, their ports, flags and limits."""

    sdk_root: str = ""  # "" -> $ANDROID_SDK_ROOT, then $ANDROID_HOME
    avd_home: str = ""  # "" -> $ANDROID_AVD_HOME, then ~/.android/avd
    base_avd: str = "coso_base"
    num_instances: int = 1
    console_port_base: int = 5554  # instance k prefers console port base + 2k (adb serial emulator-<port>)
    appium_port_base: int = 4723  # instance k prefers Appium port base + k
    system_port_base: int = 8200  # instance k prefers UiAutomator2 systemPort base + k
    headless: bool = True  # -no-window
    no_audio: bool = True
    no_boot_anim: bool = True
    gpu: str = "swiftshader_indirect"
    accel: str = "auto"
    memory_mb: int = 0  # 0 keeps the AVD's own setting
    snapshot: str = "coso_ready"  # loaded at boot and on every reset; "" cold-boots and resets by Home
    clone_mode: str = "copy"  # "copy" (one full AVD copy per instance) or "read_only" (-read-only)
    extra_emulator_args: list[str] = field(default_factory=list)
    post_boot_shell: list[str] = field(default_factory=lambda: list(DEFAULT_POST_BOOT_SHELL))
    boot_timeout_s: float = 300.0
    boot_poll_s: float = 2.0
    command_timeout_s: float = 30.0  # each adb / qemu-img call
    max_retries: int = 3  # restarts after the first failed start
    backoff_base_s: float = 5.0
    backoff_max_s: float = 60.0
    kill_grace_s: float = 10.0
    appium_binary: str = "appium"
    appium_start_timeout_s: float = 60.0
    appium_args: list[str] = field(default_factory=list)
    work_dir: str = ""  # logs; "" -> <tmp>/coso-android

    def __post_init__(self) -> None:
        where = "env.android"
        if self.num_instances < 1:
            raise ConfigError(f"{where}.num_instances={self.num_instances} must be at least 1")
        last_console = self.console_port_base + 2 * (self.num_instances - 1)
        if self.console_port_base % 2 or not (
            EMULATOR_CONSOLE_PORT_MIN <= self.console_port_base and last_console < EMULATOR_CONSOLE_PORT_MAX
        ):
            raise ConfigError(
                f"{where}.console_port_base={self.console_port_base} must be even, with all "
                f"{self.num_instances} instances' ports in [{EMULATOR_CONSOLE_PORT_MIN}, "
                f"{EMULATOR_CONSOLE_PORT_MAX - 1}]; use 5554"
            )
        if last_console + 1 > ADB_DEFAULT_SCAN_MAX and "ADB_LOCAL_TRANSPORT_MAX_PORT" not in os.environ:
            logger.warning(
                "emulator console ports reach %d: adb only scans up to %d unless ADB_LOCAL_TRANSPORT_MAX_PORT "
                "is set higher; instances beyond that would be missing from `adb devices`",
                last_console + 1, ADB_DEFAULT_SCAN_MAX)
        if self.clone_mode not in AVD_PROVIDERS:
            raise ConfigError(f"{where}.clone_mode={self.clone_mode!r} is not one of {sorted(AVD_PROVIDERS)}")
        for name in ("boot_timeout_s", "boot_poll_s", "command_timeout_s", "appium_start_timeout_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{where}.{name}={getattr(self, name)} must be positive")
        if self.max_retries < 0:
            raise ConfigError(f"{where}.max_retries={self.max_retries} must be >= 0")
        Backoff(self.backoff_base_s, 2.0, self.backoff_max_s)  # raises ConfigError for bad backoff settings

    @property
    def backoff(self) -> Backoff:
        """The wait between restarts."""
        return Backoff(self.backoff_base_s, 2.0, self.backoff_max_s)

    @property
    def sdk_path(self) -> Path:
        """The Android SDK root."""
        root = self.sdk_root or os.environ.get("ANDROID_SDK_ROOT") or os.environ.get("ANDROID_HOME") or ""
        if not root:
            raise ConfigError(
                "the Android SDK location is unknown: set env.android.sdk_root or $ANDROID_SDK_ROOT "
                "(see env_setup/README.md)"
            )
        return Path(root).expanduser()

    @property
    def avd_home_path(self) -> Path:
        """The directory holding ``<name>.ini`` and ``<name>.avd/`` of every AVD."""
        home = self.avd_home or os.environ.get("ANDROID_AVD_HOME") or "~/.android/avd"
        return Path(home).expanduser()

    @property
    def work_path(self) -> Path:
        """Where emulator and Appium logs go."""
        return Path(self.work_dir or Path(tempfile.gettempdir()) / "coso-android").expanduser()

    @property
    def adb(self) -> str:
        """The adb binary."""
        return str(self.sdk_path / "platform-tools" / "adb")

    @property
    def emulator_binary(self) -> str:
        """The emulator launcher."""
        return str(self.sdk_path / "emulator" / "emulator")

    @property
    def qemu_img(self) -> Path:
        """The qemu-img shipped with the emulator (re-points clone overlays)."""
        return self.sdk_path / "emulator" / "qemu-img"

    def process_env(self) -> dict[str, str]:
        """Environment variables the emulator and Appium need to find the SDK and the AVDs."""
        sdk = str(self.sdk_path)
        return {"ANDROID_SDK_ROOT": sdk, "ANDROID_HOME": sdk, "ANDROID_AVD_HOME": str(self.avd_home_path)}


def emulator_command(config: EmulatorConfig, avd: PreparedAvd, console_port: int) -> list[str]:
    """The emulator command line of one instance: headless, from the snapshot, on its own console port."""
    command = [config.emulator_binary, "-avd", avd.name, "-port", str(console_port)]
    if config.headless:
        command.append("-no-window")
    if config.no_audio:
        command.append("-no-audio")
    if config.no_boot_anim:
        command.append("-no-boot-anim")
    if config.snapshot:
        command += ["-snapshot", config.snapshot, "-no-snapshot-save"]
    else:
        command.append("-no-snapshot")
    command += ["-gpu", config.gpu, "-accel", config.accel]
    if config.memory_mb > 0:
        command += ["-memory", str(config.memory_mb)]
    return command + list(avd.extra_args) + list(config.extra_emulator_args)


def parse_adb_devices(output: str) -> dict[str, str]:
    """``adb devices`` output -> {serial: state} (state is "device" when ready, else offline/unauthorized)."""
    devices = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith(("List of devices", "*")):
            devices[parts[0]] = parts[1]
    return devices


def run_with_restarts(
    start: Callable[[], None], stop: Callable[[], None], what: str, config: EmulatorConfig, clock: Clock,
    hint: Callable[[], str] = lambda: "",
) -> None:
    """Call ``start`` until it succeeds, ``stop`` after each failure, backing off; at most ``1 + max_retries`` tries."""
    failures: list[str] = []
    attempts = config.max_retries + 1
    for attempt in range(attempts):
        try:
            start()
            return
        except ConfigError:
            stop()
            raise  # a user mistake: retrying cannot help
        except DeviceError as error:
            failures.append(f"attempt {attempt + 1}: {type(error).__name__}: {error}")
            logger.warning("%s failed to start (attempt %d of %d): %s", what, attempt + 1, attempts, error)
            stop()
            if attempt + 1 < attempts:
                clock.sleep(config.backoff.delay(attempt))
    extra = hint()
    raise TooManyRestartsError(
        f"{what} failed to start {attempts} times (env.android.max_retries={config.max_retries}); "
        + "; ".join(failures) + (f". {extra}" if extra else "")
    )


class EmulatorInstance:
    """One emulator: its AVD clone, console port and adb serial, its process, boot check, reload and cleanup."""

    def __init__(
        self, config: EmulatorConfig, index: int, runner: CommandRunner, ports: PortAllocator,
        clock: Clock, avd_provider: AvdProvider,
    ) -> None:
        self.config = config
        self.index = index
        self.runner = runner
        self.ports = ports
        self.clock = clock
        self.avd_provider = avd_provider
        self.name = f"{config.base_avd}_coso{index}"
        self.console_port: int | None = None
        self.pid: int | None = None
        self.avd: PreparedAvd | None = None
        self.restarts = 0

    def __repr__(self) -> str:
        return f"EmulatorInstance(index={self.index}, name={self.name!r}, serial={self.serial!r}, pid={self.pid})"

    @property
    def serial(self) -> str | None:
        """The adb serial, ``emulator-<console port>``, while a port is held."""
        return f"emulator-{self.console_port}" if self.console_port is not None else None

    @property
    def log_path(self) -> Path:
        """This instance's emulator log."""
        return self.config.work_path / f"{self.name}.log"

    def adb(self, *args: str, timeout_s: float | None = None) -> CommandResult:
        """Run an adb command against this instance."""
        if self.serial is None:
            raise EmulatorError(f"emulator instance {self.index} is not started")
        return self.runner.run(
            [self.config.adb, "-s", self.serial, *args], timeout_s or self.config.command_timeout_s,
            self.config.process_env(),
        )

    def start(self) -> None:
        """Clone, launch and boot, restarting with backoff on failure; TooManyRestartsError when it never boots."""
        run_with_restarts(self._start_once, self.stop, f"emulator instance {self.index} ({self.name})",
                          self.config, self.clock, self._failure_hint)

    def _failure_hint(self) -> str:
        log_tail = tail_of_file(self.log_path, 400)
        return (
            f"Emulator log: {self.log_path}" + (f" (ends: {log_tail!r})" if log_tail else "")
            + ". Check `emulator -list-avds`, that /dev/kvm is usable, the base AVD boots by hand, and no stale "
            "emulator holds the ports (`adb devices`)"
        )

    def _start_once(self) -> None:
        self.console_port = self.ports.console_port(self.config.console_port_base + 2 * self.index)
        self.avd = self.avd_provider.prepare(self.config.base_avd, self.name)
        command = emulator_command(self.config, self.avd, self.console_port)
        logger.info("starting emulator %d: %s", self.index, " ".join(command))
        self.pid = self.runner.spawn(command, self.log_path, self.config.process_env())
        self.wait_for_boot()
        for shell_command in self.config.post_boot_shell:
            result = self.adb("shell", *shlex.split(shell_command))
            if not result.ok:
                logger.warning("post-boot command on %s failed: %s", self.serial, result.describe())

    def wait_for_boot(self) -> None:
        """Poll until adb lists the device as ready and ``sys.boot_completed`` is 1; fail fast if it exits."""
        deadline = self.clock.monotonic() + self.config.boot_timeout_s
        last_state = "not listed by `adb devices`"
        while True:
            if self.pid is None or not self.runner.is_running(self.pid):
                raise EmulatorError(
                    f"emulator {self.serial} exited while booting; log {self.log_path}: "
                    f"{tail_of_file(self.log_path, 400)!r}"
                )
            listing = self.runner.run([self.config.adb, "devices"], self.config.command_timeout_s,
                                      self.config.process_env())
            state = parse_adb_devices(listing.stdout).get(str(self.serial)) if listing.ok else None
            if state == "device":
                boot = self.adb("shell", "getprop", "sys.boot_completed")
                if boot.ok and boot.stdout.strip() == "1":
                    return
                last_state = f"listed, sys.boot_completed={boot.stdout.strip()!r}"
            elif state is not None:
                last_state = f"listed as {state!r}"
            if self.clock.monotonic() >= deadline:
                raise EmulatorError(
                    f"emulator {self.serial} did not boot within {self.config.boot_timeout_s:g} s "
                    f"(last seen: {last_state}); raise env.android.boot_timeout_s on slow machines"
                )
            self.clock.sleep(self.config.boot_poll_s)

    def is_healthy(self) -> bool:
        """True when the process runs, adb lists it as a device and it reports a completed boot."""
        if self.pid is None or not self.runner.is_running(self.pid):
            return False
        boot = self.adb("shell", "getprop", "sys.boot_completed")
        return boot.ok and boot.stdout.strip() == "1"

    def reload_snapshot(self) -> None:
        """Return to the snapshot through the emulator console (seconds, not a reboot), then re-check boot."""
        if not self.config.snapshot:
            raise EmulatorError("no snapshot configured (env.android.snapshot is empty)")
        result = self.adb("emu", "avd", "snapshot", "load", self.config.snapshot)
        if not result.ok or "KO" in result.stdout:
            raise EmulatorError(f"snapshot {self.config.snapshot!r} did not load on {self.serial}: "
                                f"{result.describe()}")
        self.wait_for_boot()

    def stop(self) -> None:
        """Kill the emulator (console kill, then its process group by id), delete the clone, free the ports."""
        if self.pid is not None:
            if self.runner.is_running(self.pid):
                self.adb("emu", "kill", timeout_s=min(10.0, self.config.command_timeout_s))
                deadline = self.clock.monotonic() + self.config.kill_grace_s
                while self.runner.is_running(self.pid) and self.clock.monotonic() < deadline:
                    self.clock.sleep(0.5)
            self.runner.kill(self.pid, grace_s=self.config.kill_grace_s)
            self.pid = None
        if self.avd is not None:
            self.avd_provider.cleanup(self.avd)
            self.avd = None
        if self.console_port is not None:
            self.ports.release(self.console_port, width=2)
            self.console_port = None

    def restart(self) -> None:
        """Stop and start again (with the bounded retries of ``start``); a first start is not counted as a restart."""
        if self.pid is not None:
            self.restarts += 1
        self.stop()
        self.start()


HttpProbe = Callable[[str, float], bool]


def appium_status_ready(url: str, timeout_s: float) -> bool:
    """True when ``GET <url>/status`` answers 200 with ``value.ready`` not false (Appium 2 and the sim server)."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/status", timeout=timeout_s) as response:
            body: Any = json.loads(response.read().decode() or "{}")
    except (OSError, ValueError, urllib.error.URLError):
        return False
    value = body.get("value") if isinstance(body, dict) else None
    return isinstance(value, dict) and value.get("ready", True) is not False


def appium_capabilities(serial: str, system_port: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """UiAutomator2 capabilities for one emulator: its serial and its own systemPort, no app reinstall."""
    capabilities: dict[str, Any] = {
        "platformName": "Android",
        "appium:automationName": "UiAutomator2",
        "appium:udid": serial,
        "appium:deviceName": serial,
        "appium:systemPort": system_port,
        "appium:noReset": True,
        "appium:newCommandTimeout": 600,
        "appium:adbExecTimeout": 60000,
        "appium:uiautomator2ServerLaunchTimeout": 120000,
        "appium:disableWindowAnimation": True,
    }
    capabilities.update(extra or {})
    return capabilities


class AppiumServer:
    """One Appium 2 server for one emulator, on a port checked free, stopped by its process id."""

    def __init__(self, config: EmulatorConfig, index: int, runner: CommandRunner, ports: PortAllocator,
                 clock: Clock, probe: HttpProbe = appium_status_ready) -> None:
        self.config = config
        self.index = index
        self.runner = runner
        self.ports = ports
        self.clock = clock
        self.probe = probe
        self.port: int | None = None
        self.system_port: int | None = None
        self.pid: int | None = None

    def __repr__(self) -> str:
        return f"AppiumServer(index={self.index}, port={self.port}, pid={self.pid})"

    @property
    def url(self) -> str:
        """The server's base URL on loopback."""
        if self.port is None:
            raise EmulatorError(f"Appium server {self.index} is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """This server's log."""
        return self.config.work_path / f"appium-{self.index}.log"

    def command(self) -> list[str]:
        """The Appium command line: loopback only, its own port, a new session replaces a stale one."""
        return [self.config.appium_binary, "--address", "127.0.0.1", "--port", str(self.port),
                "--session-override", "--log-no-colors", *self.config.appium_args]

    def start(self) -> None:
        """Start and wait for ``/status``, restarting on a port race or crash (bounded)."""
        run_with_restarts(self._start_once, self.stop, f"Appium server {self.index}", self.config, self.clock,
                          lambda: f"Appium log: {self.log_path}; check `appium driver list --installed` "
                                  "shows uiautomator2")

    def _start_once(self) -> None:
        self.port = self.ports.tcp_port(self.config.appium_port_base + self.index)
        if self.system_port is None:
            self.system_port = self.ports.tcp_port(self.config.system_port_base + self.index)
        self.pid = self.runner.spawn(self.command(), self.log_path, self.config.process_env())
        deadline = self.clock.monotonic() + self.config.appium_start_timeout_s
        while not self.probe(self.url, min(5.0, self.config.command_timeout_s)):
            if not self.runner.is_running(self.pid):
                raise EmulatorError(f"Appium server on port {self.port} exited at start; log {self.log_path}: "
                                    f"{tail_of_file(self.log_path, 300)!r}")
            if self.clock.monotonic() >= deadline:
                raise EmulatorError(f"Appium server on port {self.port} not ready within "
                                    f"{self.config.appium_start_timeout_s:g} s")
            self.clock.sleep(0.5)

    def stop(self) -> None:
        """Kill the server by its process id and free its HTTP port (the systemPort stays with the slot)."""
        if self.pid is not None:
            self.runner.kill(self.pid, grace_s=self.config.kill_grace_s)
            self.pid = None
        if self.port is not None:
            self.ports.release(self.port)
            self.port = None

    def release_system_port(self) -> None:
        """Free the UiAutomator2 systemPort (when the slot is closed for good)."""
        if self.system_port is not None:
            self.ports.release(self.system_port)
            self.system_port = None


class EmulatorFleet:
    """All emulator instances and their Appium servers: started in order, cleaned up on close and at exit."""

    def __init__(
        self, config: EmulatorConfig, runner: CommandRunner | None = None, clock: Clock | None = None,
        ports: PortAllocator | None = None, probe: HttpProbe = appium_status_ready,
    ) -> None:
        self.config = config
        self.runner = runner or SubprocessRunner()
        self.clock = clock or SystemClock()
        self.ports = ports or PortAllocator()
        factory = AVD_PROVIDERS[config.clone_mode]
        provider = factory(config.avd_home_path, self.runner, config.qemu_img, max(60.0, config.command_timeout_s))
        self.instances = [EmulatorInstance(config, k, self.runner, self.ports, self.clock, provider)
                          for k in range(config.num_instances)]
        self.servers = [AppiumServer(config, k, self.runner, self.ports, self.clock, probe)
                        for k in range(config.num_instances)]
        self._closed = True
        self._suspect: set[int] = set()
        self._slot_locks = [threading.Lock() for _ in range(config.num_instances)]

    def __enter__(self) -> EmulatorFleet:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _open(self) -> None:
        if self._closed:
            self._closed = False
            atexit.register(self.close)

    def start(self) -> None:
        """Boot every instance and start its Appium server, one at a time (parallel cold boots thrash small hosts)."""
        self._open()
        try:
            for instance, server in zip(self.instances, self.servers):
                instance.start()
                server.start()
        except BaseException:
            self.close()
            raise

    def capabilities(self, index: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """The Appium capabilities that drive instance ``index``."""
        instance, server = self.instances[index], self.servers[index]
        if instance.serial is None or server.system_port is None:
            raise EmulatorError(f"emulator instance {index} is not started")
        return appium_capabilities(instance.serial, server.system_port, extra)

    def mark_failed(self, index: int) -> None:
        """Note that slot ``index`` failed, so ``ensure_ready`` restarts it before its next use."""
        self._suspect.add(index)

    def ensure_ready(self, index: int) -> None:
        """Restart slot ``index`` if it was marked failed or its health check fails (one caller at a time per slot)."""
        with self._slot_locks[index]:
            server = self.servers[index]
            server_up = server.pid is not None and self.runner.is_running(server.pid)
            if index in self._suspect or not server_up or not self.instances[index].is_healthy():
                logger.info("restarting emulator slot %d before use", index)
                self.restart(index)
            self._suspect.discard(index)

    def restart(self, index: int) -> None:
        """Restart instance ``index`` and its Appium server."""
        self._open()
        self.servers[index].stop()
        self.instances[index].restart()
        self.servers[index].start()

    def close(self) -> None:
        """Stop every server and emulator and delete the clones; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        for server in self.servers:
            server.stop()
            server.release_system_port()
        for instance in self.instances:
            try:
                instance.stop()
            except DeviceError as error:  # keep cleaning the others
                logger.warning("cleaning up %r failed: %s", instance, error)
