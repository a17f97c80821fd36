"""``SimPhone``: the simulated Android phone, a ``coso.env.base.Device`` drawn with Pillow.

Taps are hit-tested against the same element tree that is drawn (``layout.build_screen``); swipes scroll
lists and open the app drawer or the notification shade; keys behave as on Android. Screenshots are
rendered lazily, once per state version. Same seed and same actions give identical screenshots.
"""

from __future__ import annotations

import math

from PIL import Image

import coso.env.sim.apps  # noqa: F401  (registers the apps' views, popups and commands)
from coso.env.sim import nav
from coso.env.sim.commands import run_command
from coso.env.sim.config import SimConfig
from coso.env.sim.faults import FaultInjector
from coso.env.sim.layout import build_screen
from coso.env.sim.render import Renderer
from coso.env.sim.state import LAUNCHER, PhoneState
from coso.env.sim.ui import Element, Screen
from coso.env.sim.world import new_phone_state

SHADE_START_Y = 0.05  # a swipe down that starts above this (the status bar) opens the notification shade
MIN_SWIPE = 0.08  # shorter vertical swipes than this do nothing


def _check_point(name: str, *values: float) -> None:
    for value in values:
        if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0.0 <= value <= 1.0:
            raise ValueError(f"SimPhone.{name}: coordinates must be normalised numbers in [0, 1], got {values}")


class SimPhone:
    """A simulated phone: home screen, app drawer, Chrome with shops, Play Store, YouTube, Maps, Settings, Clock."""

    def __init__(self, config: SimConfig | None = None, seed: int = 0) -> None:
        self.config = config or SimConfig()
        self.renderer = Renderer(self.config.width, self.config.height)
        self.faults = FaultInjector(self.config.faults)
        self._image_cache: tuple[int, Image.Image] | None = None
        self.state: PhoneState
        self.reset(seed)

    # ------------------------------------------------------------------ Device protocol

    def reset(self, seed: int) -> None:
        """A fresh phone on its home screen, laid out for episode ``seed`` (never injects faults)."""
        self.state = new_phone_state(self.config.width, self.config.height, self.config.variation, int(seed))
        self.faults.reset(int(seed))
        self._image_cache = None

    def screenshot(self) -> Image.Image:
        """The current screen as a ``width`` x ``height`` RGB image (rendered once per state change)."""
        self.faults.before_call("screenshot")
        cached = self._image_cache
        if cached is None or cached[0] != self.state.version:
            cached = (self.state.version, self.renderer.render(self.screen()))
            self._image_cache = cached
        return self.faults.screenshot(cached[1].copy())

    def window_size(self) -> tuple[int, int]:
        """Screen ``(width, height)`` in pixels."""
        return (self.config.width, self.config.height)

    def tap(self, x: float, y: float) -> None:
        """Tap at normalised ``(x, y)``: runs the command of the topmost clickable element there."""
        _check_point("tap", x, y)
        self.faults.before_call("tap")
        self.faults.action_latency()
        element = self.screen().hit_normalized(x, y)
        if element is not None:
            run_command(self.state, element.command)
        self._changed()

    def swipe(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """Swipe: down from the status bar opens the shade; up on the home screen opens the drawer; else scroll."""
        _check_point("swipe", x0, y0, x1, y1)
        self.faults.before_call("swipe")
        self.faults.action_latency()
        self._swipe(x0, y0, x1, y1)
        self._changed()

    def type_text(self, text: str) -> None:
        """Type into the focused field; without focus nothing happens."""
        self.faults.before_call("type_text")
        self.faults.action_latency()
        nav.type_text(self.state, str(text))
        self._changed()

    def press_back(self) -> None:
        """Back: closes the shade, the keyboard, a popup, the focus, then goes back in history."""
        self.faults.before_call("press_back")
        self.faults.action_latency()
        nav.back(self.state)
        self._changed()

    def press_home(self) -> None:
        """Home: the home screen."""
        self.faults.before_call("press_home")
        self.faults.action_latency()
        nav.go_home(self.state)
        self._changed()

    def press_enter(self) -> None:
        """Enter: submits the focused text field."""
        self.faults.before_call("press_enter")
        self.faults.action_latency()
        nav.enter(self.state)
        self._changed()

    def close(self) -> None:
        """Nothing to release; the phone stays usable after ``reset``."""
        self._image_cache = None

    def privileged_state(self) -> PhoneState:
        """The live simulator state (read by the rule judge and the scripted expert; do not modify)."""
        return self.state

    # ------------------------------------------------------------------ helpers for judges, experts and tests

    def screen(self) -> Screen:
        """The element tree currently shown (what is drawn and what taps hit)."""
        return build_screen(self.state)

    def element(self, element_id: str) -> Element | None:
        """The visible element with this id, or None."""
        return self.screen().find(element_id)

    def tap_element(self, element_id: str) -> None:
        """Tap the centre of a visible element (a convenience for tests and scripts)."""
        screen = self.screen()
        element = screen.find(element_id)
        if element is None:
            raise LookupError(f"no visible element {element_id!r} on the {self.state.page.view} screen")
        self.tap(*screen.normalized_center(element))

    def _changed(self) -> None:
        self.state.version += 1

    def _swipe(self, x0: float, y0: float, x1: float, y1: float) -> None:
        state = self.state
        dx, dy = x1 - x0, y1 - y0
        vertical = abs(dy) >= abs(dx) and abs(dy) >= MIN_SWIPE
        if state.shade_open:
            if vertical and dy < 0:
                state.shade_open = False
            return
        if not vertical:
            return
        if dy > 0 and y0 <= SHADE_START_Y:
            state.shade_open = True
            return
        if state.foreground == LAUNCHER and state.page.view == "home":
            if dy < 0:
                nav.push(state, nav.DRAWER_PAGE)
            else:
                state.shade_open = True  # a swipe down on the home screen also pulls the shade
            return
        screen = self.screen()
        px, py = x0 * screen.width, y0 * screen.height
        area = screen.scroll_area_at(px, py)
        if area is None or screen.blocked_above(area, px, py):
            return
        if state.page.view == "drawer" and dy > 0 and area.offset <= 0:
            nav.back(state)  # pulling the drawer down at its top closes it
            return
        offset = min(max(area.offset - dy * screen.height, 0.0), area.max_offset)
        state.ui.scroll[area.key] = offset
