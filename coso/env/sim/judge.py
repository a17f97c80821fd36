"""The rule-based judge: the criteria of the reference's Gemini evaluator, applied to the simulator's state.

Web shopping: the right site; for a search, the site's results page for the query (not the suggestions
dropdown); for "select the first entry", the product page of the first result of that search. General:
a Google results page for a query with the goal's keywords, the app opened, the app installed (shown in
the Play Store), the App info or Settings page shown, the alarm saved, a matching YouTube video playing,
Maps results or directions for the query, the new (incognito) tab, the notification shade, the switch in
the asked state. One success check is registered per goal class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from PIL import Image

from coso.actions import Action
from coso.env.sim import queries
from coso.env.sim.catalog import resolve_app, resolve_settings_page, resolve_switch
from coso.env.sim.layout import build_screen
from coso.env.sim.state import PhoneState
from coso.env.sim.text import covers
from coso.env.sim.ui import Screen
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
from coso.errors import ConfigError, JudgeError
from coso.registry import Registry


@dataclass(frozen=True)
class JudgeView:
    """What a success check reads: the phone's state and the element tree on screen."""

    state: PhoneState
    screen: Screen


G = TypeVar("G", bound=Goal)
SuccessCheck = Callable[[JudgeView, G], bool]
SUCCESS_CHECKS: Registry[type[Goal], SuccessCheck] = Registry("rule-judge success check", JudgeError)


def success_check(goal_type: type[G]) -> Callable[[SuccessCheck], SuccessCheck]:
    """Register the success check of a goal class."""
    return SUCCESS_CHECKS.register(goal_type)


@success_check(WebShopGoal)
def _webshop(view: JudgeView, goal: WebShopGoal) -> bool:
    if not goal.query:
        return queries.on_site(view.state, goal.site)
    if goal.select_first:
        return queries.first_result_shown(view.state, goal.site, goal.query)
    return queries.site_results_shown(view.state, goal.site, goal.query)


@success_check(WebSearchGoal)
def _web_search(view: JudgeView, goal: WebSearchGoal) -> bool:
    shown = queries.google_query_shown(view.state)
    if shown is None:
        return False
    return covers(shown, tuple(goal.keywords)) if goal.keywords else covers(shown, goal.query)


@success_check(OpenAppGoal)
def _open_app(view: JudgeView, goal: OpenAppGoal) -> bool:
    return view.state.foreground == resolve_app(goal.app)


@success_check(InstallAppGoal)
def _install_app(view: JudgeView, goal: InstallAppGoal) -> bool:
    return queries.store_shows_installed(view.state, goal.app)


@success_check(AppSettingsGoal)
def _app_settings(view: JudgeView, goal: AppSettingsGoal) -> bool:
    return queries.app_info_shown(view.state, goal.app)


@success_check(SettingsPageGoal)
def _settings_page(view: JudgeView, goal: SettingsPageGoal) -> bool:
    page_id = resolve_settings_page(goal.page)
    if not page_id:
        raise JudgeError(f"the rule judge knows no Settings page {goal.page!r} (SettingsPageGoal.page)")
    return queries.settings_page_shown(view.state) == page_id


@success_check(ToggleSettingGoal)
def _toggle(view: JudgeView, goal: ToggleSettingGoal) -> bool:
    key = resolve_switch(goal.setting, goal.app)
    if not key:
        raise JudgeError(f"the rule judge knows no switch {goal.setting!r} (ToggleSettingGoal, app={goal.app!r})")
    wanted = goal.state if goal.state is not None else not view.state.initial_toggles.get(key, False)
    return view.state.toggle(key) == wanted and queries.switch_visible(view.screen, key)


@success_check(YouTubeGoal)
def _youtube(view: JudgeView, goal: YouTubeGoal) -> bool:
    return view.state.foreground == "youtube" and queries.matching_video_playing(view.state, goal.query)


@success_check(MapsGoal)
def _maps(view: JudgeView, goal: MapsGoal) -> bool:
    if goal.directions:
        return queries.directions_shown(view.state, goal.query)
    return queries.maps_results_shown(view.state, goal.query)


@success_check(AlarmGoal)
def _alarm(view: JudgeView, goal: AlarmGoal) -> bool:
    return queries.new_alarm_set(view.state, goal.hour, goal.minute)


@success_check(ChromeTabGoal)
def _chrome_tab(view: JudgeView, goal: ChromeTabGoal) -> bool:
    return queries.new_tab_shown(view.state, goal.incognito)


@success_check(NotificationsGoal)
def _notifications(view: JudgeView, goal: NotificationsGoal) -> bool:
    return view.state.shade_open


def judge_state(state: PhoneState, screen: Screen, goal: Goal) -> bool:
    """The verdict for ``goal`` on a phone state (a pure function of state, screen and goal)."""
    return SUCCESS_CHECKS.get(type(goal))(JudgeView(state, screen), goal)


class RuleJudge:
    """A ``coso.env.base.Judge`` that reads the simulated phone's state instead of looking at the screenshot.

    ``phone`` is any device whose ``privileged_state()`` returns the simulator's ``PhoneState`` (a ``SimPhone``,
    or a served one over the WebDriver protocol).
    """

    def __init__(self, phone: object) -> None:
        if not callable(getattr(phone, "privileged_state", None)):
            raise ConfigError(
                f"RuleJudge needs the simulated phone (coso.env.sim.SimPhone), got {type(phone).__name__}; "
                "use env.judge=gemini with real devices"
            )
        self.phone: Any = phone  # any device with privileged_state() (checked above)

    def reset(self, task: Task) -> None:
        """Check the goal can be judged; the baseline (initial switches, alarms) lives in the phone's own state."""
        SUCCESS_CHECKS.get(type(task.goal), context=f"(task {task.text!r})")

    def is_success(self, task: Task, screenshot: Image.Image, action: Action | None) -> bool:
        """True when the phone's state shows ``task`` done (the screenshot is not needed)."""
        state = self.phone.privileged_state()
        if not isinstance(state, PhoneState):
            raise JudgeError("RuleJudge: the device returned no simulator state (is it a SimPhone?)")
        return judge_state(state, build_screen(state), task.goal)
