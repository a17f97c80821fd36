"""The Clock app: Alarm, Clock, Timer, Stopwatch and Bedtime tabs; alarms are added with a time picker."""

from __future__ import annotations

from collections.abc import Callable

from coso.env.sim.registry import command, popup, root, view
from coso.env.sim.state import Alarm, AlarmPicker, Page, PhoneState
from coso.env.sim.text import stable_rng
from coso.env.sim.ui import ABSORB, BLUE, GREY, LINE, WHITE, Command, Element, Rect, ScreenBuilder, Style
from coso.env.sim.widgets import STATUS_H, W, button, content_bottom, icon

TAB_BAR_H = 40.0
PICKER_MINUTES = tuple(range(0, 60, 5))


@root("clock")
def _clock_root(state: PhoneState) -> Page:
    return Page("clock", "clock", item=state.layout.clock_tab)


def format_time(hour24: int, minute: int) -> str:
    """``7:05 AM`` style time."""
    hour = hour24 % 12 or 12
    return f"{hour}:{minute:02d} {'PM' if hour24 >= 12 else 'AM'}"


def _tab_bar(b: ScreenBuilder, state: PhoneState) -> None:
    bottom = content_bottom(state)
    top = bottom - TAB_BAR_H
    b.add(Element("clock.tabs", Rect(0, top, W, bottom), "", "panel", ABSORB, Style(fill=(240, 243, 250))))
    width = W / len(CLOCK_TAB_BUILDERS)
    for index, tab in enumerate(CLOCK_TAB_BUILDERS):
        selected = state.page.item == tab
        b.add(Element(f"clock.tab.{tab}", Rect(index * width, top, (index + 1) * width, bottom), tab.capitalize(), "tab",
                      Command("replace", page=Page("clock", "clock", item=tab)),
                      Style(fill=(211, 227, 253) if selected else None, color=(20, 20, 20) if selected else GREY, size=8,
                            align="center", pad=0, shape="round")))


def _alarm_tab(state: PhoneState, b: ScreenBuilder, top: float, bottom: float) -> None:
    col = b.column("list", Rect(0, top, W, bottom))
    for index, alarm in sorted(enumerate(state.alarms), key=lambda item: (item[1].hour, item[1].minute)):
        rect = col.row(58)
        col.add(Element(f"alarm.{index}", Rect(8, rect.y0 + 3, W - 8, rect.y1 - 3), "", "row", ABSORB,
                        Style(fill=(240, 243, 250), shape="round")))
        col.add(Element(f"alarm.{index}.time", Rect(12, rect.y0 + 6, W - 70, rect.y0 + 36),
                        format_time(alarm.hour, alarm.minute), "text",
                        style=Style(size=16, color=(20, 20, 20) if alarm.enabled else GREY)))
        col.add(Element(f"alarm.{index}.days", Rect(12, rect.y0 + 36, W - 70, rect.y1 - 6),
                        "Every day" if index % 2 else "Not scheduled", "text", style=Style(size=8, color=GREY)))
        col.add(Element(f"alarm.{index}.switch", Rect(W - 56, rect.y0 + 20, W - 20, rect.y0 + 38),
                        "switch_on" if alarm.enabled else "switch_off", "glyph", Command("alarm_switch", index=index),
                        Style(color=BLUE), checked=alarm.enabled))
    col.gap(60)
    col.close()
    icon(b, "alarm.add", Rect(W / 2 - 24, bottom - 56, W / 2 + 24, bottom - 8), "plus", (20, 20, 20),
         Command("alarm_add"), fill=(168, 199, 250), shape="round")


def _clock_tab(state: PhoneState, b: ScreenBuilder, top: float, bottom: float) -> None:
    rng = stable_rng("clock", state.seed)
    b.add(Element("clock.now", Rect(0, top + 20, W, top + 70), f"{8 + state.seed % 4}:{state.seed % 60:02d}", "text",
                  style=Style(size=30, align="center")))
    for index, city in enumerate(rng.sample(("London", "Tokyo", "New York", "Paris", "Sydney", "Berlin"), 3)):
        b.add(Element(f"clock.city.{index}", Rect(16, top + 90 + 30 * index, W - 16, top + 118 + 30 * index), city,
                      "text", style=Style(size=11)))


def _display_tab(element_id: str, display: str, size: int, label: str) -> TabBuilder:
    def build(state: PhoneState, b: ScreenBuilder, top: float, bottom: float) -> None:
        b.add(Element(f"{element_id}.display", Rect(0, top + 20, W, top + 70), display, "text",
                      style=Style(size=size, align="center")))
        button(b, f"{element_id}.start", Rect(W / 2 - 50, top + 90, W / 2 + 50, top + 120), label, ABSORB)

    return build


TabBuilder = Callable[[PhoneState, ScreenBuilder, float, float], None]
CLOCK_TAB_BUILDERS: dict[str, TabBuilder] = {
    "alarm": _alarm_tab,
    "clock": _clock_tab,
    "timer": _display_tab("timer", "00h 00m 00s", 24, "Start"),
    "stopwatch": _display_tab("stopwatch", "00:00.00", 28, "Start"),
    "bedtime": _display_tab("bedtime", "Set a regular bedtime", 12, "Get started"),
}


@view("clock")
def _clock(state: PhoneState, b: ScreenBuilder) -> None:
    tab = state.page.item
    b.box("page.background", Rect(0, 0, W, state.height_dp), WHITE)
    b.add(Element("clock.title", Rect(0, STATUS_H, W, STATUS_H + 36), tab.capitalize(), "text",
                  style=Style(size=14, pad=12)))
    CLOCK_TAB_BUILDERS[tab](state, b, STATUS_H + 40, content_bottom(state) - TAB_BAR_H)
    _tab_bar(b, state)


@command("alarm_switch")
def _alarm_switch(state: PhoneState, tap: Command) -> None:
    alarm = state.alarms[tap.index]
    alarm.enabled = not alarm.enabled


@command("alarm_add")
def _alarm_add(state: PhoneState, tap: Command) -> None:
    rng = stable_rng("picker", state.seed, len(state.alarms))
    state.picker = AlarmPicker(rng.randint(1, 12), rng.choice(PICKER_MINUTES), rng.random() < 0.5)
    state.ui.menu = "alarm_picker"


@command("picker_hour")
def _picker_hour(state: PhoneState, tap: Command) -> None:
    state.picker.hour = tap.index


@command("picker_minute")
def _picker_minute(state: PhoneState, tap: Command) -> None:
    state.picker.minute = tap.index % 60


@command("picker_ampm")
def _picker_ampm(state: PhoneState, tap: Command) -> None:
    state.picker.pm = tap.index == 1


@command("picker_ok")
def _picker_ok(state: PhoneState, tap: Command) -> None:
    state.alarms.append(Alarm(state.picker.hour24, state.picker.minute, True))
    state.ui.menu = ""


@popup("alarm_picker")
def _alarm_picker(state: PhoneState, b: ScreenBuilder) -> None:
    picker = state.picker
    b.add(Element("picker.scrim", Rect(0, STATUS_H, W, content_bottom(state)), "", "panel", ABSORB,
                  Style(fill=(120, 120, 126))))
    top = STATUS_H + 30
    card = Rect(12, top, W - 12, top + 356)
    b.add(Element("picker", card, "", "popup", ABSORB, Style(fill=WHITE, shape="round")))
    b.add(Element("picker.title", Rect(card.x0 + 8, top + 4, card.x1, top + 20), "Select time", "text",
                  style=Style(size=9, color=GREY)))
    b.add(Element("picker.time", Rect(card.x0 + 8, top + 20, card.x1 - 8, top + 52),
                  format_time(picker.hour24, picker.minute), "text", style=Style(size=20, align="center")))
    cell_w = (card.width - 16) / 4
    y = top + 56
    b.add(Element("picker.hours.label", Rect(card.x0 + 8, y, card.x1, y + 14), "Hour", "text", style=Style(size=8, color=GREY)))
    y += 14
    for index, hour in enumerate(range(1, 13)):
        r, c = divmod(index, 4)
        x0 = card.x0 + 8 + c * cell_w
        selected = picker.hour == hour
        b.add(Element(f"picker.hour.{hour}", Rect(x0 + 2, y + r * 28 + 2, x0 + cell_w - 2, y + r * 28 + 26), str(hour),
                      "button", Command("picker_hour", index=hour),
                      Style(fill=BLUE if selected else (240, 243, 250), color=WHITE if selected else (20, 20, 20), size=10,
                            align="center", shape="round", pad=0)))
    y += 3 * 28 + 4
    b.add(Element("picker.minutes.label", Rect(card.x0 + 8, y, card.x1, y + 14), "Minute", "text",
                  style=Style(size=8, color=GREY)))
    y += 14
    for index, minute in enumerate(PICKER_MINUTES):
        r, c = divmod(index, 4)
        x0 = card.x0 + 8 + c * cell_w
        selected = picker.minute == minute
        b.add(Element(f"picker.minute.{minute}", Rect(x0 + 2, y + r * 28 + 2, x0 + cell_w - 2, y + r * 28 + 26),
                      f":{minute:02d}", "button", Command("picker_minute", index=minute),
                      Style(fill=BLUE if selected else (240, 243, 250), color=WHITE if selected else (20, 20, 20), size=10,
                            align="center", shape="round", pad=0)))
    y += 3 * 28 + 4
    half = (card.width - 16) / 4
    controls = (("minus", "-1 min", Command("picker_minute", index=(picker.minute - 1) % 60)),
                ("plus", "+1 min", Command("picker_minute", index=(picker.minute + 1) % 60)),
                ("am", "AM", Command("picker_ampm", index=0)), ("pm", "PM", Command("picker_ampm", index=1)))
    for index, (suffix, label, tap) in enumerate(controls):
        x0 = card.x0 + 8 + index * half
        selected = (suffix == "pm" and picker.pm) or (suffix == "am" and not picker.pm)
        b.add(Element(f"picker.{suffix}", Rect(x0 + 2, y + 2, x0 + half - 2, y + 28), label, "button", tap,
                      Style(fill=BLUE if selected else (240, 243, 250), color=WHITE if selected else (20, 20, 20), size=9,
                            align="center", shape="round", pad=0)))
    y += 34
    b.add(Element("picker.line", Rect(card.x0, y, card.x1, y + 1), "", "panel", style=Style(fill=LINE)))
    button(b, "picker.cancel", Rect(card.x1 - 150, y + 6, card.x1 - 80, y + 32), "Cancel",
           Command("dismiss", "alarm_picker"), fill=WHITE, color=BLUE)
    button(b, "picker.ok", Rect(card.x1 - 74, y + 6, card.x1 - 8, y + 32), "OK", Command("picker_ok"))

