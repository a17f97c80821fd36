"""The rule judge: a positive and a negative case for every goal class, on the real simulator."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from coso.env.sim.judge import SUCCESS_CHECKS, RuleJudge
from coso.env.sim import SimConfig, SimPhone
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


def open_app(phone: SimPhone, app: str) -> None:
    phone.press_home()
    phone.swipe(0.5, 0.8, 0.5, 0.3)
    phone.tap_element("drawer.search")
    phone.type_text(app)
    phone.press_enter()


def search(phone: SimPhone, field: str, text: str, submit: bool = True) -> None:
    phone.tap_element(field)
    phone.type_text(text)
    if submit:
        phone.press_enter()


def verdict(phone: SimPhone, goal: Goal, task_set: str = "general") -> bool:
    judge = RuleJudge(phone)
    task = Task("a task", goal, task_set)
    judge.reset(task)
    return judge.is_success(task, phone.screenshot(), None)


@pytest.fixture()
def phone() -> SimPhone:
    return SimPhone(SimConfig(difficulty="easy"), seed=4)


def go_to_site(phone: SimPhone, site: str) -> None:
    open_app(phone, "chrome")
    search(phone, "chrome.omnibox", site)


def test_webshop_site_visit(phone: SimPhone) -> None:
    goal = WebShopGoal(site="costco.com")
    open_app(phone, "chrome")
    assert not verdict(phone, goal, "webshop")
    go_to_site(phone, "walmart.com")
    assert not verdict(phone, goal, "webshop")  # the wrong site
    go_to_site(phone, "costco.com")
    assert verdict(phone, goal, "webshop")


def test_webshop_search_needs_the_results_page_not_suggestions(phone: SimPhone) -> None:
    goal = WebShopGoal(site="ebay.com", query="asus zenbook")
    go_to_site(phone, "ebay.com")
    search(phone, "site.search", "asus zenbook", submit=False)
    assert phone.element("site.search.suggestion.0") is not None
    assert not verdict(phone, goal, "webshop")  # the suggestions dropdown
    phone.press_enter()
    assert verdict(phone, goal, "webshop")
    search(phone, "site.search", "asus rog")
    assert not verdict(phone, goal, "webshop")  # another query's results
    go_to_site(phone, "newegg.com")
    search(phone, "site.search", "asus zenbook")
    assert not verdict(phone, goal, "webshop")  # the same query on the wrong site


def test_webshop_select_first_needs_the_first_results_product_page(phone: SimPhone) -> None:
    goal = WebShopGoal(site="bestbuy.com", query="corsair k70", select_first=True)
    go_to_site(phone, "bestbuy.com")
    search(phone, "site.search", "corsair k70")
    assert not verdict(phone, goal, "webshop")  # results, nothing selected
    phone.tap_element("product.1")
    assert not verdict(phone, goal, "webshop")  # the second entry
    phone.press_back()
    phone.tap_element("product.0")
    assert verdict(phone, goal, "webshop")


def test_web_search_needs_a_results_page_with_the_keywords(phone: SimPhone) -> None:
    goal = WebSearchGoal(query="what is the capital of germany", keywords=("capital", "germany"))
    phone.tap_element("home.search")
    phone.type_text("capital of germany")
    assert not verdict(phone, goal)  # suggestions only
    phone.press_enter()
    assert verdict(phone, goal)
    search(phone, "google.search", "capital of france")
    assert not verdict(phone, goal)
    assert verdict(phone, WebSearchGoal(query="capital of france"))  # keywords default to the query's words


def test_open_app(phone: SimPhone) -> None:
    assert not verdict(phone, OpenAppGoal(app="calculator"))
    open_app(phone, "camera")
    assert not verdict(phone, OpenAppGoal(app="calculator"))
    open_app(phone, "calculator")
    assert verdict(phone, OpenAppGoal(app="the calculator app"))
    open_app(phone, "files")
    assert verdict(phone, OpenAppGoal(app="downloads"))  # an alias


def test_install_app_needs_it_installed_and_shown_in_the_store(phone: SimPhone) -> None:
    goal = InstallAppGoal(app="espn")
    open_app(phone, "play store")
    search(phone, "store.search", "espn")
    phone.tap_element("store.result.0")
    assert phone.state.page.item == "espn"
    assert not verdict(phone, goal)  # the page offers Install
    phone.tap_element("store.app.install")
    assert verdict(phone, goal)
    phone.press_home()
    assert not verdict(phone, goal)  # installed, but the store no longer shows it


def test_app_settings_needs_the_app_info_page(phone: SimPhone) -> None:
    goal = AppSettingsGoal(app="google maps")
    open_app(phone, "settings")
    search(phone, "settings.search", "netflix", submit=False)
    phone.tap_element("settings.result.0")
    assert not verdict(phone, goal)  # another app's page
    phone.press_back()
    search(phone, "settings.search", "maps", submit=False)
    phone.tap_element("settings.result.0")
    assert verdict(phone, goal)


def test_settings_page(phone: SimPhone) -> None:
    goal = SettingsPageGoal(page="bluetooth")
    open_app(phone, "settings")
    phone.tap_element("settings.row.connected")
    assert not verdict(phone, goal)  # the parent page
    phone.tap_element("settings.row.bluetooth")
    assert verdict(phone, goal)
    assert not verdict(phone, SettingsPageGoal(page="display"))


def test_toggle_needs_the_asked_state_on_a_visible_switch(phone: SimPhone) -> None:
    initially = phone.state.toggle("bluetooth")
    goal_flip = ToggleSettingGoal(setting="bluetooth", state=None)
    goal_on = ToggleSettingGoal(setting="bluetooth", state=True)
    open_app(phone, "settings")
    phone.tap_element("settings.row.connected")
    assert not verdict(phone, goal_flip)  # visible, not yet flipped
    assert verdict(phone, goal_on) is initially
    phone.tap_element("switch.bluetooth")
    assert verdict(phone, goal_flip)
    assert verdict(phone, goal_on) is not initially
    phone.press_home()
    assert not verdict(phone, goal_flip)  # flipped, but no switch on screen


def test_toggle_app_notifications(phone: SimPhone) -> None:
    goal = ToggleSettingGoal(setting="notifications", app="google photos", state=False)
    open_app(phone, "settings")
    search(phone, "settings.search", "photos", submit=False)
    phone.tap_element("settings.result.0")
    assert phone.state.toggle("notifications:photos")  # on at the easy difficulty
    assert not verdict(phone, goal)
    phone.tap_element("switch.notifications:photos")
    assert verdict(phone, goal)


def test_youtube_needs_a_matching_video_playing(phone: SimPhone) -> None:
    goal = YouTubeGoal(query="taylor swift")
    open_app(phone, "youtube")
    phone.tap_element("yt.feed.0")
    assert not verdict(phone, goal)  # a video, not the asked one
    phone.press_back()
    phone.tap_element("yt.search")
    phone.type_text("taylor swift")
    phone.press_enter()
    assert not verdict(phone, goal)  # results, nothing playing
    phone.tap_element("yt.result.0")
    assert verdict(phone, goal)
    phone.tap_element("yt.player")
    assert not verdict(phone, goal)  # paused


def test_maps_results_and_directions(phone: SimPhone) -> None:
    places = MapsGoal(query="coffee shops")
    route = MapsGoal(query="nearest verizon store", directions=True)
    open_app(phone, "maps")
    search(phone, "maps.search", "coffee shops", submit=False)
    assert not verdict(phone, places)  # suggestions
    phone.press_enter()
    assert verdict(phone, places)
    search(phone, "maps.search", "verizon store")
    assert not verdict(phone, route)  # results, no directions yet
    phone.tap_element("place.0.directions")
    assert verdict(phone, route)
    assert not verdict(phone, MapsGoal(query="apple store", directions=True))


def test_alarm_needs_a_new_enabled_alarm_at_the_time(phone: SimPhone) -> None:
    goal = AlarmGoal(hour=19, minute=0)
    open_app(phone, "clock")
    phone.tap_element("alarm.add")
    phone.tap_element("picker.hour.7")
    phone.tap_element("picker.minute.0")
    phone.tap_element("picker.am")
    phone.tap_element("picker.ok")
    assert not verdict(phone, goal)  # 7 AM, not 7 PM
    phone.tap_element("alarm.add")
    phone.tap_element("picker.hour.7")
    phone.tap_element("picker.minute.0")
    phone.tap_element("picker.pm")
    assert not verdict(phone, goal)  # picked but not saved
    phone.tap_element("picker.ok")
    assert verdict(phone, goal)


def test_chrome_tab_kind_matters(phone: SimPhone) -> None:
    open_app(phone, "chrome")
    assert not verdict(phone, ChromeTabGoal(incognito=False))
    phone.tap_element("chrome.menu")
    phone.tap_element("chrome_menu.new_tab")
    assert verdict(phone, ChromeTabGoal(incognito=False))
    assert not verdict(phone, ChromeTabGoal(incognito=True))


def test_notifications_shade(phone: SimPhone) -> None:
    assert not verdict(phone, NotificationsGoal())
    phone.swipe(0.5, 0.01, 0.5, 0.6)
    assert verdict(phone, NotificationsGoal())


def test_every_goal_class_has_a_check() -> None:
    goal_classes = {cls for cls in Goal.__subclasses__() if cls.__module__ == "coso.env.tasks"}
    assert len(goal_classes) == 12
    assert goal_classes <= set(SUCCESS_CHECKS)


def test_unknown_goals_and_devices_get_clear_errors(phone: SimPhone) -> None:
    @dataclass(frozen=True)
    class DanceGoal(Goal):
        kind = "dance"

    judge = RuleJudge(phone)
    with pytest.raises(JudgeError, match="no rule-judge success check is registered for DanceGoal"):
        judge.reset(Task("dance", DanceGoal(), "general"))
    with pytest.raises(JudgeError, match="no Settings page"):
        verdict(phone, SettingsPageGoal(page="warp drive"))
    with pytest.raises(ConfigError, match="simulated phone"):
        RuleJudge(object())
