"""AppiumDevice through the real appium-python-client, against the simulated phone served over WebDriver.

Every check compares the served phone with an in-process reference phone given the same calls, so the
whole path (client library, W3C actions, pixel mapping, PNG transfer) must be lossless.
"""

from __future__ import annotations

import time

import pytest

from coso.env.android.appium_device import AppiumDevice, DeviceTimeouts, is_blank, to_pixel
from coso.env.sim import FaultConfig, SimConfig, SimPhone
from coso.fakes.webdriver_server import Fault, ServedDevice, SimWebDriverServer, pixel_to_fraction
from coso.errors import ConfigError, DeviceConnectionError, DeviceTimeoutError

FAST = DeviceTimeouts(session_s=10.0, command_s=2.0, blank_screenshot_retries=2, blank_screenshot_delay_s=0.0)


def same_screen(a: SimPhone, b: SimPhone) -> bool:
    return a.screenshot().tobytes() == b.screenshot().tobytes()


def test_every_device_call_reaches_the_phone_as_in_process() -> None:
    served_phone, reference = SimPhone(SimConfig(), seed=5), SimPhone(SimConfig(), seed=5)
    with SimWebDriverServer(served_phone) as server:
        device = ServedDevice(server, FAST)
        width, height = device.window_size()
        assert (width, height) == reference.window_size()
        snap = lambda v, size: pixel_to_fraction(to_pixel(v, size), size)  # noqa: E731 - what the wire delivers
        steps = [
            ("reset", (9,)),
            ("swipe", (0.5, 0.8, 0.5, 0.3)),  # home -> app drawer
            ("press_back", ()),
            ("tap", None),  # the search widget of the home screen, found below
            ("type_text", ("bestbuy.com",)),
            ("press_enter", ()),
            ("press_home", ()),
        ]
        views = []
        for name, args in steps:
            if name == "tap":
                screen = reference.screen()
                args = screen.normalized_center(screen.find("home.search"))
            getattr(device, name)(*args)
            if name in ("tap", "swipe"):
                wire_args = [snap(v, width if k % 2 == 0 else height) for k, v in enumerate(args)]
                getattr(reference, name)(*wire_args)
            else:
                getattr(reference, name)(*args)
            assert same_screen(served_phone, reference), f"screens differ after {name}{args}"
            views.append(served_phone.privileged_state().page.view)
            assert device.screenshot().tobytes() == reference.screenshot().tobytes()
        assert views == ["home", "drawer", "home", "google_home", "google_home", "google_results", "home"]
        assert device.privileged_state() is served_phone.privileged_state()
        assert device.remote.privileged_state() is None  # a plain Appium device has no simulator state
        device.close()


def test_pixel_mapping_round_trips_within_half_a_pixel() -> None:
    for size in (270, 1080, 2400):
        for value in (0.0, 0.1941, 0.5, 0.6172, 0.99999, 1.0):
            assert abs(pixel_to_fraction(to_pixel(value, size), size) - value) <= 1.0 / size


@pytest.mark.parametrize("kind, error", [("drop", DeviceConnectionError), ("error", DeviceConnectionError),
                                         ("hang", DeviceTimeoutError)])
def test_server_faults_become_device_errors_promptly(kind: str, error: type) -> None:
    phone = SimPhone(SimConfig(), seed=0)
    timeouts = DeviceTimeouts(session_s=5.0, command_s=0.5)
    with SimWebDriverServer(phone, faults=[Fault(kind, at_request=3, hang_s=3.0)]) as server:
        device = AppiumDevice(server.url, {"platformName": "Android"}, timeouts)  # request 1
        device.window_size()  # request 2
        start = time.monotonic()
        with pytest.raises(error, match=server.url):
            device.tap(0.5, 0.5)  # request 3
        assert time.monotonic() - start < 1.5
        device.press_home()  # the same session works again afterwards
        device.close()


def test_blank_screenshots_are_retaken_then_returned_and_counted() -> None:
    phone = SimPhone(SimConfig(faults=FaultConfig(corrupt_prob=1.0, corrupt_modes=("black",))), seed=0)
    with SimWebDriverServer(phone) as server:
        device = AppiumDevice(server.url, {}, FAST)
        before = len(server.commands)
        image = device.screenshot()
        shots = [c for c in list(server.commands)[before:] if c.endswith("/screenshot")]
        assert is_blank(image) and len(shots) == 1 + FAST.blank_screenshot_retries
        assert device.blank_screenshots == 1
        device.close()


def test_an_unreachable_server_is_a_connection_error() -> None:
    phone = SimPhone(SimConfig(), seed=0)
    with SimWebDriverServer(phone) as server:
        url = server.url
    start = time.monotonic()
    with pytest.raises(DeviceConnectionError, match="creating a session"):
        AppiumDevice(url, {}, FAST)
    assert time.monotonic() - start < 3.0
    with pytest.raises(ConfigError, match="reset_mode='reboot'"):
        AppiumDevice(url, {}, FAST, reset_mode="reboot")
    with pytest.raises(ConfigError, match="command_s"):
        DeviceTimeouts(command_s=0)


def test_a_new_session_replaces_a_stale_one() -> None:
    phone = SimPhone(SimConfig(), seed=0)
    with SimWebDriverServer(phone) as server:
        first = AppiumDevice(server.url, {}, FAST)
        second = AppiumDevice(server.url, {}, FAST)  # e.g. after the pool rebuilt the environment
        second.press_home()
        with pytest.raises(DeviceConnectionError, match="invalid session id|InvalidSessionId"):
            first.press_home()
        first.close()  # closing a stale session never raises
        second.close()
