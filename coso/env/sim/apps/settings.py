"""The Settings app: main list with search, sub-pages with switches, the app list and App info pages."""

from __future__ import annotations

from coso.env.sim.catalog import NOTIFICATION_SWITCH_PREFIX, SETTINGS_BY_ID, SETTINGS_PAGES, app_label, app_spec
from coso.env.sim.registry import on_enter, root, view
from coso.env.sim.state import Page, PhoneState
from coso.env.sim.text import stable_rng, tokens
from coso.env.sim.ui import ABSORB, LINE, WHITE, Command, Element, Rect, ScreenBuilder, Style
from coso.env.sim.widgets import W, app_bar, button, content_bottom, row, text_field

SETTINGS_BLUE = (26, 115, 232)
BAR_COLOR = (248, 249, 250)
START_SCROLL_RANGE = 300.0  # dp: a long list starts scrolled by up to this much (times the layout's scroll_start)


def _start_scrolled(state: PhoneState, page: Page) -> None:
    """Harder layouts open Settings lists part-way down, so the wanted row may need scrolling back to."""
    state.ui.scroll["list"] = state.layout.scroll_start * START_SCROLL_RANGE


for _view_name in ("settings_main", "settings_page", "settings_apps", "settings_app_info"):
    on_enter(_view_name)(_start_scrolled)


@root("settings")
def _settings_root(state: PhoneState) -> Page:
    return Page("settings", "settings_main", item="main")


def settings_page(page_id: str) -> Page:
    """The Page of a Settings sub-page (the app list and main page have their own views)."""
    if page_id == "main":
        return Page("settings", "settings_main", item="main")
    if page_id == "apps_all":
        return Page("settings", "settings_apps", item="apps_all")
    return Page("settings", "settings_page", item=page_id)


def app_info_page(app: str) -> Page:
    """The App info page of ``app``."""
    return Page("settings", "settings_app_info", item=app_spec(app).name)


def search_settings(state: PhoneState, text: str) -> list[tuple[str, str, Page]]:
    """Settings search: (label, where, page) for pages, switches and installed apps matching ``text``."""
    wanted = tokens(text)
    if not wanted:
        return []

    def matches(*names: str) -> bool:
        words = [word for name in names for word in tokens(name)]
        return all(any(word.startswith(w) for word in words) for w in wanted)

    found: list[tuple[str, str, Page]] = []
    for spec in SETTINGS_PAGES:
        if spec.id != "main" and matches(spec.title, *spec.aliases):
            parent = SETTINGS_BY_ID[spec.parent].title if spec.parent else ""
            found.append((spec.title, parent, settings_page(spec.id)))
    for app in sorted(state.installed, key=lambda a: app_label(a).lower()):
        info = app_spec(app)
        if matches(info.name, info.label, *info.aliases):
            found.append((info.label, "App info", app_info_page(app)))
    return found[:8]


@view("settings_main")
def _settings_main(state: PhoneState, b: ScreenBuilder) -> None:
    b.box("page.background", Rect(0, 0, W, state.height_dp), WHITE)
    bottom = app_bar(b, "settings", "Settings", BAR_COLOR, (20, 20, 20), up=False, size=14)
    text_field(b, state, "settings.search", Rect(10, bottom + 2, W - 10, bottom + 30), "Search settings")
    col = b.column("list", Rect(0, bottom + 34, W, content_bottom(state)))
    if state.ui.focus == "settings.search" and state.ui.text.strip():
        results = search_settings(state, state.ui.text)
        for index, (label, where, page) in enumerate(results):
            row(col, f"settings.result.{index}", label, where, Command("push", page=page), height=40, left=4)
        if not results:
            col.add(Element("settings.no_results", col.row(30), "No results", "text", style=Style(size=10)))
    else:
        for spec_row in SETTINGS_BY_ID["main"].rows:
            row(col, f"settings.row.{spec_row.target}", spec_row.label, spec_row.summary,
                Command("push", page=settings_page(spec_row.target)), height=42, left=4)
    col.close()


@view("settings_page")
def _settings_page(state: PhoneState, b: ScreenBuilder) -> None:
    spec = SETTINGS_BY_ID[state.page.item]
    b.box("page.background", Rect(0, 0, W, state.height_dp), WHITE)
    bottom = app_bar(b, "settings", spec.title, BAR_COLOR, (20, 20, 20))
    col = b.column("list", Rect(0, bottom, W, content_bottom(state)))
    if spec.id == "apps":
        col.add(Element("settings.recent.title", col.row(24), "Recently opened apps", "text",
                        style=Style(size=9, color=SETTINGS_BLUE)))
        rng = stable_rng("recent-apps", state.seed)
        for app in rng.sample(sorted(state.installed), min(3, len(state.installed))):
            row(col, f"settings.app.{app}", app_label(app), "Opened today", Command("push", page=app_info_page(app)),
                height=38, left=4)
    for index, spec_row in enumerate(spec.rows):
        label = spec_row.label
        if spec_row.target == "apps_all":
            label = f"See all {len(state.installed)} apps"
        if spec_row.target:
            tap = Command("push", page=settings_page(spec_row.target))
        elif spec_row.switch:
            tap = Command("toggle", spec_row.switch)
        else:
            tap = ABSORB
        element_id = f"settings.row.{spec_row.target}" if spec_row.target else f"settings.row.{spec.id}.{index}"
        row(col, element_id, label, spec_row.summary, tap, height=40, switch_key=spec_row.switch, state=state, left=4)
    col.close()


@view("settings_apps")
def _settings_apps(state: PhoneState, b: ScreenBuilder) -> None:
    b.box("page.background", Rect(0, 0, W, state.height_dp), WHITE)
    bottom = app_bar(b, "settings", "All apps", BAR_COLOR, (20, 20, 20))
    col = b.column("list", Rect(0, bottom, W, content_bottom(state)))
    for app in sorted(state.installed, key=lambda a: app_label(a).lower()):
        spec = app_spec(app)
        rect = row(col, f"settings.app.{app}", spec.label, "", Command("push", page=app_info_page(app)), height=34, left=30)
        col.add(Element(f"settings.app.{app}.icon", Rect(8, rect.y0 + 8, 26, rect.y1 - 8), spec.label[:1], "image",
                        style=Style(fill=spec.color, color=WHITE, size=8, align="center", shape="ellipse", pad=0)))
    col.close()


@view("settings_app_info")
def _settings_app_info(state: PhoneState, b: ScreenBuilder) -> None:
    spec = app_spec(state.page.item)
    b.box("page.background", Rect(0, 0, W, state.height_dp), WHITE)
    bottom = app_bar(b, "settings", "App info", BAR_COLOR, (20, 20, 20))
    b.add(Element("appinfo.icon", Rect(W / 2 - 20, bottom + 8, W / 2 + 20, bottom + 48), spec.label[:1], "image",
                  style=Style(fill=spec.color, color=WHITE, size=16, align="center", shape="ellipse", pad=0)))
    b.add(Element("appinfo.name", Rect(0, bottom + 50, W, bottom + 70), spec.label, "text",
                  style=Style(size=13, align="center")))
    buttons_top = bottom + 76
    labels = (("open", "Open", Command("launch", spec.name)),
              ("uninstall", "Disable" if spec.system else "Uninstall", ABSORB if spec.system else Command("uninstall", spec.name)),
              ("force_stop", "Force stop", ABSORB))
    for index, (suffix, label, tap) in enumerate(labels):
        x0 = 10 + index * (W - 20) / 3
        button(b, f"appinfo.{suffix}", Rect(x0 + 3, buttons_top, x0 + (W - 20) / 3 - 3, buttons_top + 28), label, tap,
               fill=WHITE, color=SETTINGS_BLUE, outline=LINE, size=9)
    col = b.column("list", Rect(0, buttons_top + 36, W, content_bottom(state)))
    key = f"{NOTIFICATION_SWITCH_PREFIX}{spec.name}"
    on = state.toggle(key)
    row(col, "appinfo.notifications", "Notifications", "On" if on else "Off", Command("toggle", key), height=40,
        switch_key=key, state=state, left=4)
    for index, (label, summary) in enumerate((("Permissions", "No permissions requested"), ("Storage & cache", "84 MB used"),
                                              ("Mobile data & Wi-Fi", "2.1 MB used"), ("Screen time", "12 min today"),
                                              ("App battery usage", "0% since last full charge"),
                                              ("Open by default", "Allow app to open supported links"))):
        row(col, f"appinfo.row.{index}", label, summary, ABSORB, height=40, left=4)
    col.close()

