#!/usr/bin/env python
"""Check the real-device setup: start one emulator (or attach to a running Appium server), take a screenshot.

Start an emulator from the base AVD with its own Appium server, then screenshot it::

    python env_setup/check_device.py --sdk-root $ANDROID_SDK_ROOT --avd coso_base --snapshot coso_ready

Attach to an Appium server that already drives a phone (or to the simulator's WebDriver server)::

    python env_setup/check_device.py --server-url http://127.0.0.1:4723 --udid emulator-5554

Writes the screenshot (default ``device_check.png``), prints what it did, exits 0 on success and 1 with a
one-line reason otherwise. Everything it started is stopped again.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from coso.env.android.appium_device import AppiumDevice, DeviceTimeouts
from coso.env.android.emulator import EmulatorConfig, EmulatorFleet
from coso.errors import CosoError


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    attach = parser.add_argument_group("attach to a running Appium server")
    attach.add_argument("--server-url", default="", help="e.g. http://127.0.0.1:4723 (no emulator is started)")
    attach.add_argument("--udid", default="", help="adb serial of the phone behind the server, e.g. emulator-5554")
    start = parser.add_argument_group("start one emulator and its Appium server")
    start.add_argument("--sdk-root", default="", help="Android SDK root (default: $ANDROID_SDK_ROOT)")
    start.add_argument("--avd-home", default="", help="AVD directory (default: $ANDROID_AVD_HOME or ~/.android/avd)")
    start.add_argument("--avd", default="coso_base", help="base AVD name")
    start.add_argument("--snapshot", default="coso_ready", help="snapshot to boot from ('' for a cold boot)")
    start.add_argument("--clone-mode", default="copy", choices=("copy", "read_only"))
    start.add_argument("--appium-binary", default="appium")
    start.add_argument("--boot-timeout", type=float, default=300.0, help="seconds to wait for the boot")
    start.add_argument("--show-window", action="store_true", help="run the emulator with a window")
    parser.add_argument("--out", default="device_check.png", help="where to save the screenshot")
    parser.add_argument("--command-timeout", type=float, default=60.0, help="seconds per device call")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def screenshot_to_file(server_url: str, capabilities: dict[str, Any], out: Path, timeouts: DeviceTimeouts) -> str:
    """Open a session, save a screenshot, close the session; returns a summary line."""
    started = time.monotonic()
    device = AppiumDevice(server_url, capabilities, timeouts, reset_mode="none")
    try:
        connected = time.monotonic()
        width, height = device.window_size()
        image = device.screenshot()
        shot = time.monotonic()
    finally:
        device.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)
    return (f"screen {width}x{height}, screenshot {image.size[0]}x{image.size[1]} saved to {out} "
            f"(session {connected - started:.1f} s, screenshot {shot - connected:.2f} s)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; 0 when a screenshot was saved."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    out = Path(args.out)
    timeouts = DeviceTimeouts(session_s=max(args.command_timeout, 120.0), command_s=args.command_timeout)
    try:
        if args.server_url:
            capabilities: dict[str, Any] = {"platformName": "Android"}
            if args.udid:
                capabilities["appium:udid"] = args.udid
            print("attached:", screenshot_to_file(args.server_url, capabilities, out, timeouts))
            return 0
        config = EmulatorConfig(
            sdk_root=args.sdk_root, avd_home=args.avd_home, base_avd=args.avd, num_instances=1,
            snapshot=args.snapshot, clone_mode=args.clone_mode, appium_binary=args.appium_binary,
            boot_timeout_s=args.boot_timeout, headless=not args.show_window, max_retries=1,
        )
        started = time.monotonic()
        with EmulatorFleet(config) as fleet:
            booted = time.monotonic() - started
            instance = fleet.instances[0]
            print(f"booted {instance.serial} ({instance.name}) in {booted:.1f} s; Appium at {fleet.servers[0].url}")
            print("emulator:", screenshot_to_file(fleet.servers[0].url, fleet.capabilities(0), out, timeouts))
        return 0
    except CosoError as error:
        print(f"device check failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
