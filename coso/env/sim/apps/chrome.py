"""Chrome: the toolbar with its address bar and menu, Google search and results, web pages, new tabs."""

from __future__ import annotations

from coso.env.sim import nav
from coso.env.sim.catalog import site_spec
from coso.env.sim.content import google_results
from coso.env.sim.registry import FIRST_RUN_POPUPS, command, popup, root, submitter, view
from coso.env.sim.state import Page, PhoneState
from coso.env.sim.text import normalize_text, stable_rng, url_domain
from coso.env.sim.ui import ABSORB, BLUE, GREY, LIGHT, LINE, WHITE, Command, Element, Rect, ScreenBuilder, Style
from coso.env.sim.widgets import STATUS_H, W, content_bottom, dialog, icon, suggestions, text_field

TOOLBAR_BOTTOM = STATUS_H + 34.0
INCOGNITO_BG = (50, 54, 60)
FIRST_RUN_POPUPS["chrome"] = "chrome_sync"


@root("chrome")
def _chrome_root(state: PhoneState) -> Page:
    return state.layout.chrome_start


def omnibox_text(page: Page) -> str:
    """What the address bar shows for a page."""
    if page.view == "google_results":
        return page.query
    return page.site


def toolbar(b: ScreenBuilder, state: PhoneState) -> None:
    """Chrome's toolbar: address bar, tab count and the menu button; with the omnibox suggestions."""
    page = state.page
    dark = page.incognito
    b.add(Element("chrome.toolbar", Rect(0, STATUS_H, W, TOOLBAR_BOTTOM), "", "panel", ABSORB,
                  Style(fill=INCOGNITO_BG if dark else WHITE)))
    text_field(b, state, "chrome.omnibox", Rect(6, STATUS_H + 4, 200, TOOLBAR_BOTTOM - 4),
               "Search or type web address", omnibox_text(page),
               fill=(80, 84, 90) if dark else LIGHT, color=WHITE if dark else (20, 20, 20))
    b.add(Element("chrome.tabs", Rect(206, STATUS_H + 8, 228, TOOLBAR_BOTTOM - 8), str(state.chrome_tabs), "button",
                  ABSORB, Style(outline=WHITE if dark else (60, 60, 60), color=WHITE if dark else (60, 60, 60),
                                size=9, align="center", pad=0, shape="round")))
    icon(b, "chrome.menu", Rect(234, STATUS_H + 4, 264, TOOLBAR_BOTTOM - 4), "menu", WHITE if dark else (60, 60, 60),
         Command("menu", "chrome_menu"))
    b.add(Element("chrome.toolbar.line", Rect(0, TOOLBAR_BOTTOM - 1, W, TOOLBAR_BOTTOM), "", "panel", style=Style(fill=LINE)))


def omnibox_suggestions(b: ScreenBuilder, state: PhoneState) -> None:
    """The omnibox dropdown: the typed address (when it is one) and search suggestions."""
    domain = url_domain(state.ui.text)
    suggestions(b, state, "chrome.omnibox", TOOLBAR_BOTTOM, "omnibox", [domain] if domain else None)


def chrome_page(state: PhoneState, view_name: str, **fields: object) -> Page:
    """A Chrome page that keeps the current tab's incognito mode."""
    return Page("chrome", view_name, incognito=state.page.incognito if state.foreground == "chrome" else False,
                **fields)  # type: ignore[arg-type]


def open_address(state: PhoneState, domain: str) -> None:
    """Load a site: Google's home, a shop (site template) or a generic web page."""
    spec = site_spec(domain)
    if spec.kind == "google":
        nav.push(state, chrome_page(state, "google_home", site="google.com"))
    elif spec.kind == "shop":
        nav.push(state, chrome_page(state, "site_home", site=spec.domain))
    else:
        nav.push(state, chrome_page(state, "web_page", site=spec.domain, item=spec.name))


@submitter("chrome.omnibox")
def _omnibox_enter(state: PhoneState, text: str) -> None:
    domain = url_domain(text)
    if domain:
        open_address(state, domain)
    else:
        nav.push(state, chrome_page(state, "google_results", site="google.com", query=normalize_text(text)))


@submitter("google.search")
def _google_enter(state: PhoneState, text: str) -> None:
    nav.push(state, chrome_page(state, "google_results", site="google.com", query=normalize_text(text)))


SHORTCUTS = ("youtube.com", "wikipedia.org", "amazon.com", "ebay.com", "cnn.com", "weather.com", "reddit.com", "espn.com")


def _shortcuts(b: ScreenBuilder, state: PhoneState, top: float, dark: bool) -> None:
    rng = stable_rng("shortcuts", state.seed)
    sites = rng.sample(SHORTCUTS, 4)
    tile_w = (W - 24) / 4
    for index, domain in enumerate(sites):
        spec = site_spec(domain)
        x0 = 12 + index * tile_w
        b.add(Element(f"shortcut.{domain}", Rect(x0, top, x0 + tile_w, top + 52), "", "icon",
                      Command("open_site", domain)))
        b.add(Element(f"shortcut.{domain}.icon", Rect(x0 + tile_w / 2 - 14, top + 2, x0 + tile_w / 2 + 14, top + 30),
                      spec.name[:1], "image", style=Style(fill=spec.color, color=WHITE, size=12, align="center",
                                                         shape="ellipse", pad=0)))
        b.add(Element(f"shortcut.{domain}.label", Rect(x0, top + 32, x0 + tile_w, top + 48), spec.name, "text",
                      style=Style(color=WHITE if dark else (40, 40, 40), size=8, align="center", pad=1)))


@command("open_site")
def _open_site(state: PhoneState, tap: Command) -> None:
    open_address(state, tap.arg)


def _google_logo(b: ScreenBuilder, y: float) -> None:
    colors = ((66, 133, 244), (234, 67, 53), (251, 188, 4), (66, 133, 244), (52, 168, 83), (234, 67, 53))
    x = W / 2 - 45
    for index, letter in enumerate("Google"):
        b.add(Element(f"google.logo.{index}", Rect(x + index * 15, y, x + index * 15 + 15, y + 30), letter, "text",
                      style=Style(color=colors[index], size=20, align="center", pad=0)))


@view("google_home")
def _google_home(state: PhoneState, b: ScreenBuilder) -> None:
    b.box("page.background", Rect(0, 0, W, state.height_dp), WHITE)
    toolbar(b, state)
    _google_logo(b, TOOLBAR_BOTTOM + 40)
    field_top = TOOLBAR_BOTTOM + 84
    text_field(b, state, "google.search", Rect(16, field_top, W - 16, field_top + 30), "Search Google")
    _shortcuts(b, state, field_top + 48, dark=False)
    suggestions(b, state, "google.search", field_top + 32, "google")
    omnibox_suggestions(b, state)


@view("google_results")
def _google_results(state: PhoneState, b: ScreenBuilder) -> None:
    page = state.page
    b.box("page.background", Rect(0, 0, W, state.height_dp), WHITE)
    toolbar(b, state)
    top = TOOLBAR_BOTTOM + 4
    b.add(Element("google.small_logo", Rect(8, top, 60, top + 26), "Google", "text", style=Style(color=BLUE, size=12, pad=0)))
    text_field(b, state, "google.search", Rect(62, top, W - 8, top + 26), "Search", page.query)
    tabs_top = top + 30
    for index, label in enumerate(("All", "Images", "News", "Maps", "Shopping")):
        b.add(Element(f"google.tab.{index}", Rect(8 + index * 50, tabs_top, 56 + index * 50, tabs_top + 18), label,
                      "tab", style=Style(color=BLUE if index == 0 else GREY, size=9, align="center", pad=0)))
    col = b.column("results", Rect(0, tabs_top + 22, W, content_bottom(state)))
    for index, result in enumerate(google_results(page.query, state.seed, state.variation)):
        block = col.row(64)
        target = chrome_page(state, "web_page", site=result.domain, query=page.query, index=index, item=result.title)
        col.add(Element(f"result.{index}", block, "", "link", Command("push", page=target), Style(fill=WHITE)))
        col.add(Element(f"result.{index}.domain", Rect(8, block.y0 + 4, W - 8, block.y0 + 18), result.domain, "text",
                        style=Style(color=GREY, size=8, pad=0)))
        col.add(Element(f"result.{index}.title", Rect(8, block.y0 + 18, W - 8, block.y0 + 36), result.title, "text",
                        style=Style(color=(26, 13, 171), size=11, pad=0)))
        col.add(Element(f"result.{index}.snippet", Rect(8, block.y0 + 36, W - 8, block.y0 + 54), result.snippet, "text",
                        style=Style(color=(70, 70, 70), size=8, pad=0)))
        col.add(Element(f"result.{index}.line", Rect(0, block.y1 - 1, W, block.y1), "", "panel", style=Style(fill=LINE)))
    col.close()
    suggestions(b, state, "google.search", top + 28, "google")
    omnibox_suggestions(b, state)


@view("web_page")
def _web_page(state: PhoneState, b: ScreenBuilder) -> None:
    page = state.page
    spec = site_spec(page.site)
    b.box("page.background", Rect(0, 0, W, state.height_dp), WHITE)
    toolbar(b, state)
    b.add(Element("web.header", Rect(0, TOOLBAR_BOTTOM, W, TOOLBAR_BOTTOM + 30), spec.name, "text",
                  style=Style(fill=spec.color, color=WHITE, size=12)))
    col = b.column("page", Rect(0, TOOLBAR_BOTTOM + 30, W, content_bottom(state)))
    col.add(Element("web.title", col.row(40), page.item or spec.name, "text", style=Style(size=13)))
    rng = stable_rng("web", page.site, page.item)
    sentences = ("Updated a few hours ago.", "Read the full story below.", "Experts weigh in on the details.",
                 "Here is what we know so far.", "Photos and more information.", "Share this article.",
                 "Related coverage from our editors.", "Sign up for the daily newsletter.")
    for index in range(10):
        col.add(Element(f"web.line.{index}", col.row(18), rng.choice(sentences), "text",
                        style=Style(size=9, color=(60, 60, 60))))
    col.close()
    omnibox_suggestions(b, state)


@view("new_tab")
def _new_tab(state: PhoneState, b: ScreenBuilder) -> None:
    page = state.page
    if page.incognito:
        b.box("page.background", Rect(0, 0, W, state.height_dp), (32, 33, 36))
        toolbar(b, state)
        top = TOOLBAR_BOTTOM + 50
        b.add(Element("ntp.incognito.title", Rect(16, top, W - 16, top + 30), "You've gone Incognito", "text",
                      style=Style(color=WHITE, size=14)))
        for index, line in enumerate(("Others who use this device won't see your activity,",
                                      "so you can browse more privately. This won't change",
                                      "how data is collected by websites you visit.")):
            b.add(Element(f"ntp.incognito.line.{index}", Rect(16, top + 36 + 16 * index, W - 16, top + 52 + 16 * index),
                          line, "text", style=Style(color=(200, 200, 205), size=8)))
    else:
        b.box("page.background", Rect(0, 0, W, state.height_dp), WHITE)
        toolbar(b, state)
        _google_logo(b, TOOLBAR_BOTTOM + 40)
        field_top = TOOLBAR_BOTTOM + 84
        b.add(Element("ntp.search", Rect(16, field_top, W - 16, field_top + 30), "Search or type web address", "field",
                      Command("focus", "chrome.omnibox"), Style(fill=LIGHT, color=GREY, size=10, shape="round", pad=10)))
        _shortcuts(b, state, field_top + 48, dark=False)
    omnibox_suggestions(b, state)


@popup("chrome_menu")
def _chrome_menu(state: PhoneState, b: ScreenBuilder) -> None:
    b.add(Element("chrome_menu.outside", Rect(0, STATUS_H, W, content_bottom(state)), "", "panel",
                  Command("dismiss", "chrome_menu")))
    items = (("new_tab", "New tab", Command("new_tab", index=0)),
             ("new_incognito_tab", "New Incognito tab", Command("new_tab", index=1)),
             ("history", "History", ABSORB), ("downloads", "Downloads", ABSORB), ("bookmarks", "Bookmarks", ABSORB),
             ("recent_tabs", "Recent tabs", ABSORB), ("share", "Share...", ABSORB), ("settings", "Settings", ABSORB))
    top = STATUS_H + 4
    b.add(Element("chrome_menu", Rect(110, top, W - 4, top + 8 + 30 * len(items)), "", "popup", ABSORB,
                  Style(fill=WHITE, outline=LINE, shape="round")))
    for index, (suffix, label, tap) in enumerate(items):
        y = top + 4 + 30 * index
        b.add(Element(f"chrome_menu.{suffix}", Rect(112, y, W - 6, y + 30), label, "row", tap, Style(size=10)))


@command("new_tab")
def _new_tab_command(state: PhoneState, tap: Command) -> None:
    state.chrome_tabs += 1
    nav.push(state, Page("chrome", "new_tab", incognito=tap.index == 1))


@popup("chrome_sync")
def _chrome_sync(state: PhoneState, b: ScreenBuilder) -> None:
    dialog(b, state, "chrome_sync", "Turn on sync?", "Get your bookmarks and passwords everywhere",
           [("no_thanks", "No thanks", Command("dismiss", "chrome_sync")),
            ("accept", "Yes, I'm in", Command("dismiss", "chrome_sync"))])

