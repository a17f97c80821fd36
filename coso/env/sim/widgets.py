"""Reusable pieces of screens: system bars, app bars, list rows, text fields with suggestions, switches,
dialogs and the on-screen keyboard. They add elements to a ``ScreenBuilder``; nothing here changes state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from coso.env.sim.content import search_suggestions
from coso.env.sim.state import PhoneState
from coso.env.sim.ui import (
    ABSORB,
    BLACK,
    BLUE,
    DESIGN_WIDTH,
    GREY,
    LIGHT,
    LINE,
    NO_COMMAND,
    WHITE,
    Color,
    Command,
    Element,
    Rect,
    ScreenBuilder,
    ScrollColumn,
    Style,
)

W = DESIGN_WIDTH
STATUS_H = 14.0
NAV_H = 24.0
APP_BAR_H = 36.0
KEYBOARD_H = 150.0
ROW_H = 34.0


def content_bottom(state: PhoneState) -> float:
    """The lowest content y: above the navigation bar."""
    return state.height_dp - NAV_H


def text(b: ScreenBuilder, element_id: str, rect: Rect, label: str, size: int = 10, color: Color = BLACK,
         align: str = "left", fill: Color | None = None, command: Command | None = None, role: str = "text") -> Element:
    """A line of text (optionally on a filled box, optionally tappable)."""
    style = Style(fill=fill, color=color, size=size, align=align)
    return b.add(Element(element_id, rect, label, role, command or NO_COMMAND, style))


def icon(b: ScreenBuilder | ScrollColumn, element_id: str, rect: Rect, name: str, color: Color = BLACK,
         command: Command | None = None, fill: Color | None = None, shape: str = "rect") -> Element:
    """A vector glyph (``render.GLYPHS``) in a box; tappable when given a command."""
    element = Element(element_id, rect, name, "glyph", command or NO_COMMAND, Style(fill=fill, color=color, shape=shape))
    b.add(element)
    return element


def button(b: ScreenBuilder | ScrollColumn, element_id: str, rect: Rect, label: str, command: Command,
           fill: Color = BLUE, color: Color = WHITE, size: int = 10, outline: Color | None = None) -> Element:
    """A rounded button with a centred label."""
    element = Element(element_id, rect, label, "button", command,
                      Style(fill=fill, outline=outline, color=color, size=size, align="center", shape="round", pad=3))
    b.add(element)
    return element


def _as_layer(b: ScreenBuilder, key: str, build: Callable[[ScreenBuilder], None]) -> None:
    """Add elements built by ``build`` as one cached render layer named ``key`` (first element: opaque background).

    ``key`` must determine the layer's whole content: both its elements and its rendered patch are cached.
    """
    elements = _LAYER_ELEMENTS.get(key)
    if elements is None:
        part = ScreenBuilder(b.height)
        build(part)
        elements = tuple(replace(element, layer=key) for element in part.elements)
        if len(_LAYER_ELEMENTS) > 1024:
            _LAYER_ELEMENTS.clear()
        _LAYER_ELEMENTS[key] = elements
    b.elements.extend(elements)


_LAYER_ELEMENTS: dict[str, tuple[Element, ...]] = {}


def status_bar(b: ScreenBuilder, state: PhoneState, dark: bool = False) -> None:
    """The status bar: clock, Wi-Fi state and battery."""
    fill = (0, 0, 0) if dark else (245, 246, 248)
    color = WHITE if dark else BLACK
    clock = f"{8 + state.seed % 4}:{state.seed % 60:02d}"
    right = ("Wi-Fi " if state.toggle("wifi") else "") + ("BT " if state.toggle("bluetooth") else "") + "87%"
    if state.toggle("airplane mode"):
        right = "Airplane 87%"

    def build(part: ScreenBuilder) -> None:
        part.add(Element("status.bar", Rect(0, 0, W, STATUS_H), "", "panel", style=Style(fill=fill)))
        part.add(Element("status.time", Rect(0, 0, 60, STATUS_H), clock, "text", style=Style(color=color, size=8)))
        part.add(Element("status.icons", Rect(120, 0, W, STATUS_H), right, "text",
                         style=Style(color=color, size=8, align="right")))

    _as_layer(b, f"status:{clock}:{right}:{dark}", build)


def nav_bar(b: ScreenBuilder, state: PhoneState) -> None:
    """The navigation bar with its Back, Home and Recents buttons (tapping them acts like the keys)."""
    top = state.height_dp - NAV_H

    def build(part: ScreenBuilder) -> None:
        part.add(Element("nav.bar", Rect(0, top, W, state.height_dp), "", "panel", ABSORB, Style(fill=(0, 0, 0))))
        for element_id, name, x0, command in (
            ("nav.back", "back", 40.0, Command("back")),
            ("nav.home", "home", 115.0, Command("home")),
            ("nav.recents", "recents", 190.0, Command("absorb")),
        ):
            icon(part, element_id, Rect(x0, top + 2, x0 + 40, state.height_dp - 2), name, WHITE, command)

    _as_layer(b, f"nav:{top}", build)


def app_bar(b: ScreenBuilder, element_id: str, title: str, fill: Color, color: Color = WHITE,
            up: bool = True, size: int = 12) -> float:
    """A coloured top bar with a title and an up arrow (which acts as Back); returns its bottom y."""
    bottom = STATUS_H + APP_BAR_H
    b.add(Element(f"{element_id}.bar", Rect(0, STATUS_H, W, bottom), "", "panel", ABSORB, Style(fill=fill)))
    left = 4.0
    if up:
        icon(b, f"{element_id}.up", Rect(4, STATUS_H + 4, 32, bottom - 4), "arrow_left", color, Command("back"))
        left = 34.0
    b.add(Element(f"{element_id}.title", Rect(left, STATUS_H, W - 40, bottom), title, "text",
                  style=Style(color=color, size=size)))
    return bottom


def row(col: ScrollColumn, element_id: str, label: str, summary: str = "", command: Command | None = None,
        height: float = ROW_H, switch_key: str = "", state: PhoneState | None = None, left: float = 0.0) -> Rect:
    """A list row with a label, an optional grey summary and an optional switch at its right end."""
    rect = col.row(height)
    tap = command or NO_COMMAND
    col.add(Element(element_id, rect, "", "row", tap, Style(fill=WHITE)))
    label_rect = Rect(rect.x0 + left, rect.y0 + (2 if summary else 0), rect.x1 - 50, rect.y0 + (height / 2 + 3 if summary else height))
    col.add(Element(f"{element_id}.label", label_rect, label, "text", style=Style(size=10)))
    if summary:
        col.add(Element(f"{element_id}.summary", Rect(rect.x0 + left, rect.y0 + height / 2, rect.x1 - 50, rect.y1 - 2),
                        summary, "text", style=Style(size=8, color=GREY)))
    if switch_key and state is not None:
        switch(col, f"switch.{switch_key}", Rect(rect.x1 - 44, rect.y0 + height / 2 - 8, rect.x1 - 12, rect.y0 + height / 2 + 8),
               switch_key, state)
    col.add(Element(f"{element_id}.line", Rect(rect.x0 + 8, rect.y1 - 1, rect.x1, rect.y1), "", "panel", style=Style(fill=LINE)))
    return rect


def switch(b: ScreenBuilder | ScrollColumn, element_id: str, rect: Rect, key: str, state: PhoneState) -> Element:
    """A switch bound to ``state.toggles[key]``; tapping it flips the value."""
    on = state.toggle(key)
    element = Element(element_id, rect, "switch_on" if on else "switch_off", "glyph", Command("toggle", key),
                      Style(color=BLUE), checked=on)
    b.add(element)
    return element


def text_field(b: ScreenBuilder | ScrollColumn, state: PhoneState, field_id: str, rect: Rect, placeholder: str,
               value: str = "", fill: Color = LIGHT, color: Color = BLACK, size: int = 10) -> Element:
    """A text field showing the typed text while focused, else ``value`` or a grey placeholder; tap = focus."""
    focused = state.ui.focus == field_id
    shown = state.ui.text if focused else value
    label = (shown + "|") if focused else (shown or placeholder)
    tint = color if (shown or focused) else GREY
    element = Element(field_id, rect, label, "field", Command("focus", field_id, text=value),
                      Style(fill=fill, outline=BLUE if focused else None, color=tint, size=size, shape="round", pad=10))
    b.add(element)
    if focused and state.ui.text:
        icon(b, f"{field_id}.clear", Rect(rect.x1 - 22, rect.y0, rect.x1 - 2, rect.y1), "close", GREY, Command("clear_field"))
    return element


def suggestions(b: ScreenBuilder, state: PhoneState, field_id: str, top: float, context: str,
                extra: list[str] | None = None) -> None:
    """While ``field_id`` is being edited, a dropdown of search suggestions below ``top`` that covers the page."""
    if state.ui.focus != field_id or not state.ui.editing:
        return
    items = list(dict.fromkeys([*(extra or []), *search_suggestions(state.ui.text, context)]))[:5]
    bottom = top + 30 * len(items) + 4
    b.add(Element(f"{field_id}.suggestions", Rect(0, top, W, bottom), "", "panel", ABSORB,
                  Style(fill=WHITE, outline=LINE)))
    for index, item in enumerate(items):
        y = top + 2 + 30 * index
        b.add(Element(f"{field_id}.suggestion.{index}", Rect(0, y, W, y + 30), "", "row",
                      Command("suggest", field_id, index, text=item), Style(fill=WHITE)))
        icon(b, f"{field_id}.suggestion.{index}.icon", Rect(6, y + 7, 22, y + 23), "search", GREY)
        b.add(Element(f"{field_id}.suggestion.{index}.text", Rect(26, y, W - 8, y + 30), item, "text", style=Style(size=10)))


def dialog(b: ScreenBuilder, state: PhoneState, element_id: str, title: str, body: str,
           buttons: list[tuple[str, str, Command]], top: float | None = None, height: float = 120.0,
           area: Rect | None = None) -> Rect:
    """A modal dialog: a scrim that swallows taps over ``area`` (default: the content) and a card with buttons."""
    cover = area or Rect(0, STATUS_H, W, content_bottom(state))
    b.add(Element(f"{element_id}.scrim", cover, "", "panel", ABSORB, Style(fill=(120, 120, 126))))
    y0 = top if top is not None else (cover.y0 + cover.y1) / 2 - height / 2
    card = Rect(20, y0, W - 20, y0 + height)
    b.add(Element(f"{element_id}.card", card, "", "popup", ABSORB, Style(fill=WHITE, shape="round")))
    b.add(Element(f"{element_id}.title", Rect(card.x0 + 6, card.y0 + 8, card.x1 - 6, card.y0 + 28), title, "text",
                  style=Style(size=12)))
    b.add(Element(f"{element_id}.body", Rect(card.x0 + 6, card.y0 + 30, card.x1 - 6, card.y0 + 50), body, "text",
                  style=Style(size=9, color=GREY)))
    width = (card.width - 16) / max(1, len(buttons))
    for index, (suffix, label, command) in enumerate(buttons):
        x0 = card.x0 + 8 + index * width
        primary = index == len(buttons) - 1
        button(b, f"{element_id}.{suffix}", Rect(x0 + 2, card.y1 - 34, x0 + width - 2, card.y1 - 8), label, command,
               fill=BLUE if primary else WHITE, color=WHITE if primary else BLUE, outline=None if primary else LINE)
    return card


KEY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def keyboard(b: ScreenBuilder, state: PhoneState) -> None:
    """The on-screen keyboard above the navigation bar; its keys type, delete and press Enter."""
    _as_layer(b, f"keyboard:{content_bottom(state)}", lambda part: _keyboard_keys(part, state))


def _keyboard_keys(b: ScreenBuilder, state: PhoneState) -> None:
    bottom = content_bottom(state)
    top = bottom - KEYBOARD_H
    b.add(Element("keyboard", Rect(0, top, W, bottom), "", "panel", ABSORB, Style(fill=(222, 225, 230))))
    key_h = (KEYBOARD_H - 10) / 4
    key_style = Style(fill=WHITE, size=10, align="center", pad=1, shape="round")
    special = Style(fill=(190, 195, 202), size=8, align="center", pad=1, shape="round")
    for row_index, keys in enumerate(KEY_ROWS):
        y = top + 5 + row_index * key_h
        key_w = W / 10
        start = (W - key_w * len(keys)) / 2
        for index, key in enumerate(keys):
            x = start + index * key_w
            b.add(Element(f"key.{key}", Rect(x + 1.5, y + 2, x + key_w - 1.5, y + key_h - 2), key, "key",
                          Command("key", text=key), key_style))
    y = top + 5 + 2 * key_h
    b.add(Element("key.shift", Rect(2, y + 2, W / 10 * 1.5 - 2, y + key_h - 2), "shift", "key", ABSORB, special))
    b.add(Element("key.delete", Rect(W - W / 10 * 1.5 + 2, y + 2, W - 2, y + key_h - 2), "del", "key",
                  Command("backspace"), special))
    y = top + 5 + 3 * key_h
    b.add(Element("key.symbols", Rect(2, y + 2, 40, y + key_h - 2), "?123", "key", ABSORB, special))
    b.add(Element("key.comma", Rect(42, y + 2, 64, y + key_h - 2), ",", "key", Command("key", text=","), key_style))
    b.add(Element("key.space", Rect(66, y + 2, 190, y + key_h - 2), "space", "key", Command("key", text=" "), key_style))
    b.add(Element("key.period", Rect(192, y + 2, 214, y + key_h - 2), ".", "key", Command("key", text="."), key_style))
    b.add(Element("key.enter", Rect(216, y + 2, W - 2, y + key_h - 2), "enter", "key", Command("enter"),
                  Style(fill=BLUE, color=WHITE, size=8, align="center", pad=1, shape="round")))
