"""Lays out the whole screen for a phone state: page, popups, keyboard, system bars and notification shade.

``build_screen`` is a pure function of the state (memoised on ``state.cache`` by ``state.version``): the
phone draws and hit-tests its result, and the scripted expert reads the same tree to know where to tap.
"""

from __future__ import annotations

from coso.env.sim.nav import visible_popups
from coso.env.sim.registry import POPUPS, VIEWS
from coso.env.sim.state import PhoneState
from coso.env.sim.ui import Screen, ScreenBuilder
from coso.env.sim.widgets import keyboard, nav_bar, status_bar

_DARK_VIEWS = frozenset({"yt_video", "camera_main"})


def _compose(state: PhoneState, offsets: dict[str, float]) -> Screen:
    builder = ScreenBuilder(state.height_dp, offsets)
    page = state.page
    builder_fn = VIEWS.get(page.view) or VIEWS["app_main"]
    builder_fn(state, builder)
    for popup_id in visible_popups(state):
        draw_popup = POPUPS.get(popup_id)
        if draw_popup is not None:
            draw_popup(state, builder)
    if state.ui.keyboard and state.ui.focus:
        keyboard(builder, state)
    status_bar(builder, state, dark=page.view in _DARK_VIEWS or page.incognito)
    if state.shade_open:
        POPUPS["shade"](state, builder)
    nav_bar(builder, state)
    return builder.build()


def build_screen(state: PhoneState) -> Screen:
    """The element tree of what ``state`` shows (scroll offsets beyond the content are clamped)."""
    cached = state.cache.get("screen")
    if cached is not None and cached[0] == state.version:
        return cached[1]
    offsets = dict(state.ui.scroll)
    screen = _compose(state, offsets)
    overflow = {area.key: area.max_offset for area in screen.scroll_areas if area.offset > area.max_offset + 0.5}
    if overflow:
        offsets.update(overflow)
        screen = _compose(state, offsets)
    state.cache["screen"] = (state.version, screen)
    return screen
