"""The phone at the start of an episode: installed apps, switches, alarms, notifications and the layout
variation, all drawn from the episode seed with a strength set by the difficulty."""

from __future__ import annotations

import random

from coso.env.sim.catalog import APPS, DOCK_APPS, EASY_HOME_APPS, NOTIFICATION_SWITCH_PREFIX, SWITCHES, shopping_sites
from coso.env.sim.nav import HOME_PAGE
from coso.env.sim.registry import FIRST_RUN_POPUPS
from coso.env.sim.state import LAUNCHER, Alarm, Layout, Notice, Page, PhoneState
from coso.env.sim.ui import DESIGN_WIDTH

FIRST_RUN_PROB = 0.5  # times the variation: chance an app greets its first launch with a popup
SWITCH_FLIP_PROB = 0.5  # times the variation: chance a switch starts in its non-default state
_CHROME_START_SITES = ("cnn.com", "bbc.com", "wikipedia.org", "weather.com", "espn.com")
_NOTICES = (
    Notice("gmail", "Alex Chen", "Lunch on Friday?"),
    Notice("messages", "Mom", "Call me when you can"),
    Notice("play store", "Updates available", "3 apps can be updated"),
    Notice("calendar", "Team meeting", "10:00 AM - Room 4"),
    Notice("photos", "Memories", "Look back on this day"),
    Notice("youtube", "New video", "A channel you follow uploaded"),
)


def _layout(rng: random.Random, variation: float, installed: list[str]) -> Layout:
    if variation <= 0:
        home = tuple(app for app in EASY_HOME_APPS if app not in DOCK_APPS)
        dock: tuple[str, ...] = DOCK_APPS
    else:
        count = max(4, round(16 - 8 * variation))
        dock = DOCK_APPS if rng.random() >= variation / 2 else tuple(rng.sample(installed, 4))
        candidates = [app for app in installed if app not in dock]
        home = tuple(rng.sample(candidates, min(count, len(candidates))))
    chrome_start = Page("chrome", "google_home", site="google.com")
    if rng.random() < variation:
        domain = rng.choice(_CHROME_START_SITES)
        chrome_start = Page("chrome", "web_page", site=domain, item=domain.split(".")[0].upper())
    return Layout(
        home_apps=home,
        dock_apps=dock,
        drawer_order="shuffled" if rng.random() < variation else "alphabetical",
        drawer_salt=rng.randrange(1 << 30),
        widget_top=rng.random() >= variation / 2,
        chrome_start=chrome_start,
        clock_tab=rng.choice(("clock", "timer", "stopwatch", "bedtime")) if rng.random() < variation else "alarm",
        site_banner={site.domain: (rng.uniform(30, 30 + 120 * variation) if rng.random() < variation else 0.0)
                     for site in shopping_sites()},
        scroll_start=rng.uniform(0, variation) if rng.random() < variation else 0.0,
    )


def new_phone_state(width: int, height: int, variation: float, seed: int) -> PhoneState:
    """A fresh phone on its home screen for episode ``seed``."""
    rng = random.Random(seed)
    installed = [app.name for app in APPS if app.preinstalled]
    layout = _layout(rng, variation, installed)
    toggles = {}
    for switch in SWITCHES:
        flip = rng.random() < SWITCH_FLIP_PROB * variation
        toggles[switch.key] = switch.default != flip
    for app in installed:
        toggles[f"{NOTIFICATION_SWITCH_PREFIX}{app}"] = rng.random() >= SWITCH_FLIP_PROB * variation
    alarms = [Alarm(hour, minute, enabled)
              for hour, minute, enabled in ((6, 30, True), (7, 15, False), (8, 45, True), (21, 10, False))
              if rng.random() < 0.6]
    notices = rng.sample(_NOTICES, rng.randint(2, 4))
    app_popups = {app: [name] for app, name in sorted(FIRST_RUN_POPUPS.items())
                  if rng.random() < FIRST_RUN_PROB * variation}
    return PhoneState(
        seed=seed,
        width=width,
        height=height,
        height_dp=DESIGN_WIDTH * height / width,
        variation=variation,
        layout=layout,
        stacks={LAUNCHER: [HOME_PAGE]},
        installed=installed,
        toggles=toggles,
        alarms=alarms,
        notices=notices,
        app_popups=app_popups,
        initial_toggles=dict(toggles),
        initial_alarms=tuple((alarm.hour, alarm.minute, alarm.enabled) for alarm in alarms),
    )
