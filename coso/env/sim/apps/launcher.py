"""The launcher (home screen with the Google search widget, app drawer), the notification shade, and the
titled main screens of the simple apps (Gmail, Calculator, Camera, ...)."""

from __future__ import annotations

from coso.env.sim import nav
from coso.env.sim.catalog import app_label, app_spec
from coso.env.sim.registry import command, popup, submitter, view
from coso.env.sim.state import Page, PhoneState
from coso.env.sim.text import stable_rng
from coso.env.sim.ui import ABSORB, BLUE, GREY, WHITE, Command, Element, Rect, ScreenBuilder, ScrollColumn, Style
from coso.env.sim.widgets import STATUS_H, W, app_bar, button, content_bottom, row, text_field

ICON_COLUMNS = 4
CELL_W = W / ICON_COLUMNS
CELL_H = 62.0
WALLPAPERS = ((36, 52, 86), (52, 84, 74), (74, 52, 92), (90, 64, 48), (40, 70, 100))


def drawer_apps(state: PhoneState) -> list[str]:
    """Installed apps in the drawer's order (alphabetical, or shuffled per episode on harder layouts)."""
    if state.layout.drawer_order == "alphabetical":
        return sorted(state.installed, key=lambda app: app_label(app).lower())
    return sorted(state.installed, key=lambda app: stable_rng("drawer", state.layout.drawer_salt, app).random())


def _icon_cell(b: ScreenBuilder | ScrollColumn, rect: Rect, app: str, label_color: tuple[int, int, int]) -> None:
    spec = app_spec(app)
    b.add(Element(f"app.{app}", rect, "", "icon", Command("launch", app)))
    cx = (rect.x0 + rect.x1) / 2
    circle = Rect(cx - 17, rect.y0 + 6, cx + 17, rect.y0 + 40)
    b.add(Element(f"app.{app}.icon", circle, spec.label[:1].upper(), "image",
                  style=Style(fill=spec.color, color=WHITE, size=14, align="center", shape="ellipse", pad=0)))
    b.add(Element(f"app.{app}.label", Rect(rect.x0, rect.y0 + 41, rect.x1, rect.y0 + 56), spec.label, "text",
                  style=Style(color=label_color, size=8, align="center", pad=1)))


def _search_widget(b: ScreenBuilder, y: float) -> None:
    rect = Rect(12, y, W - 12, y + 28)
    b.add(Element("home.search", rect, "Search", "field", Command("widget_search"),
                  Style(fill=WHITE, color=GREY, size=10, shape="round", pad=30)))
    b.add(Element("home.search.logo", Rect(16, y + 4, 36, y + 24), "G", "text",
                  style=Style(color=BLUE, size=12, align="center", pad=0)))


@view("home")
def _home(state: PhoneState, b: ScreenBuilder) -> None:
    wallpaper = WALLPAPERS[state.seed % len(WALLPAPERS)] if state.variation > 0 else WALLPAPERS[0]
    b.box("home.wallpaper", Rect(0, 0, W, state.height_dp), wallpaper)
    dock_top = content_bottom(state) - 66
    grid_top = STATUS_H + (46 if state.layout.widget_top else 12)
    if state.layout.widget_top:
        _search_widget(b, STATUS_H + 10)
    else:
        _search_widget(b, dock_top - 40)
    grid_apps = [app for app in state.layout.home_apps if app in state.installed]
    rows = int((dock_top - (0 if state.layout.widget_top else 44) - grid_top) // CELL_H)
    for index, app in enumerate(grid_apps[: rows * ICON_COLUMNS]):
        r, c = divmod(index, ICON_COLUMNS)
        _icon_cell(b, Rect(c * CELL_W, grid_top + r * CELL_H, (c + 1) * CELL_W, grid_top + (r + 1) * CELL_H), app, WHITE)
    b.add(Element("home.handle", Rect(W / 2 - 20, dock_top - 6, W / 2 + 20, dock_top - 3), "", "panel",
                  style=Style(fill=(200, 200, 205), shape="round")))
    b.box("home.dock", Rect(6, dock_top, W - 6, dock_top + 62), (255, 255, 255), shape="round")
    for index, app in enumerate(a for a in state.layout.dock_apps if a in state.installed):
        _icon_cell(b, Rect(6 + index * (W - 12) / 4, dock_top, 6 + (index + 1) * (W - 12) / 4, dock_top + 62), app, (40, 40, 40))


def _drawer_matches(state: PhoneState) -> list[str]:
    apps = drawer_apps(state)
    if state.ui.focus == "drawer.search" and state.ui.text.strip():
        wanted = state.ui.text.strip().lower()
        apps = [app for app in apps if wanted in app_label(app).lower() or wanted in app]
    return apps


@view("drawer")
def _drawer(state: PhoneState, b: ScreenBuilder) -> None:
    b.box("drawer.background", Rect(0, 0, W, state.height_dp), (250, 250, 252))
    text_field(b, state, "drawer.search", Rect(12, STATUS_H + 6, W - 12, STATUS_H + 32), "Search apps")
    col = b.column("drawer", Rect(0, STATUS_H + 38, W, content_bottom(state)))
    apps = _drawer_matches(state)
    for start in range(0, len(apps), ICON_COLUMNS):
        line = col.row(CELL_H)
        for offset, app in enumerate(apps[start:start + ICON_COLUMNS]):
            cell = Rect(offset * CELL_W, line.y0, (offset + 1) * CELL_W, line.y1)
            cells = ScreenBuilder(b.height)
            _icon_cell(cells, cell, app, (40, 40, 40))
            col.extend(cells.elements)
    col.gap(8)
    col.close()


@submitter("drawer.search")
def _drawer_enter(state: PhoneState, text: str) -> None:
    matches = _drawer_matches(state)
    if matches:
        nav.launch(state, matches[0])


@command("widget_search")
def _widget_search(state: PhoneState, tap: Command) -> None:
    """The home screen's search widget opens a Google search page in Chrome with the box focused."""
    nav.launch(state, "chrome")
    if state.foreground == "chrome":
        nav.push(state, Page("chrome", "google_home", site="google.com"))
        nav.focus(state, "google.search", "")


# ----------------------------------------------------------------------------------------------------------
# Notification shade

SHADE_TILES = ("wifi", "bluetooth", "airplane mode", "do not disturb", "flashlight", "location")
_TILE_LABELS = {"wifi": "Internet", "bluetooth": "Bluetooth", "airplane mode": "Airplane", "do not disturb": "DND",
                "flashlight": "Flashlight", "location": "Location"}


@popup("shade")
def _shade(state: PhoneState, b: ScreenBuilder) -> None:
    bottom = content_bottom(state)
    b.add(Element("shade", Rect(0, STATUS_H, W, bottom), "", "panel", ABSORB, Style(fill=(28, 30, 34))))
    b.add(Element("shade.title", Rect(8, STATUS_H + 2, W, STATUS_H + 20), "Quick settings", "text",
                  style=Style(color=(200, 200, 205), size=9)))
    tile_w = (W - 16) / 3
    for index, key in enumerate(SHADE_TILES):
        r, c = divmod(index, 3)
        x0 = 8 + c * tile_w
        y0 = STATUS_H + 22 + r * 38
        on = state.toggle(key)
        b.add(Element(f"tile.{key}", Rect(x0 + 2, y0, x0 + tile_w - 2, y0 + 34), _TILE_LABELS[key], "switch",
                      Command("toggle", key),
                      Style(fill=(138, 180, 248) if on else (60, 64, 70), color=(20, 20, 20) if on else (230, 230, 230),
                            size=9, align="center", shape="round", pad=2), checked=on))
    y = STATUS_H + 104
    b.add(Element("shade.notifications", Rect(8, y, W, y + 16), "Notifications", "text",
                  style=Style(color=(200, 200, 205), size=9)))
    y += 18
    for index, notice in enumerate(state.notices):
        card = Rect(8, y, W - 8, y + 40)
        b.add(Element(f"notice.{index}", card, "", "row", Command("open_notice", notice.app),
                      Style(fill=(48, 52, 58), shape="round")))
        b.add(Element(f"notice.{index}.title", Rect(card.x0, card.y0 + 2, card.x1, card.y0 + 20),
                      f"{app_label(notice.app)} - {notice.title}", "text", style=Style(color=WHITE, size=9)))
        b.add(Element(f"notice.{index}.text", Rect(card.x0, card.y0 + 20, card.x1, card.y1 - 2), notice.text, "text",
                      style=Style(color=(190, 190, 196), size=8)))
        y += 44
    if state.notices:
        button(b, "shade.clear", Rect(W - 80, y + 2, W - 8, y + 24), "Clear all", Command("clear_notices"),
               fill=(60, 64, 70), color=WHITE, size=9)
    else:
        b.add(Element("shade.empty", Rect(8, y, W, y + 20), "No notifications", "text",
                      style=Style(color=(160, 160, 166), size=9)))
    handle_y = bottom - 12
    b.add(Element("shade.handle", Rect(W / 2 - 20, handle_y, W / 2 + 20, handle_y + 3), "", "panel",
                  style=Style(fill=(150, 150, 155), shape="round")))


@command("open_notice")
def _open_notice(state: PhoneState, tap: Command) -> None:
    state.shade_open = False
    nav.launch(state, tap.arg)


@command("clear_notices")
def _clear_notices(state: PhoneState, tap: Command) -> None:
    state.notices.clear()


# ----------------------------------------------------------------------------------------------------------
# Simple apps: a titled main screen with a little content

SIMPLE_CONTENT: dict[str, tuple[tuple[str, str], ...]] = {
    "gmail": (("Primary", "Inbox"), ("Google", "Security alert for your account"), ("Alex Chen", "Lunch on Friday?"),
              ("Amazon", "Your order has shipped"), ("Netflix", "New arrivals this week"), ("Dana Park", "Photos from the trip")),
    "calculator": (("0", ""), ("7  8  9  /", ""), ("4  5  6  x", ""), ("1  2  3  -", ""), ("0  .  =  +", "")),
    "camera": (("Photo", "Tap the shutter to take a picture"), ("Video", ""), ("Portrait", ""), ("Night Sight", "")),
    "contacts": (("Alex Chen", "(650) 555-0101"), ("Dana Park", "(650) 555-0177"), ("Mom", "(650) 555-0142"),
                 ("Sam Rivera", "(415) 555-0199"), ("Work", "(212) 555-0110")),
    "files": (("Downloads", "12 files"), ("Images", "384 files"), ("Videos", "21 files"), ("Audio", "64 files"),
              ("Documents", "33 files"), ("Apps", "33 apps")),
    "messages": (("Alex Chen", "See you at 7!"), ("Mom", "Call me when you can"), ("22000", "Your code is 481213"),
                 ("Dana Park", "Thanks!")),
    "phone": (("Favorites", ""), ("Recents", "Mom - 2 missed calls"), ("Contacts", ""), ("Keypad", "")),
    "calendar": (("Today", "Team meeting 10:00 AM"), ("Tomorrow", "Dentist 3:30 PM"), ("This week", "4 events"),
                 ("Friday", "Dinner with Alex 7:00 PM"), ("Saturday", "Soccer practice 9:00 AM")),
    "photos": (("Photos", "Today"), ("Search", "People, places, things"), ("Library", "Favorites, Albums"),
               ("Sharing", "")),
    "music": (("Home", "Listen again"), ("Explore", "New releases"), ("Library", "Playlists, albums, songs"),
              ("Now playing", "Nothing is playing")),
    "reddit": (("r/popular", "Top posts today"), ("r/news", "Breaking: markets rally"), ("r/pics", "Sunset over the lake"),
               ("r/AskReddit", "What is a skill everyone should learn?"), ("r/technology", "New phone announced")),
    "google": (("Discover", "Stories for you"), ("Search", "Tap to search"), ("Collections", "")),
}


@view("app_main")
def _app_main(state: PhoneState, b: ScreenBuilder) -> None:
    app = state.page.app
    spec = app_spec(app)
    b.box("app.background", Rect(0, 0, W, state.height_dp), (248, 249, 250))
    bottom = app_bar(b, "app", spec.label, spec.color, up=False)
    col = b.column("list", Rect(0, bottom, W, content_bottom(state)))
    content = SIMPLE_CONTENT.get(app) or ((f"Welcome to {spec.label}", "Everything you need in one place"),
                                          ("Home", ""), ("Explore", ""), ("Account", ""))
    for index, (label, summary) in enumerate(content):
        row(col, f"app.row.{index}", label, summary, ABSORB, height=40, left=4)
    col.close()

