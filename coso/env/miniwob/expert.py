"""The scripted MiniWoB++ expert: it reads the page's DOM (``PageState``: elements with their positions, the
utterance) and answers ``click(x, y)`` at the centre of the element the task asks for.

Each task has a planner (``PLANNERS``) that looks only at the current page, so the expert keeps no memory
between steps: progress shows in the DOM (a ticked box, an expanded section, the active tab, a clicked
button's ``tampered`` flag). A planner returns None when the page shows nothing it can act on; the expert then
clicks the page's Submit button if there is one, else the screen's centre (which opens click-pie's wheel).
Measured in docs/domains.md: it fails where the target is drawn (click-shape), shown only as an icon in the
query (click-menu-2's icon variant), a synonym (click-checkboxes-soft) or a multi-selection in a scrolled list
(click-scroll-list), and often where it clicks while a section slides open (click-collapsible, -2) or a
submenu needs the mouse to hover (click-menu).
Noise (``noise``, a probability per step) replaces the expert's action by a click at a random point.
"""

from __future__ import annotations

import colorsys
import random
import re
from collections.abc import Callable, Iterable, Sequence

from coso.env.base import Observation
from coso.env.miniwob.env import Element, PageState
from coso.env.miniwob.grammar import SCREEN_HEIGHT, SCREEN_WIDTH, format_click
from coso.env.tasks import Task
from coso.errors import ConfigError
from coso.registry import Registry

Planner = Callable[[PageState], str | None]
PLANNERS: Registry[str, Planner] = Registry("MiniWoB++ expert", ConfigError)

# CSS colour names click-color draws its boxes in, as 0-255 RGB
CSS_COLORS = {
    "red": (255, 0, 0), "blue": (0, 0, 255), "olive": (128, 128, 0), "lime": (0, 255, 0), "black": (0, 0, 0),
    "white": (255, 255, 255), "grey": (128, 128, 128), "gray": (128, 128, 128), "purple": (128, 0, 128),
    "orange": (255, 165, 0), "yellow": (255, 255, 0), "cyan": (0, 255, 255), "pink": (255, 192, 203),
    "magenta": (255, 0, 255),
}
SHADE_HUES = {"red": 0.0, "green": 120.0, "blue": 240.0}  # click-shades draws hsl(hue, s, l) shades of these


def _inside(x: float, y: float, element: Element) -> bool:
    return element.left <= x <= element.left + element.width and element.top <= y <= element.top + element.height


def click(element: Element, covering: Sequence[Element] = ()) -> str:
    """A click at the element's centre, or, where other elements (``covering``) overlap it, at the first point of
    a 5 x 5 grid over it that none of them covers; kept on the screen."""
    x, y = element.center
    grid = [(element.left + element.width * (i + 0.5) / 5, element.top + element.height * (j + 0.5) / 5)
            for j in range(5) for i in range(5)]
    x, y = next((point for point in [(x, y)] + grid if not any(_inside(*point, other) for other in covering
                                                                if other.ref != element.ref)), (x, y))
    return format_click(min(max(x, 0), SCREEN_WIDTH - 1), min(max(y, 0), SCREEN_HEIGHT - 1))


def _buttons(state: PageState) -> list[Element]:
    return on_screen(e for e in state.elements if e.tag == "button")


def quoted(utterance: str) -> str:
    """The first double-quoted text of an utterance ("" when none)."""
    found = re.search(r'"(.*?)"', utterance)
    return found.group(1) if found else ""


def on_screen(elements: Iterable[Element]) -> list[Element]:
    """The elements whose centre lies on the screen."""
    return [e for e in elements if 0 <= e.center[0] < SCREEN_WIDTH and 0 <= e.center[1] < SCREEN_HEIGHT]


def with_text(state: PageState, text: str, tags: Sequence[str] = ()) -> list[Element]:
    """On-screen elements whose text is ``text`` (stripped), of the given tags (any when empty)."""
    return on_screen(e for e in state.elements
                     if e.text.strip() == text.strip() and (not tags or e.tag in tags))


def submit_button(state: PageState) -> Element | None:
    """The page's Submit button, if any."""
    return next(iter(on_screen(e for e in state.elements
                               if e.tag == "button" and e.text.strip().lower() == "submit")), None)


def labelled_input(state: PageState, label: str, tag: str) -> Element | None:
    """The input (``input_checkbox`` / ``input_radio``) of the label whose text is ``label``."""
    by_ref = {e.ref: e for e in state.elements}
    for text in state.elements:
        if text.text.strip() != label or text.tag == tag:
            continue
        siblings = [e for e in state.elements if e.parent == text.parent and e.tag == tag]
        parent = by_ref.get(text.parent)
        if siblings and parent is not None and parent.tag == "label":
            return siblings[0]
    return None


def _checked(element: Element) -> bool:
    return element.value.lower() == "true"


def _select_and_submit(state: PageState, wanted: Sequence[str], tag: str) -> str | None:
    """Tick the wanted boxes (untick others), then Submit."""
    wanted_inputs = [labelled_input(state, name, tag) for name in wanted]
    for box in wanted_inputs:
        if box is not None and not _checked(box):
            return click(box)
    chosen = {box.ref for box in wanted_inputs if box is not None}
    for box in state.elements:
        if box.tag == tag and _checked(box) and box.ref not in chosen:
            return click(box)
    button = submit_button(state)
    return click(button) if button else None


@PLANNERS.register("click-checkboxes")
@PLANNERS.register("click-checkboxes-large")
@PLANNERS.register("click-checkboxes-transfer")
def _checkboxes(state: PageState) -> str | None:
    found = re.match(r"Select (.*) and click Submit\.", state.utterance)
    names = [] if not found or found.group(1) == "nothing" else [n.strip() for n in found.group(1).split(",")]
    return _select_and_submit(state, names, "input_checkbox")


@PLANNERS.register("click-option")
def _option(state: PageState) -> str | None:
    found = re.match(r"Select (.*) and click Submit\.", state.utterance)
    return _select_and_submit(state, [found.group(1).strip()] if found else [], "input_radio")


def _first(elements: Sequence[Element]) -> str | None:
    return click(elements[0]) if elements else None


@PLANNERS.register("click-test")
def _click_test(state: PageState) -> str | None:
    return _first(on_screen(e for e in state.elements if e.tag == "button"))


def _uncovered_button(state: PageState, text: str) -> str | None:
    """A click on the button labelled ``text`` where the other buttons (placed at random) do not cover it."""
    buttons = with_text(state, text, ("button",))
    return click(buttons[0], _buttons(state)) if buttons else None


@PLANNERS.register("click-test-2")
def _click_test_2(state: PageState) -> str | None:
    return _uncovered_button(state, "ONE")


@PLANNERS.register("click-test-transfer")
def _click_test_transfer(state: PageState) -> str | None:
    found = re.search(r"Click button (\w+)", state.utterance)
    return _uncovered_button(state, found.group(1)) if found else None


@PLANNERS.register("click-button")
def _click_button(state: PageState) -> str | None:
    return _first(with_text(state, quoted(state.utterance), ("button",)))


@PLANNERS.register("click-button-sequence")
def _button_sequence(state: PageState) -> str | None:
    one = with_text(state, "ONE", ("button",))
    if one and not one[0].tampered:
        return _uncovered_button(state, "ONE")
    return _uncovered_button(state, "TWO")


@PLANNERS.register("click-link")
def _click_link(state: PageState) -> str | None:
    target = quoted(state.utterance)
    return _first([e for e in with_text(state, target) if "alink" in e.classes] or with_text(state, target))


@PLANNERS.register("click-dialog")
def _click_dialog(state: PageState) -> str | None:
    return _first(on_screen(e for e in state.elements if "titlebar-close" in e.classes))


@PLANNERS.register("click-dialog-2")
def _click_dialog_2(state: PageState) -> str | None:
    target = quoted(state.utterance)
    if target == "x":
        return _click_dialog(state)
    return _first(with_text(state, target, ("button",)) or with_text(state, target))


@PLANNERS.register("click-widget")
def _click_widget(state: PageState) -> str | None:
    tags = {"radio": "input_radio", "checkbox": "input_checkbox", "text": "input_text", "textarea": "textarea",
            "button": "button"}
    tag = tags.get(quoted(state.utterance), "")
    return _first(on_screen(e for e in state.elements if e.tag == tag))


@PLANNERS.register("click-tab")
def _click_tab(state: PageState) -> str | None:
    found = re.search(r"Tab #(\d+)", state.utterance)
    return _first(with_text(state, f"Tab #{found.group(1)}", ("a",))) if found else None


def _cycle(headers: Sequence[Element], active: Callable[[Element], bool]) -> str | None:
    """Click the header after the active one (the first when none is active): visits every section in turn."""
    if not headers:
        return None
    current = next((index for index, header in enumerate(headers) if active(header)), -1)
    return click(headers[(current + 1) % len(headers)])


@PLANNERS.register("click-collapsible")
def _collapsible(state: PageState) -> str | None:
    headers = on_screen(e for e in state.elements if "ui-accordion-header" in e.classes)
    if headers and not any("ui-accordion-header-active" in h.classes for h in headers):
        return click(headers[0])
    button = submit_button(state)
    return click(button) if button else None


@PLANNERS.register("click-collapsible-2")
def _collapsible_2(state: PageState) -> str | None:
    links = [e for e in with_text(state, quoted(state.utterance)) if "alink" in e.classes]
    if links:
        return click(links[0])
    headers = on_screen(e for e in state.elements if "ui-accordion-header" in e.classes)
    return _cycle(headers, lambda h: "ui-accordion-header-active" in h.classes)


@PLANNERS.register("click-tab-2")
@PLANNERS.register("click-tab-2-easy")
@PLANNERS.register("click-tab-2-medium")
@PLANNERS.register("click-tab-2-hard")
def _tab_2(state: PageState) -> str | None:
    links = [e for e in with_text(state, quoted(state.utterance)) if "alink" in e.classes]
    if links:
        return click(links[0])
    by_ref = {e.ref: e for e in state.elements}
    tabs = on_screen(e for e in state.elements if e.tag == "a" and e.parent in by_ref and by_ref[e.parent].tag == "li")
    return _cycle(tabs, lambda tab: "ui-tabs-active" in by_ref[tab.parent].classes
                  or "ui-state-active" in by_ref[tab.parent].classes)


@PLANNERS.register("click-color")
def _click_color(state: PageState) -> str | None:
    found = re.search(r"Click on the (\w+) colored box", state.utterance)
    wanted = CSS_COLORS.get(found.group(1).lower()) if found else None
    if wanted is None:
        return None
    boxes = on_screen(e for e in state.elements if "color" in e.classes.split())
    for box in boxes:
        if tuple(round(channel * 255) for channel in box.bg_color[:3]) == wanted:
            return click(box)
    return None


def _hue(element: Element) -> float:
    red, green, blue = element.bg_color[:3]
    return colorsys.rgb_to_hls(red, green, blue)[0] * 360.0


@PLANNERS.register("click-shades")
def _click_shades(state: PageState) -> str | None:
    found = re.search(r"shades of (\w+)", state.utterance)
    if not found or found.group(1) not in SHADE_HUES:
        return None
    hue = SHADE_HUES[found.group(1)]
    for shade in on_screen(e for e in state.elements if e.tag == "span" and e.bg_color[3] > 0):
        distance = min(abs(_hue(shade) - hue), 360.0 - abs(_hue(shade) - hue))
        if (distance < 60.0) != ("selected" in shade.classes.split()):
            return click(shade)
    button = submit_button(state)
    return click(button) if button else None


@PLANNERS.register("click-menu")
def _click_menu(state: PageState) -> str | None:
    found = re.match(r"Select (.*)", state.utterance)
    if not found:
        return None
    path = [part.strip() for part in found.group(1).split(">")]
    # the deepest item of the path that is on the screen: clicking it opens its submenu or selects the leaf
    for name in reversed(path):
        items = with_text(state, name)
        if items:
            return click(items[0])
    return None


@PLANNERS.register("click-menu-2")
def _click_menu_2(state: PageState) -> str | None:
    target = re.search(r'labeled "(.*?)"', state.utterance)
    if target is not None:
        items = [e for e in with_text(state, target.group(1))]
        if items:
            return click(items[0])
    opener = on_screen(e for e in state.elements if e.id == "open-menu")
    menu_open = any("ui-menu-item" in e.classes for e in on_screen(state.elements))
    if opener and not menu_open:
        return click(opener[0])
    return None


@PLANNERS.register("click-pie")
def _click_pie(state: PageState) -> str | None:
    target = quoted(state.utterance)
    return _first(with_text(state, target))


@PLANNERS.register("click-scroll-list")
@PLANNERS.register("click-checkboxes-soft")
@PLANNERS.register("click-shape")
def _no_plan(state: PageState) -> str | None:
    """Tasks the expert has no planner for: the fallback (Submit, else the screen's centre)."""
    return None


class MiniWoBExpert:
    """The scripted expert of one MiniWoB++ task, optionally noisy; an Agent (``act``) over MiniWoB++ pages."""

    def __init__(self, task: str, noise: float = 0.0, seed: int = 0) -> None:
        if not 0.0 <= float(noise) <= 1.0:
            raise ConfigError(f"demonstrator noise level {noise!r} must be a number in [0, 1] (0 = a perfect expert)")
        self.plan = PLANNERS.get(task, "(coso.env.miniwob.expert)")
        self.noise = float(noise)
        self.rng = random.Random(seed)

    def act(self, observations: Sequence[Observation], tasks: Sequence[Task]) -> list[str]:
        """One action text per observation, planned from the page the environment exposes."""
        return [self.act_one(observation) for observation in observations]

    def act_one(self, observation: Observation) -> str:
        """The expert's action (a random click with probability ``noise``)."""
        state = observation.state
        if not isinstance(state, PageState):
            raise ConfigError("the MiniWoB++ expert needs the page's DOM (Observation.state); "
                              "it runs only on coso's MiniWoB++ environments")
        if self.noise and self.rng.random() < self.noise:
            return format_click(self.rng.randrange(SCREEN_WIDTH), self.rng.randrange(SCREEN_HEIGHT))
        return self.choose(state)

    def choose(self, state: PageState) -> str:
        """The planner's action, else Submit, else a click at the screen's centre."""
        action = self.plan(state)
        if action is not None:
            return action
        button = submit_button(state)
        return click(button) if button else format_click(SCREEN_WIDTH / 2, SCREEN_HEIGHT / 2)
