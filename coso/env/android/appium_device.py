"""A phone driven over the Appium/W3C WebDriver protocol with appium-python-client: a ``coso`` Device.

Taps and swipes are W3C touch pointer actions on pixels computed from normalised points; typing goes to
the focused (active) element; Back / Home / Enter are ``mobile: pressKey`` with Android keycodes 4 / 3 /
66; screenshots come back as PIL images, retried while blank. Every call runs in a daemon thread under a
time limit (works off the main thread, unlike SIGALRM) and every failure surfaces as
``DeviceTimeoutError`` or ``DeviceConnectionError``, which the environment pool answers with a restart.
"""

from __future__ import annotations

import io
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from PIL import Image

from coso.errors import ConfigError, DeviceConnectionError, DeviceError, DeviceTimeoutError

logger = logging.getLogger(__name__)

T = TypeVar("T")

ANDROID_KEYCODE_BACK = 4
ANDROID_KEYCODE_HOME = 3
ANDROID_KEYCODE_ENTER = 66
SIM_RESET_SCRIPT = "mobile: cosoReset"  # the simulator server's seeded reset (not an Appium command)


@dataclass
class DeviceTimeouts:
    """Time limits and retry counts of device calls."""

    session_s: float = 120.0  # creating a session (UiAutomator2 may install its server first)
    command_s: float = 30.0  # any other call
    blank_screenshot_retries: int = 3  # extra tries while the screenshot is a single colour
    blank_screenshot_delay_s: float = 0.5
    settle_s: float = 0.0  # pause after an action before the caller's next screenshot (real UIs animate)
    swipe_ms: int = 400  # duration of the swipe gesture

    def __post_init__(self) -> None:
        for name in ("session_s", "command_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"env.android.timeouts.{name}={getattr(self, name)} must be positive")
        if self.blank_screenshot_retries < 0 or self.blank_screenshot_delay_s < 0 or self.settle_s < 0:
            raise ConfigError("env.android.timeouts: retry counts and delays must be >= 0")


def call_with_timeout(function: Callable[[], T], timeout_s: float, what: str) -> T:
    """Run ``function`` in a daemon thread and wait at most ``timeout_s``; DeviceTimeoutError if it does not return."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function()
        except BaseException as error:  # handed back to the caller's thread
            outcome["error"] = error

    worker = threading.Thread(target=target, name=f"device-call:{what}", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise DeviceTimeoutError(f"{what} did not return within {timeout_s:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _is_timeout(error: BaseException) -> bool:
    import urllib3.exceptions
    from selenium.common.exceptions import TimeoutException

    return isinstance(error, (TimeoutError, socket.timeout, TimeoutException, urllib3.exceptions.TimeoutError))


def map_device_error(error: BaseException, what: str, server_url: str) -> DeviceError:
    """Turn a client-library or socket failure into the DeviceError subclass the env pool understands."""
    if isinstance(error, DeviceError):
        return error
    if _is_timeout(error):
        return DeviceTimeoutError(f"{what} on {server_url} timed out: {type(error).__name__}: {error}")
    from selenium.common.exceptions import WebDriverException

    if isinstance(error, WebDriverException):
        lines = (error.msg or str(error)).strip().splitlines()
        message = lines[0] if lines else ""
        return DeviceConnectionError(f"{what}: the server at {server_url} answered an error "
                                     f"({type(error).__name__}: {message})")
    return DeviceConnectionError(f"{what}: lost the connection to {server_url} ({type(error).__name__}: {error})")


def is_blank(image: Image.Image) -> bool:
    """True when every pixel has the same colour (a display that has not drawn yet)."""
    extrema = image.getextrema()
    bands = extrema if isinstance(extrema[0], tuple) else (extrema,)
    return all(low == high for low, high in bands)


def to_pixel(fraction: float, size: int) -> int:
    """A normalised coordinate in [0, 1] -> the pixel whose cell contains it (clamped to the screen)."""
    return min(size - 1, max(0, int(fraction * size)))


class ResetStrategy(Protocol):
    """What ``AppiumDevice.reset(seed)`` does on a given kind of device."""

    def __call__(self, device: AppiumDevice, seed: int) -> None:
        """Bring the device to its start state."""


def _reset_by_home(device: AppiumDevice, seed: int) -> None:
    device.press_home()


def _reset_nothing(device: AppiumDevice, seed: int) -> None:
    return None


def _reset_simulator(device: AppiumDevice, seed: int) -> None:
    device.execute_mobile(SIM_RESET_SCRIPT, {"seed": int(seed)})


RESET_STRATEGIES: dict[str, ResetStrategy] = {
    "home": _reset_by_home,  # a real phone: the seed cannot choose its state; start from the home screen
    "none": _reset_nothing,  # the caller resets (e.g. a snapshot load by EmulatorDevice)
    "sim_seed": _reset_simulator,  # the simulator served over WebDriver: a seeded reset of its phone
}


class AppiumDevice:
    """A ``coso.env.base.Device`` over one Appium (or simulator WebDriver) session."""

    def __init__(
        self, server_url: str, capabilities: Mapping[str, Any] | None = None,
        timeouts: DeviceTimeouts | None = None, reset_mode: str = "home",
    ) -> None:
        if reset_mode not in RESET_STRATEGIES:
            raise ConfigError(f"AppiumDevice reset_mode={reset_mode!r} is not one of {sorted(RESET_STRATEGIES)}")
        self.server_url = server_url.rstrip("/")
        self.capabilities = dict(capabilities or {})
        self.timeouts = timeouts or DeviceTimeouts()
        self.reset_mode = reset_mode
        self._driver: Any = None
        self._size: tuple[int, int] | None = None
        self.blank_screenshots = 0  # screenshots that stayed blank after all retries
        self.connect()

    def __repr__(self) -> str:
        session = getattr(self._driver, "session_id", None)
        return f"AppiumDevice(server_url={self.server_url!r}, session={session!r})"

    # -- session -------------------------------------------------------------------------------------

    def _call(self, what: str, function: Callable[[], T], timeout_s: float | None = None) -> T:
        try:
            return call_with_timeout(function, timeout_s or self.timeouts.command_s, f"{what} on {self.server_url}")
        except Exception as error:
            raise map_device_error(error, what, self.server_url) from error

    def _create_driver(self) -> Any:
        from appium import webdriver
        from appium.options.android import UiAutomator2Options
        from appium.webdriver.client_config import AppiumClientConfig
        from urllib3.util.retry import Retry

        options = UiAutomator2Options().load_capabilities(self.capabilities)
        # One connect retry, no read retries: a dropped request must surface, not be replayed silently.
        retries = Retry(total=1, connect=1, read=0, status=0, other=0, redirect=0)
        client_config = AppiumClientConfig(
            self.server_url, keep_alive=True, timeout=self.timeouts.session_s + 5.0,
            init_args_for_pool_manager={"init_args_for_pool_manager": {"retries": retries}},
        )
        return webdriver.Remote(self.server_url, options=options, client_config=client_config)

    def connect(self) -> None:
        """Open a new session (closing the previous one first)."""
        self.close()
        self._driver = self._call("creating a session", self._create_driver, self.timeouts.session_s)
        self._size = None

    @property
    def driver(self) -> Any:
        """The appium-python-client WebDriver of the current session."""
        if self._driver is None:
            raise DeviceConnectionError(f"no open session on {self.server_url}")
        return self._driver

    def close(self) -> None:
        """End the session; failures are logged, never raised (the server may already be gone)."""
        driver, self._driver = self._driver, None
        if driver is None:
            return
        try:
            call_with_timeout(driver.quit, min(10.0, self.timeouts.command_s),
                              f"ending the session on {self.server_url}")
        except Exception as error:
            logger.info("ending the session on %s failed: %s", self.server_url, error)

    # -- Device protocol -----------------------------------------------------------------------------

    def reset(self, seed: int) -> None:
        """Bring the phone to its start state with the configured strategy (Home on a real phone)."""
        RESET_STRATEGIES[self.reset_mode](self, seed)
        self._size = None

    def window_size(self) -> tuple[int, int]:
        """Screen (width, height) in pixels, asked once per session."""
        if self._size is None:
            size = self._call("reading the window size", self.driver.get_window_size)
            self._size = (int(size["width"]), int(size["height"]))
        return self._size

    def screenshot(self) -> Image.Image:
        """The screen as an RGB PIL image, retried a few times while it is blank."""
        image = self._grab()
        for _ in range(self.timeouts.blank_screenshot_retries):
            if not is_blank(image):
                return image
            time.sleep(self.timeouts.blank_screenshot_delay_s)
            image = self._grab()
        if is_blank(image):
            self.blank_screenshots += 1
            logger.warning("screenshot from %s is still blank after %d retries",
                           self.server_url, self.timeouts.blank_screenshot_retries)
        return image

    def _grab(self) -> Image.Image:
        png = self._call("taking a screenshot", self.driver.get_screenshot_as_png)
        try:
            with Image.open(io.BytesIO(png)) as image:
                return image.convert("RGB")
        except Exception as error:
            raise DeviceConnectionError(f"the screenshot from {self.server_url} is not an image: {error}") from error

    def tap(self, x: float, y: float) -> None:
        """Tap at normalised (x, y) with a W3C touch pointer action."""
        width, height = self.window_size()
        point = (to_pixel(x, width), to_pixel(y, height))
        self._call("tapping", lambda: self.driver.tap([point]))
        self._settle()

    def swipe(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """Swipe between normalised points with a W3C touch pointer action."""
        width, height = self.window_size()
        start_x, start_y = to_pixel(x0, width), to_pixel(y0, height)
        end_x, end_y = to_pixel(x1, width), to_pixel(y1, height)
        self._call("swiping", lambda: self.driver.swipe(start_x, start_y, end_x, end_y, self.timeouts.swipe_ms))
        self._settle()

    def type_text(self, text: str) -> None:
        """Type into the focused element; with nothing focused, nothing happens (as on a phone)."""
        from selenium.common.exceptions import NoSuchElementException

        def send() -> None:
            try:
                element = self.driver.switch_to.active_element
            except NoSuchElementException:
                logger.info("typing %d characters with no focused element on %s: ignored", len(text), self.server_url)
                return
            element.send_keys(text)

        self._call("typing", send)
        self._settle()

    def press_back(self) -> None:
        """The Android Back key (keycode 4)."""
        self._press_key(ANDROID_KEYCODE_BACK, "pressing Back")

    def press_home(self) -> None:
        """The Android Home key (keycode 3)."""
        self._press_key(ANDROID_KEYCODE_HOME, "pressing Home")

    def press_enter(self) -> None:
        """The Enter key (keycode 66)."""
        self._press_key(ANDROID_KEYCODE_ENTER, "pressing Enter")

    def privileged_state(self) -> object | None:
        """None: a phone behind Appium has no simulator state to share."""
        return None

    # -- helpers -------------------------------------------------------------------------------------

    def execute_mobile(self, script: str, arguments: Mapping[str, Any]) -> Any:
        """Run an Appium ``mobile:`` extension command (``execute/sync``)."""
        return self._call(script, lambda: self.driver.execute_script(script, dict(arguments)))

    def _press_key(self, keycode: int, what: str) -> None:
        self._call(what, lambda: self.driver.execute_script("mobile: pressKey", {"keycode": keycode}))
        self._settle()

    def _settle(self) -> None:
        if self.timeouts.settle_s > 0:
            time.sleep(self.timeouts.settle_s)
