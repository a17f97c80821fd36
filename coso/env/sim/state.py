"""The simulated phone's state: plain dataclasses read by the layout, the judge and the scripted expert.

``PhoneState`` is the whole phone. What the foreground shows is ``state.page`` (a frozen ``Page`` on the
foreground app's back stack) plus ``state.ui`` (focus, typed text, keyboard, open menu and scroll offsets,
reset whenever the page changes). Persistent things (installed apps, switches, alarms, per-site popups)
live directly on ``PhoneState``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LAUNCHER = "launcher"


@dataclass(frozen=True)
class Page:
    """One screen of one app: ``view`` names its layout, the other fields say what it shows.

    ``site`` is the web domain of browser pages; ``query`` the search a results page (or a page opened from
    one) belongs to; ``index`` the position of the opened entry in that results list (0 = first shown);
    ``item`` the name of the opened thing (product title, app, video, place, settings page id).
    """

    app: str
    view: str
    site: str = ""
    query: str = ""
    index: int = -1
    item: str = ""
    incognito: bool = False


@dataclass
class UiState:
    """Transient state of the shown page: text focus, keyboard, menus, scroll offsets, playback."""

    focus: str = ""  # id of the focused text field, "" when none
    text: str = ""  # the focused field's content
    selected: bool = False  # the content is selected: typing replaces it
    keyboard: bool = False  # the on-screen keyboard is shown
    menu: str = ""  # an open transient popup of the page ("chrome_menu", "alarm_picker", ...)
    scroll: dict[str, float] = field(default_factory=dict)  # offset per scroll-area key
    paused: bool = False  # a video page's player is paused

    @property
    def editing(self) -> bool:
        """True while a field has focus and holds text (search suggestions are shown instead of results)."""
        return bool(self.focus) and bool(self.text.strip())


@dataclass
class Alarm:
    """An alarm of the Clock app (24-hour time)."""

    hour: int
    minute: int
    enabled: bool = True


@dataclass
class AlarmPicker:
    """The time picker dialog of the Clock app: 12-hour hour, minute, and AM/PM."""

    hour: int = 7
    minute: int = 0
    pm: bool = False

    @property
    def hour24(self) -> int:
        """The selected hour on a 24-hour clock."""
        return self.hour % 12 + (12 if self.pm else 0)


@dataclass(frozen=True)
class Notice:
    """A notification in the shade."""

    app: str
    title: str
    text: str


@dataclass(frozen=True)
class Layout:
    """The per-episode layout variation drawn at reset from the seed and the difficulty."""

    home_apps: tuple[str, ...]  # icons on the home screen, in grid order
    dock_apps: tuple[str, ...]  # the four icons of the dock row
    drawer_order: str  # "alphabetical" or "shuffled"
    drawer_salt: int  # orders the drawer when shuffled
    widget_top: bool  # the Google search widget sits above (True) or below the icons
    chrome_start: Page  # what Chrome shows when it is launched
    clock_tab: str  # the Clock tab shown at launch
    site_banner: dict[str, float]  # promotional banner height (dp) on each shopping site's home page
    scroll_start: float  # fraction of a long settings list scrolled at page entry


@dataclass
class PhoneState:
    """Everything the simulated phone knows; the judge and the scripted expert read it, never write it."""

    seed: int
    width: int  # screenshot pixels
    height: int
    height_dp: float  # screen height in design units (the width is always ``DESIGN_WIDTH``)
    variation: float  # layout-variation strength in [0, 1] (from the difficulty)
    layout: Layout
    stacks: dict[str, list[Page]]  # back stack per app; the launcher's is [home] or [home, drawer]
    foreground: str = LAUNCHER
    ui: UiState = field(default_factory=UiState)
    shade_open: bool = False
    notices: list[Notice] = field(default_factory=list)
    installed: list[str] = field(default_factory=list)
    toggles: dict[str, bool] = field(default_factory=dict)  # switch key -> on ("wifi", "notifications:maps")
    alarms: list[Alarm] = field(default_factory=list)
    picker: AlarmPicker = field(default_factory=AlarmPicker)
    site_popups: dict[str, list[str]] = field(default_factory=dict)  # open popups per site (bottom first)
    app_popups: dict[str, list[str]] = field(default_factory=dict)  # first-launch popups per app
    chrome_tabs: int = 1
    cart: dict[str, int] = field(default_factory=dict)
    initial_toggles: dict[str, bool] = field(default_factory=dict)  # the switches at reset (for "toggle" goals)
    initial_alarms: tuple[tuple[int, int, bool], ...] = ()  # (hour, minute, enabled) of the alarms at reset
    version: int = 0  # bumped after every device call that may change the screen
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # derived data keyed by version

    @property
    def page(self) -> Page:
        """The foreground page."""
        return self.stacks[self.foreground][-1]

    @property
    def app(self) -> str:
        """The foreground app ("launcher" on the home screen and in the app drawer)."""
        return self.foreground

    def toggle(self, key: str) -> bool:
        """The current value of a switch (unknown switches read as off)."""
        return self.toggles.get(key, False)
