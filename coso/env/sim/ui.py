"""The element tree of a screen: what is drawn is exactly what is hit-tested.

Screens are laid out in design units (dp) on a canvas ``DESIGN_WIDTH`` dp wide; the renderer scales them to
the configured pixel size. An ``Element`` carries a ``Command`` (a small record dispatched through the
command registry of ``coso.env.sim.commands``) instead of a callback, so trees are plain, comparable data.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from coso.env.sim.state import Page

DESIGN_WIDTH = 270.0

Color = tuple[int, int, int]
WHITE: Color = (255, 255, 255)
BLACK: Color = (20, 20, 20)
GREY: Color = (110, 110, 110)
LIGHT: Color = (236, 238, 241)
LINE: Color = (214, 216, 220)
BLUE: Color = (26, 115, 232)
DARK: Color = (32, 33, 36)
SCRIM: Color = (95, 95, 100)


@dataclass(frozen=True)
class Rect:
    """An axis-aligned box in design units: ``x0 <= x < x1``, ``y0 <= y < y1``."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        """Horizontal extent."""
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        """Vertical extent."""
        return self.y1 - self.y0

    @property
    def center(self) -> tuple[float, float]:
        """Middle point ``(x, y)``."""
        return ((self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2)

    def contains(self, x: float, y: float) -> bool:
        """True when the point lies inside the box."""
        return self.x0 <= x < self.x1 and self.y0 <= y < self.y1

    def shifted(self, dy: float) -> Rect:
        """The box moved down by ``dy``."""
        return Rect(self.x0, self.y0 + dy, self.x1, self.y1 + dy)

    def intersect(self, other: Rect) -> Rect | None:
        """The overlap of two boxes, or None when they do not overlap."""
        x0, y0 = max(self.x0, other.x0), max(self.y0, other.y0)
        x1, y1 = min(self.x1, other.x1), min(self.y1, other.y1)
        return Rect(x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


@dataclass(frozen=True)
class Command:
    """What a tap on an element does: a named handler with its arguments (see ``coso.env.sim.commands``)."""

    name: str
    arg: str = ""
    index: int = -1
    page: Page | None = None
    text: str = ""


NO_COMMAND = Command("none")  # inert: a tap passes through to what lies below
ABSORB = Command("absorb")  # swallows a tap and does nothing (modal scrims, keyboard background)


@dataclass(frozen=True)
class Style:
    """How an element is drawn."""

    fill: Color | None = None
    outline: Color | None = None
    color: Color = BLACK  # text colour
    size: int = 10  # font size in dp
    align: str = "left"  # "left", "center" or "right"
    shape: str = "rect"  # "rect", "round" or "ellipse"
    pad: float = 6.0  # horizontal text inset in dp


PLAIN = Style()


@dataclass(frozen=True)
class Element:
    """One box on screen: a stable ``id``, its ``rect``, its text, how it looks and what a tap does."""

    id: str
    rect: Rect
    text: str = ""
    role: str = "text"  # text, button, field, switch, icon, row, link, key, tab, panel, image, popup
    command: Command = NO_COMMAND
    style: Style = PLAIN
    checked: bool | None = None  # the state of a switch or tile
    full_rect: Rect | None = field(default=None, compare=False)  # unclipped box of a partly scrolled-out element
    layer: str = field(default="", compare=False)  # static group drawn once and cached (its key names its look)

    @property
    def clickable(self) -> bool:
        """True when a tap on this element stops here (it has a command, possibly ``ABSORB``)."""
        return self.command is not NO_COMMAND and self.command.name != "none"


@dataclass(frozen=True)
class ScrollArea:
    """A vertically scrollable region: its viewport, the height of its content and the current offset."""

    key: str
    viewport: Rect
    content_height: float
    offset: float
    z: int = 0  # elements at index >= z in the screen were drawn above this area (overlays)

    @property
    def max_offset(self) -> float:
        """The largest offset that still shows content at the bottom of the viewport."""
        return max(0.0, self.content_height - self.viewport.height)


@dataclass(frozen=True)
class Screen:
    """The laid-out screen: visible elements in drawing order, scroll areas, and scrolled-out elements."""

    width: float
    height: float
    elements: tuple[Element, ...]
    scroll_areas: tuple[ScrollArea, ...] = ()
    hidden: tuple[Element, ...] = ()  # content scrolled out of its viewport, with rects as if it were shown

    def hit(self, x: float, y: float) -> Element | None:
        """The element a tap at design point ``(x, y)`` lands on: the topmost clickable one containing it."""
        for element in reversed(self.elements):
            if element.clickable and element.rect.contains(x, y):
                return element
        return None

    def blocked_above(self, area: ScrollArea, x: float, y: float) -> bool:
        """True when a clickable overlay drawn after ``area`` (keyboard, popup, sheet) covers the point."""
        for index in range(len(self.elements) - 1, area.z - 1, -1):
            element = self.elements[index]
            if element.clickable and element.rect.contains(x, y):
                return True
        return False

    def hit_normalized(self, x: float, y: float) -> Element | None:
        """``hit`` for a normalised point in [0, 1]."""
        return self.hit(x * self.width, y * self.height)

    def find(self, element_id: str) -> Element | None:
        """The visible element with this id, or None."""
        for element in self.elements:
            if element.id == element_id:
                return element
        return None

    def find_anywhere(self, element_id: str) -> tuple[Element | None, bool]:
        """The element with this id and whether it is visible (False: scrolled out of its viewport)."""
        visible = self.find(element_id)
        if visible is not None:
            return visible, True
        for element in self.hidden:
            if element.id == element_id:
                return element, False
        return None, False

    def with_prefix(self, prefix: str) -> Iterator[Element]:
        """Visible elements whose id starts with ``prefix``."""
        return (element for element in self.elements if element.id.startswith(prefix))

    def scroll_area_at(self, x: float, y: float) -> ScrollArea | None:
        """The scroll area whose viewport holds design point ``(x, y)``."""
        for area in reversed(self.scroll_areas):
            if area.viewport.contains(x, y):
                return area
        return None

    def scroll_area(self, key: str) -> ScrollArea | None:
        """The scroll area named ``key``."""
        for area in self.scroll_areas:
            if area.key == key:
                return area
        return None

    def normalized_center(self, element: Element) -> tuple[float, float]:
        """The centre of an element's visible box as a normalised ``(x, y)`` tap point."""
        x, y = element.rect.center
        return (x / self.width, y / self.height)


class ScrollColumn:
    """Stacks content rows in a scroll viewport, clipping them and recording what falls outside."""

    def __init__(self, builder: ScreenBuilder, key: str, viewport: Rect, offset: float) -> None:
        self.builder = builder
        self.key = key
        self.viewport = viewport
        self.offset = offset
        self.cursor = 0.0  # content height placed so far

    def row(self, height: float) -> Rect:
        """Reserve the next ``height`` dp of content; returns its full-width box in screen coordinates."""
        top = self.viewport.y0 + self.cursor - self.offset
        self.cursor += height
        return Rect(self.viewport.x0, top, self.viewport.x1, top + height)

    def gap(self, height: float) -> None:
        """Leave empty space."""
        self.cursor += height

    def add(self, element: Element) -> None:
        """Add an element laid out in this column, clipped to the viewport."""
        visible = element.rect.intersect(self.viewport)
        if visible is None:
            self.builder.hidden.append(element)
        elif visible == element.rect:
            self.builder.elements.append(element)
        elif visible.height < 0.5 * element.rect.height:  # mostly scrolled out: drawn, but not tappable
            self.builder.elements.append(replace(element, rect=visible, command=NO_COMMAND, full_rect=element.rect))
            self.builder.hidden.append(element)
        else:
            self.builder.elements.append(replace(element, rect=visible, full_rect=element.rect))

    def extend(self, elements: Iterable[Element]) -> None:
        """Add several elements."""
        for element in elements:
            self.add(element)

    def close(self) -> ScrollArea:
        """Register the column as a scroll area (clamping the offset to the content)."""
        area = ScrollArea(self.key, self.viewport, self.cursor, self.offset, len(self.builder.elements))
        self.builder.scroll_areas.append(area)
        return area


class ScreenBuilder:
    """Collects elements in drawing order while a screen is laid out."""

    def __init__(self, height: float, offsets: dict[str, float] | None = None) -> None:
        self.width = DESIGN_WIDTH
        self.height = height
        self.offsets = offsets or {}
        self.elements: list[Element] = []
        self.hidden: list[Element] = []
        self.scroll_areas: list[ScrollArea] = []

    def add(self, element: Element) -> Element:
        """Append an element (drawn above everything added before)."""
        self.elements.append(element)
        return element

    def box(self, element_id: str, rect: Rect, fill: Color, command: Command = NO_COMMAND, **style: object) -> Element:
        """A filled panel."""
        return self.add(Element(element_id, rect, "", "panel", command, Style(fill=fill, **style)))  # type: ignore[arg-type]

    def column(self, key: str, viewport: Rect) -> ScrollColumn:
        """Start a scrollable column in ``viewport``, scrolled by the page's current offset for ``key``."""
        return ScrollColumn(self, key, viewport, max(0.0, self.offsets.get(key, 0.0)))

    def build(self) -> Screen:
        """Freeze the collected elements into a ``Screen``."""
        return Screen(self.width, self.height, tuple(self.elements), tuple(self.scroll_areas), tuple(self.hidden))
