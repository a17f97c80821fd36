"""The Play Store: search, results, app pages with Install / Open / Uninstall."""

from __future__ import annotations

from coso.env.sim import nav
from coso.env.sim.catalog import app_spec, store_search
from coso.env.sim.content import app_rating, store_featured, store_results
from coso.env.sim.registry import command, root, submitter, view
from coso.env.sim.state import Page, PhoneState
from coso.env.sim.text import normalize_text
from coso.env.sim.ui import ABSORB, GREY, LINE, WHITE, Command, Element, Rect, ScreenBuilder, ScrollColumn, Style
from coso.env.sim.widgets import STATUS_H, W, button, content_bottom, icon, suggestions, text_field

STORE_GREEN = (1, 135, 95)


@root("play store")
def _store_root(state: PhoneState) -> Page:
    return Page("play store", "store_home")


def _search_bar(b: ScreenBuilder, state: PhoneState, value: str) -> float:
    top = STATUS_H + 6
    text_field(b, state, "store.search", Rect(8, top, W - 8, top + 30), "Search for apps & games", value)
    return top + 34


def _app_icon(col: ScreenBuilder | ScrollColumn, element_id: str, rect: Rect, app: str) -> None:
    spec = app_spec(app)
    col.add(Element(element_id, rect, spec.label[:1].upper(), "image",
                    style=Style(fill=spec.color, color=WHITE, size=14, align="center", shape="round", pad=0)))


def _store_suggestions(b: ScreenBuilder, state: PhoneState, top: float) -> None:
    names = [app_spec(app).label.lower() for app in store_search(state.ui.text)] if state.ui.editing else []
    suggestions(b, state, "store.search", top, "store", names[:3])


def _install_label(state: PhoneState, app: str) -> str:
    return "Installed" if app in state.installed else "Install"


@view("store_home")
def _store_home(state: PhoneState, b: ScreenBuilder) -> None:
    b.box("page.background", Rect(0, 0, W, state.height_dp), WHITE)
    top = _search_bar(b, state, "")
    for index, label in enumerate(("For you", "Top charts", "Kids", "Categories")):
        b.add(Element(f"store.tab.{index}", Rect(8 + index * 64, top, 70 + index * 64, top + 20), label, "tab", ABSORB,
                      Style(color=STORE_GREEN if index == 0 else GREY, size=9, align="center", pad=0)))
    col = b.column("list", Rect(0, top + 24, W, content_bottom(state)))
    col.add(Element("store.recommended", col.row(24), "Recommended for you", "text", style=Style(size=11)))
    for index, app in enumerate(store_featured(state.seed)):
        _entry_row(col, state, f"store.featured.{index}", app, "", index, ad=False)
    col.close()
    _store_suggestions(b, state, top - 2)


def _entry_row(col: ScrollColumn, state: PhoneState, element_id: str, app: str, query: str, index: int, ad: bool) -> None:
    spec = app_spec(app)
    rect = col.row(56)
    target = Page("play store", "store_app", query=query, index=index, item=spec.name)
    col.add(Element(element_id, rect, "", "row", Command("push", page=target), Style(fill=WHITE)))
    _app_icon(col, f"{element_id}.icon", Rect(8, rect.y0 + 8, 48, rect.y1 - 8), spec.name)
    label = f"Ad - {spec.label}" if ad else spec.label
    col.add(Element(f"{element_id}.label", Rect(54, rect.y0 + 6, W - 70, rect.y0 + 24), label, "text", style=Style(size=10, pad=2)))
    rating, downloads = app_rating(spec.name)
    col.add(Element(f"{element_id}.info", Rect(54, rect.y0 + 24, W - 70, rect.y1 - 6), f"{spec.developer} - {rating}",
                    "text", style=Style(size=8, color=GREY, pad=2)))
    installed = spec.name in state.installed
    button(col, f"{element_id}.install", Rect(W - 66, rect.y0 + 16, W - 8, rect.y1 - 16),
           "Installed" if installed else "Install", ABSORB if installed else Command("install", spec.name),
           fill=WHITE if installed else STORE_GREEN, color=GREY if installed else WHITE, size=8,
           outline=LINE if installed else None)
    col.add(Element(f"{element_id}.line", Rect(54, rect.y1 - 1, W, rect.y1), "", "panel", style=Style(fill=LINE)))


@view("store_results")
def _store_results(state: PhoneState, b: ScreenBuilder) -> None:
    page = state.page
    b.box("page.background", Rect(0, 0, W, state.height_dp), WHITE)
    top = _search_bar(b, state, page.query)
    col = b.column("list", Rect(0, top, W, content_bottom(state)))
    for index, entry in enumerate(store_results(page.query, state.seed, state.variation)):
        _entry_row(col, state, f"store.result.{index}", entry.app, page.query, index, entry.ad)
    col.close()
    _store_suggestions(b, state, top - 2)


@view("store_app")
def _store_app(state: PhoneState, b: ScreenBuilder) -> None:
    page = state.page
    spec = app_spec(page.item)
    b.box("page.background", Rect(0, 0, W, state.height_dp), WHITE)
    icon(b, "store.app.up", Rect(4, STATUS_H + 4, 32, STATUS_H + 32), "arrow_left", (60, 60, 60), Command("back"))
    icon(b, "store.app.search", Rect(W - 34, STATUS_H + 4, W - 6, STATUS_H + 32), "search", (60, 60, 60),
         Command("push", page=Page("play store", "store_home")))
    top = STATUS_H + 38
    _app_icon(b, "store.app.icon", Rect(12, top, 68, top + 56), spec.name)
    b.add(Element("store.app.name", Rect(74, top + 2, W - 8, top + 24), spec.label, "text", style=Style(size=13, pad=2)))
    b.add(Element("store.app.developer", Rect(74, top + 24, W - 8, top + 40), spec.developer, "text",
                  style=Style(size=9, color=STORE_GREEN, pad=2)))
    rating, downloads = app_rating(spec.name)
    b.add(Element("store.app.stats", Rect(12, top + 62, W - 8, top + 80), f"{rating} stars   {downloads} downloads   Rated for 3+",
                  "text", style=Style(size=9, color=GREY, pad=0)))
    buttons_top = top + 86
    if spec.name in state.installed:
        if not spec.system:
            button(b, "store.app.uninstall", Rect(12, buttons_top, W / 2 - 4, buttons_top + 30), "Uninstall",
                   Command("uninstall", spec.name), fill=WHITE, color=STORE_GREEN, outline=LINE)
        button(b, "store.app.open", Rect(W / 2 + 4, buttons_top, W - 12, buttons_top + 30), "Open",
               Command("launch", spec.name), fill=STORE_GREEN)
    else:
        button(b, "store.app.install", Rect(12, buttons_top, W - 12, buttons_top + 30), "Install",
               Command("install", spec.name), fill=STORE_GREEN)
    col = b.column("list", Rect(0, buttons_top + 38, W, content_bottom(state)))
    col.add(Element("store.app.about", col.row(24), "About this app", "text", style=Style(size=11)))
    for index, line in enumerate((f"{spec.label}: the official app.", "Fast, simple and secure.",
                                  "Updated on Aug 2, 2023", "Contains ads - In-app purchases")):
        col.add(Element(f"store.app.about.{index}", col.row(18), line, "text", style=Style(size=9, color=(60, 60, 60))))
    col.close()


@submitter("store.search")
def _store_search(state: PhoneState, text: str) -> None:
    nav.push(state, Page("play store", "store_results", query=normalize_text(text)))


@command("install")
def _install(state: PhoneState, tap: Command) -> None:
    app = app_spec(tap.arg).name
    if app not in state.installed:
        state.installed.append(app)
        state.toggles[f"notifications:{app}"] = True


@command("uninstall")
def _uninstall(state: PhoneState, tap: Command) -> None:
    app = app_spec(tap.arg).name
    if app in state.installed and not app_spec(app).system:
        state.installed.remove(app)
        state.stacks.pop(app, None)
