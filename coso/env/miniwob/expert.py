"""The scripted MiniWoB++ expert: it reads the page's DOM (``PageState``: elements with their positions, the
utterance, SVG fills, the query's icon classes) and answers ``click(x, y)`` at the centre of the element the task
asks for (``type`` for click-menu's keyboard navigation, ``ctrl_click`` for click-scroll-list's second option).

Each task has a planner (``PLANNERS``) that looks only at the current page, so the expert keeps no memory
between steps: progress shows in the DOM (a ticked box, an expanded section, the active tab or menu item, a
selected option's background, a clicked button's ``tampered`` flag). A planner returns None when the page shows
nothing it can act on; the expert then clicks the page's Submit button if there is one, else the screen's centre
(which opens click-pie's wheel). It reads only what the page shows, never a task's answer variable.
Measured in docs/domains.md ("Expert, measured"), alone on the machine: 557/560 on the 28 tasks (seeds 100-119),
154/160 on the eight hardest (seeds 200-219); click-pie, -shape and -scroll-list are at 17-20/20, timing-sensitive.
Noise (``noise``, a probability per step) replaces the expert's action by a click at a random point.
"""

from __future__ import annotations

import colorsys
import math
import re
from collections.abc import Callable, Iterable, Sequence

from coso.env.base import NoisyExpert, Observation
from coso.env.miniwob.env import Element, PageState
from coso.env.miniwob.grammar import SCREEN_HEIGHT, SCREEN_WIDTH, format_click, format_ctrl_click, format_type
from coso.errors import ConfigError
from coso.registry import Registry

Planner = Callable[[PageState], str | None]
PLANNERS: Registry[str, Planner] = Registry("MiniWoB++ expert", ConfigError)

# CSS colour names click-color draws its boxes in, as 0-255 RGB
CSS_COLORS = {
    "red": (255, 0, 0), "blue": (0, 0, 255), "olive": (128, 128, 0), "lime": (0, 255, 0), "black": (0, 0, 0),
    "white": (255, 255, 255), "grey": (128, 128, 128), "gray": (128, 128, 128), "purple": (128, 0, 128),
    "orange": (255, 165, 0), "yellow": (255, 255, 0), "cyan": (0, 255, 255), "pink": (255, 192, 203),
    "magenta": (255, 0, 255), "green": (0, 128, 0), "aqua": (0, 255, 255),
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


def _ancestors(element: Element, by_ref: dict[int, Element]) -> list[Element]:
    """The element's ancestors, nearest first."""
    found: list[Element] = []
    while element.parent in by_ref and len(found) < 64:
        element = by_ref[element.parent]
        found.append(element)
    return found


def _own_text(element: Element, state: PageState) -> str:
    """The element's text, or the text of its text pieces (``t`` children) when it also holds other elements."""
    if element.text.strip():
        return element.text.strip()
    return " ".join(e.text.strip() for e in state.elements if e.parent == element.ref and e.tag == "t").strip()


def _menu_items(state: PageState) -> list[tuple[Element, Element, str]]:
    """The on-screen items of a jQuery UI menu: (the ``li``, its label ``div``, the label's text)."""
    items = []
    for wrapper in on_screen(e for e in state.elements if "ui-menu-item-wrapper" in e.classes.split()):
        item = next((e for e in state.elements if e.ref == wrapper.parent), None)
        if item is not None:
            items.append((item, wrapper, _own_text(wrapper, state)))
    return items


@PLANNERS.register("click-menu")
def _click_menu(state: PageState) -> str | None:
    """Keyboard navigation of the menu, as a mouse cannot hover with a click: a click on the menu's border focuses
    it (a click on an item with a submenu would choose that item and fail), then each step types the name of the
    next item on the path (jQuery UI's menu focuses the item whose name starts with the typed text) and a space
    on the focused item opens its submenu, or chooses it when it is the path's last."""
    found = re.match(r"Select (.*)", state.utterance)
    menu = next(iter(e for e in state.elements if e.id == "menu"), None)
    if not found or menu is None:
        return None
    path = [part.strip() for part in found.group(1).split(">")]
    if not menu.focused:
        # the menu's 1-pixel left border: inside the menu, outside every item
        return format_click(math.ceil(menu.left), menu.top + menu.height / 2)
    by_ref = {e.ref: e for e in state.elements}
    items = _menu_items(state)
    opened = 0  # how many items of the path show their submenu
    for name in path[:-1]:
        item = next((item for item, _, text in items if text == name), None)
        if item is None or not any(e.parent == item.ref and e.tag == "ul" for e in on_screen(state.elements)):
            break
        opened += 1
    target = path[opened]
    active = [(len(_ancestors(item, by_ref)), text) for item, wrapper, text in items
              if "ui-state-active" in wrapper.classes.split()]
    focused = max(active)[1] if active else ""
    return format_type(" ") if focused == target else format_type(target)


def _icon(classes: str) -> str:
    """The icon class (``ui-icon-<name>``) among an element's classes ("" when none)."""
    return next((name for name in classes.split() if name.startswith("ui-icon-")), "")


@PLANNERS.register("click-menu-2")
def _click_menu_2(state: PageState) -> str | None:
    """Open the menu, then click the item with the asked label or the query's icon; an item it cannot see is in
    the submenu, which opens when the mouse rests on its parent (a click there chooses nothing)."""
    label = re.search(r'labeled "(.*?)"', state.utterance)
    icon = next((_icon(classes) for classes in state.query_classes if _icon(classes)), "")
    items = _menu_items(state)
    for _, wrapper, text in items:
        icons = {_icon(e.classes) for e in state.elements if e.parent == wrapper.ref}
        if (label is not None and text == label.group(1)) or (label is None and icon and icon in icons):
            return click(wrapper)
    if not items:
        opener = on_screen(e for e in state.elements if e.id == "open-menu")
        return click(opener[0]) if opener else None
    parents = [wrapper for _, wrapper, _ in items
               if any("ui-menu-icon" in e.classes.split() for e in state.elements if e.parent == wrapper.ref)]
    return click(parents[0]) if parents else None


@PLANNERS.register("click-pie")
def _click_pie(state: PageState) -> str | None:
    target = quoted(state.utterance)
    return _first(with_text(state, target))


# click-shape's words for its drawn items: an SVG element's tag -> the shape's name
SHAPE_NAMES = {"rect": "rectangle", "circle": "circle", "polygon": "triangle"}
LARGE_SHAPE_PX = 15.0  # click-shape draws items 10 or 20 pixels tall: "small" and "large"


def _shape_words(element: Element) -> tuple[str, str, set[str]]:
    """What a drawn item looks like: its size word, its colour word and the names it answers to."""
    size = "large" if element.height >= LARGE_SHAPE_PX else "small"
    red, green, blue = (channel * 255 for channel in element.fill[:3])
    color = min(CSS_COLORS, key=lambda name: sum((a - b) ** 2 for a, b in zip(CSS_COLORS[name], (red, green, blue))))
    if element.tag == "text":
        text = element.text.strip()
        return size, color, {text, "digit" if text.isdigit() else "letter", "item"}
    return size, color, {SHAPE_NAMES.get(element.tag, element.tag), "shape", "item"}


@PLANNERS.register("click-shape")
def _click_shape(state: PageState) -> str | None:
    """Click the first drawn item the description fits: its size, colour and kind, each optional."""
    found = re.match(r"Click on an? (.*)", state.utterance)
    if not found:
        return None
    words = found.group(1).split()
    if not words:
        return None
    size = next((word for word in words[:-1] if word in ("large", "small")), "")
    color = next((word for word in words[:-1] if word in CSS_COLORS), "")
    drawn = on_screen(e for e in state.elements if e.tag in ("text", *SHAPE_NAMES) and e.fill[3] > 0)
    for shape in drawn:
        shape_size, shape_color, names = _shape_words(shape)
        if size in ("", shape_size) and color in ("", shape_color) and words[-1] in names:
            return click(shape)
    return None


def _options_wanted(state: PageState, names: str) -> list[Element]:
    """The options of the page's list whose text is one of the comma-separated ``names``."""
    return [e for e in state.elements if e.tag == "option"
            and re.search(rf"(^|, ){re.escape(e.text.strip())}(, |$)", names)]


@PLANNERS.register("click-scroll-list")
def _click_scroll_list(state: PageState) -> str | None:
    """Select exactly the asked options of the multiple-selection list, then Submit: a plain click on the first
    (it replaces the selection), a Control-click on each other one (it adds to it), clicks on the list's
    scrollbar to bring an option into view; a selected option shows a background colour."""
    found = re.match(r"Select (.*) from the scroll list", state.utterance)
    box = next(iter(e for e in state.elements if e.tag == "select"), None)
    if not found or box is None:
        return None
    options = [e for e in state.elements if e.tag == "option"]
    wanted = {e.ref for e in _options_wanted(state, found.group(1))}
    selected = {e.ref for e in options if e.bg_color[3] > 0}
    if selected == wanted:
        return None  # Submit
    missing = [e for e in options if e.ref in wanted and e.ref not in selected]
    extra = [e for e in options if e.ref in selected and e.ref not in wanted]
    target = missing[0] if missing else extra[0]
    if target.top < box.top:
        scroll_x = (max(e.left + e.width for e in options) + box.left + box.width) / 2
        return format_click(scroll_x, box.top + 6)
    if target.top + target.height > box.top + box.height:
        scroll_x = (max(e.left + e.width for e in options) + box.left + box.width) / 2
        return format_click(scroll_x, box.top + box.height - 6)
    x, y = target.center
    if target.ref in wanted and (not selected or selected - wanted):
        return format_click(x, y)
    return format_ctrl_click(x, y)


# Words of like meaning, one group a line: what click-checkboxes-soft's "similar to" asks a reader to know
THESAURUS = (
    "big large huge enormous gigantic giant immense vast",
    "small tiny little mini petite minute miniature",
    "red scarlet crimson vermillion vermilion ruby",
    "happy cheerful joyful gleeful delighted glad merry",
    "sad unhappy sorrowful miserable tragic gloomy depressed",
    "angry mad furious irritated irate enraged",
    "evil wicked immoral sinful corrupt depraved vile",
    "wrong incorrect mistaken erroneous inaccurate",
    "real genuine actual authentic",
    "strange odd peculiar unusual weird bizarre",
    "stop cease halt end finish quit",
    "scared terrified panicked fearful frightened afraid",
    "quiet calm peaceful serene mild tranquil",
    "old aged archaic ancient elderly",
    "love like adore favor favour cherish",
    "kill murder assassinate slay",
    "keep retain preserve sustain maintain",
    "hide conceal camouflage",
    "hate despise loathe detest dislike",
    "funny humorous amusing comical laughable hilarious",
    "fat fleshy plump chubby obese",
    "stupid dumb dull unwise foolish",
    "delicious savory savoury delectable appetizing tasty",
    "cut slice carve chop",
    "brave courageous fearless bold",
    "begin start initiate launch commence",
    "answer reply response respond",
    "television televisions tv tvs",
    "house home houses homes",
    "fire flame fires flames",
    "pig pork swine hog pigs",
    "rabbit rabbits bunny bunnies",
    "car cars automobile automobiles vehicle vehicles",
    "water",
)
_MEANINGS: dict[str, set[int]] = {}
for _index, _group in enumerate(THESAURUS):
    for _word in _group.split():
        _MEANINGS.setdefault(_word, set()).add(_index)


def similar(first: str, second: str) -> bool:
    """Whether two words mean alike (the same word, or in one group of ``THESAURUS``; case aside)."""
    a, b = first.strip().lower(), second.strip().lower()
    return a == b or bool(_MEANINGS.get(a, set()) & _MEANINGS.get(b, set()))


@PLANNERS.register("click-checkboxes-soft")
def _checkboxes_soft(state: PageState) -> str | None:
    """Tick the boxes whose word is similar to one the utterance names, then Submit."""
    found = re.match(r"Select words similar to (.*) and click Submit\.", state.utterance)
    asked = [] if not found or found.group(1) == "nothing" else [w.strip() for w in found.group(1).split(",")]
    by_ref = {e.ref: e for e in state.elements}
    labels = {_own_text(label, state) for label in state.elements if label.tag == "label"}
    labels |= {e.text.strip() for e in state.elements if e.tag == "t" and by_ref.get(e.parent, e).tag == "label"}
    wanted = [label for label in sorted(labels) if label and any(similar(label, word) for word in asked)]
    return _select_and_submit(state, wanted, "input_checkbox")


class MiniWoBExpert(NoisyExpert):
    """The scripted expert of one MiniWoB++ task, optionally noisy; an Agent (``act``) over MiniWoB++ pages."""

    def __init__(self, task: str, noise: float = 0.0, seed: int = 0) -> None:
        super().__init__(noise, seed)
        self.plan = PLANNERS.get(task, "(coso.env.miniwob.expert)")

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
