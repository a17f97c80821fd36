"""The scripted demonstrator: an expert that reads the simulator's state and writes AutoUI actions.

``ExpertPolicy`` plans each step from ``Observation.state`` (the simulated phone's ``PhoneState``) and the
task's goal with one planner per goal class (a registry), and writes the action in the AutoUI grammar with
an Action Plan preamble. It dismisses popups, scrolls to what it needs, types with the keyboard, presses
Enter, and ends with STATUS_TASK_COMPLETE. ``NoiseConfig`` makes it sub-optimal (random actions, typos,
premature completion), standing in for the AutoUI-collected trajectories DigiRL starts from. It never asks
the judge: it decides from the state alone.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from coso.actions import POINT_DECIMALS, Action, ActionType, check_point_decimals, format_action
from coso.env.base import Observation
from coso.env.sim import queries
from coso.env.sim.apps.settings import app_info_page
from coso.env.sim.apps.youtube import playing_video
from coso.env.sim.catalog import (
    SWITCH_BY_KEY,
    app_label,
    resolve_app,
    resolve_settings_page,
    resolve_switch,
    settings_path,
)
from coso.env.sim.content import store_results, youtube_results
from coso.env.sim.layout import build_screen
from coso.env.sim.nav import visible_popups
from coso.env.sim.state import LAUNCHER, PhoneState
from coso.env.sim.text import covers, normalize_domain, normalize_text, stable_rng
from coso.env.sim.ui import Element, Screen
from coso.env.tasks import (
    AlarmGoal,
    AppSettingsGoal,
    ChromeTabGoal,
    Goal,
    InstallAppGoal,
    MapsGoal,
    NotificationsGoal,
    OpenAppGoal,
    SettingsPageGoal,
    Task,
    ToggleSettingGoal,
    WebSearchGoal,
    WebShopGoal,
    YouTubeGoal,
)
from coso.errors import ConfigError, TaskParseError
from coso.registry import Registry

T = ActionType
TAP, TYPE, ENTER, BACK, HOME, DONE = T.DualPoint, T.Type, T.Enter, T.GoBack, T.GoHome, T.TaskComplete


# ----------------------------------------------------------------------------------------------------------
# Noise


def _check_probability(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ConfigError(f"NoiseConfig.{name}={value!r} must be a probability in [0, 1]")


@dataclass(frozen=True)
class NoiseConfig:
    """How sub-optimal the expert is: per step, a random action, a typo in typed text, or a premature "done"."""

    random_action_prob: float = 0.0
    typo_prob: float = 0.0
    premature_complete_prob: float = 0.0

    def __post_init__(self) -> None:
        for name in ("random_action_prob", "typo_prob", "premature_complete_prob"):
            _check_probability(name, getattr(self, name))

    @classmethod
    def from_level(cls, noise: float) -> NoiseConfig:
        """One knob in [0, 1]: random actions and typos at ``noise / 2``, premature completion at ``noise / 10``."""
        if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0.0 <= float(noise) <= 1.0:
            raise ConfigError(f"demonstrator noise level {noise!r} must be a number in [0, 1] (0 = a perfect expert)")
        return cls(random_action_prob=noise / 2, typo_prob=noise / 2, premature_complete_prob=noise / 10)

    @property
    def is_zero(self) -> bool:
        """True for the noise-free expert."""
        return self.random_action_prob == 0 and self.typo_prob == 0 and self.premature_complete_prob == 0


# ----------------------------------------------------------------------------------------------------------
# Planning toolkit


@dataclass(frozen=True)
class Step:
    """The planned action and the action types expected after it (for the Action Plan preamble)."""

    action: Action
    rest: tuple[ActionType, ...] = (DONE,)

    @property
    def plan(self) -> tuple[ActionType, ...]:
        """The Action Plan: this action's type, then the rest (ending with STATUS_TASK_COMPLETE)."""
        if self.action.ends_episode:
            return (self.action.type,)
        rest = self.rest if self.rest and self.rest[-1] == DONE else (*self.rest, DONE)
        return (self.action.type, *rest)


@dataclass
class PlanContext:
    """What a planner reads: the phone state and the element tree on screen."""

    state: PhoneState
    screen: Screen
    keep_popups: frozenset[str] = field(default_factory=frozenset)


def complete() -> Step:
    """The task is done."""
    return Step(Action(T.TaskComplete))


def impossible() -> Step:
    """The task cannot be done on this phone."""
    return Step(Action(T.TaskImpossible))


def key(action_type: ActionType, rest: Sequence[ActionType] = (DONE,)) -> Step:
    """A key press (Back, Home, Enter)."""
    return Step(Action(action_type), tuple(rest))


def tap(ctx: PlanContext, element: Element, rest: Sequence[ActionType] = (DONE,)) -> Step:
    """Tap the centre of a visible element."""
    return Step(Action.tap(*ctx.screen.normalized_center(element)), tuple(rest))


def tappable(ctx: PlanContext, element_id: str) -> Element | None:
    """The element if a tap on its centre reaches it (visible and not covered)."""
    element = ctx.screen.find(element_id)
    if element is None or not element.clickable:
        return None
    x, y = element.rect.center
    return element if ctx.screen.hit(x, y) is element else None


def scroll_toward(ctx: PlanContext, element: Element, rest: Sequence[ActionType]) -> Step | None:
    """A swipe that brings a scrolled-out element to the middle of its scroll area (None: no area holds it)."""
    box = element.full_rect or element.rect
    cx, cy = box.center
    for area in ctx.screen.scroll_areas:
        viewport = area.viewport
        if not viewport.x0 <= cx < viewport.x1:
            continue
        shift = (viewport.y0 + viewport.y1) / 2 - cy  # > 0: the content must move down (scroll back up)
        limit = 0.8 * viewport.height
        shift = max(-limit, min(limit, shift))
        if abs(shift) < 4:
            return None
        x = (viewport.x0 + viewport.x1) / 2
        start = viewport.y1 - 6 if shift < 0 else viewport.y0 + 6
        end = start + shift
        height = ctx.screen.height
        return Step(Action.swipe((x / ctx.screen.width, start / height), (x / ctx.screen.width, end / height)),
                    (TAP, *rest))
    return None


def uncover(ctx: PlanContext, rest: Sequence[ActionType]) -> Step | None:
    """Back when the keyboard or a focused field's dropdown is in the way."""
    if ctx.state.ui.keyboard or ctx.state.ui.focus:
        return key(BACK, (TAP, *rest))
    return None


def reach(ctx: PlanContext, element_id: str, rest: Sequence[ActionType] = (DONE,)) -> Step | None:
    """Tap an element, scrolling to it or uncovering it first; None when it is nowhere on this screen."""
    element = tappable(ctx, element_id)
    if element is not None:
        return tap(ctx, element, rest)
    found, _ = ctx.screen.find_anywhere(element_id)
    if found is None:
        return None
    covered = uncover(ctx, rest)
    if covered is not None:
        return covered
    return scroll_toward(ctx, found, rest)


DISMISS_BUTTONS: dict[str, tuple[str, ...]] = {
    "cookies": ("cookies.accept",),
    "signin": ("signin.no_thanks", "signin.close"),
    "chrome_sync": ("chrome_sync.no_thanks",),
    "yt_premium": ("yt_premium.no_thanks",),
    "maps_location": ("maps_location.no_thanks",),
    "alarm_picker": ("picker.cancel",),
}


def clear_obstacles(ctx: PlanContext, rest: Sequence[ActionType]) -> Step | None:
    """Close the notification shade and dismiss popups that are not part of the plan (topmost first)."""
    if ctx.state.shade_open:
        return key(BACK, rest)
    for popup in reversed(visible_popups(ctx.state)):
        if popup in ctx.keep_popups:
            continue
        for button in DISMISS_BUTTONS.get(popup, ()):
            element = tappable(ctx, button)
            if element is not None:
                return tap(ctx, element, rest)
        return key(BACK, rest)
    return None


def open_app(ctx: PlanContext, app: str, rest: Sequence[ActionType]) -> Step | None:
    """Steps towards ``app`` in the foreground: Home, then its icon on the home screen or in the drawer."""
    state = ctx.state
    if state.foreground == app:
        return None
    if state.foreground != LAUNCHER:
        return key(HOME, (TAP, *rest))
    icon = f"app.{app}"
    if state.page.view == "home":
        element = tappable(ctx, icon)
        if element is not None:
            return tap(ctx, element, rest)
        return Step(Action.swipe((0.5, 0.75), (0.5, 0.25)), (TAP, *rest))
    if state.ui.focus == "drawer.search" and state.ui.text:
        return key(BACK, (TAP, *rest))
    step = reach(ctx, icon, rest)
    if step is not None:
        return step
    return impossible()  # not installed: nothing to open


def fill_field(ctx: PlanContext, field_id: str, text: str, rest: Sequence[ActionType],
               submit: bool = True) -> Step | None:
    """Focus ``field_id``, make its text exactly ``text`` (clearing a wrong one) and press Enter."""
    ui = ctx.state.ui
    after = (ENTER, *rest) if submit else tuple(rest)
    if ui.focus == field_id:
        if normalize_text(ui.text) == normalize_text(text):
            return key(ENTER, rest) if submit else None
        if not ui.text or ui.selected:
            return Step(Action.type_text(text), after)
        if normalize_text(text).startswith(normalize_text(ui.text)) and text.lower().startswith(ui.text.lower()):
            return Step(Action.type_text(text[len(ui.text):]), after)
        clear = tappable(ctx, f"{field_id}.clear")
        if clear is not None:
            return tap(ctx, clear, (TYPE, *after))
        return key(BACK, (TAP, TYPE, *after))
    element = tappable(ctx, field_id)
    if element is not None:
        return tap(ctx, element, (TYPE, *after))
    return reach(ctx, field_id, (TYPE, *after))


# ----------------------------------------------------------------------------------------------------------
# Planners, one per goal class

G = TypeVar("G", bound=Goal)
Planner = Callable[[PlanContext, G], Step]
PLANNERS: Registry[type[Goal], Planner] = Registry("scripted-expert planner", TaskParseError)


def planner(goal_type: type[G]) -> Callable[[Planner], Planner]:
    """Register the planner of a goal class."""
    return PLANNERS.register(goal_type)


def _first(*steps: Callable[[], Step | None]) -> Step | None:
    for make in steps:
        step = make()
        if step is not None:
            return step
    return None


@planner(WebShopGoal)
def _plan_webshop(ctx: PlanContext, goal: WebShopGoal) -> Step:
    state, site = ctx.state, normalize_domain(goal.site)
    page = state.page
    select = (TAP,) if goal.select_first else ()
    search = (TAP, TYPE, ENTER, *select) if goal.query else ()
    if not goal.query and queries.on_site(state, site):
        return complete()
    if goal.query and not goal.select_first and queries.site_results_shown(state, site, goal.query):
        return complete()
    if goal.select_first and queries.first_result_shown(state, site, goal.query):
        return complete()
    step = _first(lambda: clear_obstacles(ctx, (TAP, *search)),
                  lambda: open_app(ctx, "chrome", (TAP, TYPE, ENTER, *search)))
    if step is not None:
        return step
    if not queries.on_site(state, site):
        return fill_field(ctx, "chrome.omnibox", site, search) or key(BACK, (TAP, TYPE, ENTER, *search))
    same_search = queries.same_query(page.query, goal.query)
    if goal.select_first and page.view == "site_results" and same_search and not state.ui.focus:
        return reach(ctx, "product.0") or key(BACK)
    if page.view == "site_product" and same_search and page.query:
        return key(BACK, (TAP,))
    if state.ui.focus == "chrome.omnibox":
        return key(BACK, (TAP, *search))
    return fill_field(ctx, "site.search", goal.query, select) or key(BACK, search)


@planner(WebSearchGoal)
def _plan_web_search(ctx: PlanContext, goal: WebSearchGoal) -> Step:
    state = ctx.state
    shown = queries.google_query_shown(state)
    wanted = tuple(goal.keywords) if goal.keywords else goal.query
    if shown is not None and covers(shown, wanted):
        return complete()
    step = clear_obstacles(ctx, (TAP, TYPE, ENTER))
    if step is not None:
        return step
    if state.foreground == LAUNCHER and state.page.view == "home":
        widget = tappable(ctx, "home.search")
        if widget is not None:
            return tap(ctx, widget, (TYPE, ENTER))
    step = open_app(ctx, "chrome", (TAP, TYPE, ENTER))
    if step is not None:
        return step
    field_id = "google.search" if state.ui.focus == "google.search" or (
        state.page.view in ("google_home", "google_results") and state.ui.focus != "chrome.omnibox"
    ) else "chrome.omnibox"
    return fill_field(ctx, field_id, goal.query, ()) or key(BACK, (TAP, TYPE, ENTER))


@planner(OpenAppGoal)
def _plan_open_app(ctx: PlanContext, goal: OpenAppGoal) -> Step:
    app = resolve_app(goal.app)
    if ctx.state.foreground == app and not ctx.state.shade_open:
        return complete()
    return clear_obstacles(ctx, (TAP,)) or open_app(ctx, app, ()) or complete()


@planner(InstallAppGoal)
def _plan_install(ctx: PlanContext, goal: InstallAppGoal) -> Step:
    state, app = ctx.state, resolve_app(goal.app)
    if queries.store_shows_installed(state, app):
        return complete()
    step = _first(lambda: clear_obstacles(ctx, (TAP, TYPE, ENTER, TAP, TAP)),
                  lambda: open_app(ctx, "play store", (TAP, TYPE, ENTER, TAP, TAP)))
    if step is not None:
        return step
    page = state.page
    if page.view == "store_app" and page.item == app:
        return reach(ctx, "store.app.install") or key(BACK)
    if page.view == "store_results" and not state.ui.focus:
        for index, entry in enumerate(store_results(page.query, state.seed, state.variation)):
            if entry.app == app and not entry.ad:
                return reach(ctx, f"store.result.{index}", (TAP,)) or key(BACK)
    if page.view == "store_app":
        return key(BACK, (TAP, TYPE, ENTER, TAP, TAP))
    return fill_field(ctx, "store.search", app_label(app).lower(), (TAP, TAP)) or key(BACK)


def _to_settings_page(ctx: PlanContext, page_id: str, rest: Sequence[ActionType]) -> Step | None:
    """Steps through Settings' lists to ``page_id`` (None once it is shown)."""
    step = open_app(ctx, "settings", (TAP, *rest))
    if step is not None:
        return step
    current = queries.settings_page_shown(ctx.state)
    if current == page_id:
        return None
    path = settings_path(page_id)
    if current in path:
        target = path[path.index(current) + 1]
        if ctx.state.ui.focus:
            return key(BACK, (TAP, *rest))
        return reach(ctx, f"settings.row.{target}", rest) or key(BACK, (TAP, *rest))
    return key(BACK, (TAP, *rest))


def _to_app_info(ctx: PlanContext, app: str, rest: Sequence[ActionType]) -> Step | None:
    """Steps to ``app``'s App info page through the settings search (None once it is shown)."""
    step = open_app(ctx, "settings", (TAP, TYPE, TAP, *rest))
    if step is not None:
        return step
    state = ctx.state
    if queries.app_info_shown(state, app):
        return None
    if queries.settings_page_shown(state) != "main":
        return key(BACK, (TAP, TYPE, TAP, *rest))
    target = app_info_page(app)
    if state.ui.focus == "settings.search" and state.ui.text:
        for element in ctx.screen.with_prefix("settings.result."):
            if element.command.page == target:
                return reach(ctx, element.id, rest)
    return fill_field(ctx, "settings.search", app_label(app).lower(), (TAP, *rest), submit=False) or \
        key(BACK, (TAP, TYPE, TAP, *rest))


@planner(AppSettingsGoal)
def _plan_app_settings(ctx: PlanContext, goal: AppSettingsGoal) -> Step:
    app = resolve_app(goal.app)
    if queries.app_info_shown(ctx.state, app):
        return complete()
    return clear_obstacles(ctx, (TAP, TAP, TYPE, TAP)) or _to_app_info(ctx, app, ()) or complete()


@planner(SettingsPageGoal)
def _plan_settings_page(ctx: PlanContext, goal: SettingsPageGoal) -> Step:
    page_id = resolve_settings_page(goal.page)
    if not page_id:
        raise TaskParseError(f"the expert knows no Settings page {goal.page!r} (SettingsPageGoal.page)")
    if queries.settings_page_shown(ctx.state) == page_id:
        return complete()
    return clear_obstacles(ctx, (TAP, TAP)) or _to_settings_page(ctx, page_id, ()) or complete()


@planner(ToggleSettingGoal)
def _plan_toggle(ctx: PlanContext, goal: ToggleSettingGoal) -> Step:
    state = ctx.state
    switch_key = resolve_switch(goal.setting, goal.app)
    if not switch_key:
        raise TaskParseError(f"the expert knows no switch {goal.setting!r} (ToggleSettingGoal, app={goal.app!r})")
    wanted = goal.state if goal.state is not None else not state.initial_toggles.get(switch_key, False)
    visible = queries.switch_visible(ctx.screen, switch_key)
    if visible and state.toggle(switch_key) == wanted:
        return complete()
    if visible:
        element = tappable(ctx, f"switch.{switch_key}") or tappable(ctx, f"tile.{switch_key}")
        if element is not None:
            return tap(ctx, element)
    step = clear_obstacles(ctx, (TAP, TAP))
    if step is not None:
        return step
    if goal.app:
        step = _to_app_info(ctx, resolve_app(goal.app), (TAP,))
    elif SWITCH_BY_KEY[switch_key].page:
        step = _to_settings_page(ctx, SWITCH_BY_KEY[switch_key].page, (TAP,))
    else:  # a quick-settings tile only (flashlight)
        return Step(Action.swipe((0.5, 0.01), (0.5, 0.6)), (TAP,))
    if step is not None:
        return step
    return reach(ctx, f"switch.{switch_key}") or complete()


@planner(YouTubeGoal)
def _plan_youtube(ctx: PlanContext, goal: YouTubeGoal) -> Step:
    state = ctx.state
    page = state.page
    video = playing_video(state)
    if state.foreground == "youtube" and queries.video_matches(video, goal.query):
        return complete() if not state.ui.paused else (reach(ctx, "yt.player") or complete())
    step = _first(lambda: clear_obstacles(ctx, (TAP, TYPE, ENTER, TAP)),
                  lambda: open_app(ctx, "youtube", (TAP, TYPE, ENTER, TAP)))
    if step is not None:
        return step
    if page.view == "yt_results" and queries.same_query(page.query, goal.query):
        for index, candidate in enumerate(youtube_results(page.query, state.seed, state.variation)):
            if queries.video_matches(candidate, goal.query):
                return reach(ctx, f"yt.result.{index}") or key(BACK)
    if page.view == "yt_search":
        return fill_field(ctx, "yt.search_field", goal.query, (TAP,)) or key(BACK)
    if page.view == "yt_results":
        return reach(ctx, "yt.results.query", (TYPE, ENTER, TAP)) or key(BACK)
    if page.view == "yt_home":
        return reach(ctx, "yt.search", (TYPE, ENTER, TAP)) or key(BACK)
    return key(BACK, (TAP, TYPE, ENTER, TAP))


@planner(MapsGoal)
def _plan_maps(ctx: PlanContext, goal: MapsGoal) -> Step:
    state = ctx.state
    page = state.page
    if goal.directions and queries.directions_shown(state, goal.query):
        return complete()
    if not goal.directions and queries.maps_results_shown(state, goal.query):
        return complete()
    more = (TAP,) if goal.directions else ()
    step = _first(lambda: clear_obstacles(ctx, (TAP, TYPE, ENTER, *more)),
                  lambda: open_app(ctx, "maps", (TAP, TYPE, ENTER, *more)))
    if step is not None:
        return step
    same_search = queries.same_query(page.query, goal.query)
    if goal.directions and same_search and not state.ui.focus:
        if page.view == "maps_results":
            return reach(ctx, "place.0.directions") or key(BACK)
        if page.view == "maps_place":
            return reach(ctx, "maps.place.directions") or key(BACK)
    if page.view in ("maps_place", "maps_directions"):
        return key(BACK, (TAP, TYPE, ENTER, *more))
    return fill_field(ctx, "maps.search", goal.query, more) or key(BACK)


def _minute_button(current: int, wanted: int) -> str:
    """The picker button that brings the minute from ``current`` closer to ``wanted``: the nearest 5-minute
    mark, then single-minute steps (+1 from below, -1 from above)."""
    below = wanted - wanted % 5
    above = (below + 5) % 60
    if wanted % 5 <= 2:
        return "picker.plus" if (current - below) % 60 < wanted % 5 else f"picker.minute.{below}"
    return "picker.minus" if 0 < (current - wanted) % 60 <= 5 - wanted % 5 else f"picker.minute.{above}"


@planner(AlarmGoal)
def _plan_alarm(ctx: PlanContext, goal: AlarmGoal) -> Step:
    state = ctx.state
    if queries.new_alarm_set(state, goal.hour, goal.minute):
        return complete()
    ctx.keep_popups = frozenset({"alarm_picker"})
    step = _first(lambda: clear_obstacles(ctx, (TAP, TAP, TAP, TAP)),
                  lambda: open_app(ctx, "clock", (TAP, TAP, TAP, TAP)))
    if step is not None:
        return step
    if state.ui.menu == "alarm_picker":
        picker = state.picker
        hour12 = goal.hour % 12 or 12
        if picker.hour != hour12:
            return reach(ctx, f"picker.hour.{hour12}", (TAP, TAP)) or key(BACK)
        if picker.minute != goal.minute:
            return reach(ctx, _minute_button(picker.minute, goal.minute), (TAP,)) or key(BACK)
        if picker.pm != (goal.hour >= 12):
            return reach(ctx, "picker.pm" if goal.hour >= 12 else "picker.am", (TAP,)) or key(BACK)
        return reach(ctx, "picker.ok") or key(BACK)
    if state.page.item != "alarm":
        return reach(ctx, "clock.tab.alarm", (TAP, TAP, TAP, TAP)) or key(BACK)
    return reach(ctx, "alarm.add", (TAP, TAP, TAP)) or key(BACK)


@planner(ChromeTabGoal)
def _plan_chrome_tab(ctx: PlanContext, goal: ChromeTabGoal) -> Step:
    state = ctx.state
    if queries.new_tab_shown(state, goal.incognito):
        return complete()
    ctx.keep_popups = frozenset({"chrome_menu"})
    step = _first(lambda: clear_obstacles(ctx, (TAP, TAP)), lambda: open_app(ctx, "chrome", (TAP, TAP)))
    if step is not None:
        return step
    if state.ui.menu == "chrome_menu":
        return reach(ctx, "chrome_menu.new_incognito_tab" if goal.incognito else "chrome_menu.new_tab") or key(BACK)
    return uncover(ctx, (TAP,)) or reach(ctx, "chrome.menu", (TAP,)) or key(BACK)


@planner(NotificationsGoal)
def _plan_notifications(ctx: PlanContext, goal: NotificationsGoal) -> Step:
    if ctx.state.shade_open:
        return complete()
    return Step(Action.swipe((0.5, 0.01), (0.5, 0.6)))


def plan_step(state: PhoneState, goal: Goal) -> Step:
    """The noise-free expert's next step for ``goal`` on a phone in ``state``."""
    return PLANNERS.get(type(goal))(PlanContext(state, build_screen(state)), goal)


# ----------------------------------------------------------------------------------------------------------
# The policy

_RANDOM_WORDS = ("search", "hello", "news", "best", "the", "open", "phone", "buy", "weather", "video")


def _typo(text: str, rng: random.Random) -> str:
    """``text`` with one character dropped, doubled, swapped with its neighbour or replaced."""
    if not text:
        return text
    index = rng.randrange(len(text))
    kind = rng.randrange(4)
    if kind == 0 and len(text) > 1:
        return text[:index] + text[index + 1:]
    if kind == 1:
        return text[:index] + text[index] + text[index:]
    if kind == 2 and index + 1 < len(text):
        return text[:index] + text[index + 1] + text[index] + text[index + 2:]
    return text[:index] + rng.choice("abcdefghijklmnopqrstuvwxyz") + text[index + 1:]


def random_action(state: PhoneState, rng: random.Random) -> Action:
    """A plausible mistake: a tap on some element or anywhere, a swipe, a key, or stray text."""
    roll = rng.random()
    screen = build_screen(state)
    if roll < 0.4:
        clickable = [e for e in screen.elements if e.clickable and e.command.name != "absorb"]
        if clickable:
            return Action.tap(*screen.normalized_center(rng.choice(clickable)))
    if roll < 0.65:
        return Action.tap(rng.uniform(0.02, 0.98), rng.uniform(0.04, 0.95))
    if roll < 0.8:
        x = rng.uniform(0.2, 0.8)
        y0, y1 = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8)
        return Action.swipe((x, y0), (x, y1 if abs(y1 - y0) > 0.1 else min(0.95, y0 + 0.3)))
    if roll < 0.9:
        return Action(T.GoBack)
    if roll < 0.95:
        return Action(T.GoHome)
    if roll < 0.975:
        return Action(T.Enter)
    return Action.type_text(rng.choice(_RANDOM_WORDS))


class ExpertPolicy:
    """The scripted expert: ``act`` turns observations of the simulated phone into AutoUI action texts."""

    def __init__(self, noise: NoiseConfig | None = None, seed: int = 0, *,
                 point_decimals: int = POINT_DECIMALS) -> None:
        self.noise = noise or NoiseConfig()
        self.seed = int(seed)
        try:
            self.point_decimals = check_point_decimals(point_decimals)
        except ValueError as error:
            raise ConfigError(f"env.point_decimals: {error}") from error

    def reset(self) -> None:
        """Nothing to forget: the expert keeps no memory, and its noise is seeded per (episode seed, task, step)."""

    def act(self, observations: Sequence[Observation], tasks: Sequence[Task]) -> list[str]:
        """One AutoUI action text per (observation, task) pair."""
        if len(observations) != len(tasks):
            raise ValueError(f"ExpertPolicy.act: {len(observations)} observations but {len(tasks)} tasks")
        return [self.act_one(observation, task) for observation, task in zip(observations, tasks)]

    def act_one(self, observation: Observation, task: Task) -> str:
        """The action text for one observation."""
        state = observation.state
        if not isinstance(state, PhoneState):
            raise ConfigError(
                "the scripted expert needs the simulated phone's state (Observation.state is "
                f"{type(state).__name__}); collect demonstrations with env.backend=sim, not on real devices"
            )
        step = plan_step(state, task.goal)
        if self.noise.is_zero:
            return format_action(step.action, step.plan, decimals=self.point_decimals)
        rng = stable_rng("expert", self.seed, state.seed, task.text, observation.step, state.version)
        action = step.action
        if not action.ends_episode and rng.random() < self.noise.premature_complete_prob:
            action = Action(T.TaskComplete)
        elif rng.random() < self.noise.random_action_prob:
            action = random_action(state, rng)
        elif action.type == T.Type and rng.random() < self.noise.typo_prob:
            action = Action.type_text(_typo(action.typed_text, rng))
        plan = step.plan if action == step.action else (action.type, *step.plan[1:])
        if action.ends_episode:
            plan = (action.type,)
        return format_action(action, plan, decimals=self.point_decimals)
