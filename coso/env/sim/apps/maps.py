"""Google Maps: a map with a search box, results lists, place pages and directions."""

from __future__ import annotations

from coso.env.sim import nav
from coso.env.sim.content import Place, maps_results
from coso.env.sim.registry import FIRST_RUN_POPUPS, command, popup, root, submitter, view
from coso.env.sim.state import Page, PhoneState
from coso.env.sim.text import normalize_text, stable_rng
from coso.env.sim.ui import ABSORB, BLUE, GREY, LINE, WHITE, Command, Element, Rect, ScreenBuilder, Style
from coso.env.sim.widgets import STATUS_H, W, button, content_bottom, dialog, icon, suggestions, text_field

MAP_GREEN = (226, 239, 222)
FIRST_RUN_POPUPS["maps"] = "maps_location"
CHIPS = ("Restaurants", "Gas", "Groceries", "Coffee", "Hotels")


@root("maps")
def _maps_root(state: PhoneState) -> Page:
    return Page("maps", "maps_home")


def place_of(state: PhoneState, page: Page) -> Place | None:
    """The place a place or directions page shows."""
    places = maps_results(page.query, state.seed, state.variation)
    return places[page.index] if 0 <= page.index < len(places) else None


def _map(b: ScreenBuilder, state: PhoneState, top: float, bottom: float, salt: str) -> None:
    b.add(Element("maps.map", Rect(0, top, W, bottom), "", "image", ABSORB, Style(fill=MAP_GREEN)))
    rng = stable_rng("map", state.seed, salt)
    for index in range(6):
        if index % 2:
            y = rng.uniform(top + 10, bottom - 10)
            b.add(Element(f"maps.road.{index}", Rect(0, y, W, y + 5), "", "panel", style=Style(fill=WHITE)))
        else:
            x = rng.uniform(10, W - 10)
            b.add(Element(f"maps.road.{index}", Rect(x, top, x + 5, bottom), "", "panel", style=Style(fill=WHITE)))


def _search_box(b: ScreenBuilder, state: PhoneState, value: str) -> float:
    top = STATUS_H + 6
    text_field(b, state, "maps.search", Rect(8, top, W - 8, top + 30), "Search here", value, fill=WHITE)
    return top + 32


@view("maps_home")
def _maps_home(state: PhoneState, b: ScreenBuilder) -> None:
    bottom = content_bottom(state)
    _map(b, state, STATUS_H, bottom, "home")
    icon(b, "maps.you", Rect(W / 2 - 8, 240, W / 2 + 8, 256), "pin", BLUE)
    top = _search_box(b, state, "")
    for index, chip in enumerate(CHIPS):
        x0 = 6 + index * 53
        b.add(Element(f"maps.chip.{index}", Rect(x0, top + 4, x0 + 51, top + 24), chip, "button",
                      Command("suggest", "maps.search", text=chip.lower()),
                      Style(fill=WHITE, outline=LINE, size=8, align="center", shape="round", pad=1)))
    sheet = Rect(0, bottom - 70, W, bottom)
    b.add(Element("maps.sheet", sheet, "", "panel", ABSORB, Style(fill=WHITE, shape="round")))
    b.add(Element("maps.sheet.title", Rect(10, sheet.y0 + 10, W - 10, sheet.y0 + 30), "Explore nearby", "text",
                  style=Style(size=11)))
    b.add(Element("maps.sheet.body", Rect(10, sheet.y0 + 30, W - 10, sheet.y0 + 48), "Latest in the area", "text",
                  style=Style(size=8, color=GREY)))
    suggestions(b, state, "maps.search", top, "maps")


@submitter("maps.search")
def _maps_search(state: PhoneState, text: str) -> None:
    nav.push(state, Page("maps", "maps_results", query=normalize_text(text)))


@view("maps_results")
def _maps_results(state: PhoneState, b: ScreenBuilder) -> None:
    page = state.page
    bottom = content_bottom(state)
    _map(b, state, STATUS_H, bottom, page.query)
    top = _search_box(b, state, page.query)
    sheet_top = top + 80
    b.add(Element("maps.results.sheet", Rect(0, sheet_top, W, bottom), "", "panel", ABSORB, Style(fill=WHITE)))
    col = b.column("results", Rect(0, sheet_top + 4, W, bottom))
    for index, place in enumerate(maps_results(page.query, state.seed, state.variation)):
        rect = col.row(64)
        target = Page("maps", "maps_place", query=page.query, index=index, item=place.name)
        col.add(Element(f"place.{index}", rect, "", "row", Command("push", page=target), Style(fill=WHITE)))
        col.add(Element(f"place.{index}.name", Rect(8, rect.y0 + 4, W - 90, rect.y0 + 22), place.name, "text",
                        style=Style(size=10, pad=0)))
        col.add(Element(f"place.{index}.info", Rect(8, rect.y0 + 22, W - 90, rect.y0 + 38),
                        f"{place.rating} stars - {place.distance}", "text", style=Style(size=8, color=GREY, pad=0)))
        col.add(Element(f"place.{index}.address", Rect(8, rect.y0 + 38, W - 90, rect.y0 + 54), place.address, "text",
                        style=Style(size=8, color=GREY, pad=0)))
        directions = Page("maps", "maps_directions", query=page.query, index=index, item=place.name)
        button(col, f"place.{index}.directions", Rect(W - 86, rect.y0 + 18, W - 8, rect.y0 + 44), "Directions",
               Command("push", page=directions), size=8)
        col.add(Element(f"place.{index}.line", Rect(0, rect.y1 - 1, W, rect.y1), "", "panel", style=Style(fill=LINE)))
    col.close()
    suggestions(b, state, "maps.search", top, "maps")


@view("maps_place")
def _maps_place(state: PhoneState, b: ScreenBuilder) -> None:
    page = state.page
    place = place_of(state, page)
    bottom = content_bottom(state)
    _map(b, state, STATUS_H, STATUS_H + 150, page.item)
    icon(b, "maps.place.up", Rect(6, STATUS_H + 6, 34, STATUS_H + 34), "arrow_left", (40, 40, 40), Command("back"), fill=WHITE,
         shape="ellipse")
    b.add(Element("maps.place.sheet", Rect(0, STATUS_H + 150, W, bottom), "", "panel", ABSORB, Style(fill=WHITE)))
    top = STATUS_H + 156
    b.add(Element("maps.place.name", Rect(8, top, W - 8, top + 24), page.item, "text", style=Style(size=13)))
    if place is not None:
        b.add(Element("maps.place.info", Rect(8, top + 24, W - 8, top + 40), f"{place.rating} stars - {place.distance}",
                      "text", style=Style(size=9, color=GREY)))
        b.add(Element("maps.place.address", Rect(8, top + 40, W - 8, top + 56), place.address, "text",
                      style=Style(size=9, color=GREY)))
    actions = top + 62
    directions = Page("maps", "maps_directions", query=page.query, index=page.index, item=page.item)
    labels = (("directions", "Directions", Command("push", page=directions)), ("start", "Start", ABSORB),
              ("call", "Call", ABSORB), ("save", "Save", ABSORB))
    for index, (suffix, label, tap) in enumerate(labels):
        x0 = 8 + index * 64
        button(b, f"maps.place.{suffix}", Rect(x0, actions, x0 + 60, actions + 26), label, tap,
               fill=BLUE if index == 0 else WHITE, color=WHITE if index == 0 else BLUE, size=8,
               outline=None if index == 0 else LINE)


@view("maps_directions")
def _maps_directions(state: PhoneState, b: ScreenBuilder) -> None:
    page = state.page
    place = place_of(state, page)
    bottom = content_bottom(state)
    b.add(Element("maps.directions.panel", Rect(0, STATUS_H, W, STATUS_H + 84), "", "panel", ABSORB, Style(fill=WHITE)))
    icon(b, "maps.directions.up", Rect(4, STATUS_H + 6, 30, STATUS_H + 32), "arrow_left", (40, 40, 40), Command("back"))
    b.add(Element("maps.directions.from", Rect(34, STATUS_H + 6, W - 8, STATUS_H + 30), "Your location", "text",
                  style=Style(fill=(240, 240, 240), size=9, shape="round")))
    b.add(Element("maps.directions.to", Rect(34, STATUS_H + 34, W - 8, STATUS_H + 58), page.item, "text",
                  style=Style(fill=(240, 240, 240), size=9, shape="round")))
    for index, mode in enumerate(("Drive", "Transit", "Walk", "Bike")):
        b.add(Element(f"maps.directions.mode.{index}", Rect(34 + index * 56, STATUS_H + 62, 88 + index * 56, STATUS_H + 80),
                      mode, "tab", ABSORB, Style(fill=(210, 227, 252) if index == 0 else None, size=8, align="center",
                                                shape="round", pad=0)))
    _map(b, state, STATUS_H + 84, bottom - 64, "route" + page.item)
    minutes = 4 + int(float(place.distance.split()[0]) * 3) if place else 10
    b.add(Element("maps.directions.summary", Rect(0, bottom - 64, W, bottom), "", "panel", ABSORB, Style(fill=WHITE)))
    b.add(Element("maps.directions.eta", Rect(8, bottom - 60, W - 100, bottom - 36), f"{minutes} min", "text",
                  style=Style(size=13, color=(24, 128, 56))))
    b.add(Element("maps.directions.via", Rect(8, bottom - 36, W - 100, bottom - 16),
                  f"{place.distance if place else ''} - fastest route", "text", style=Style(size=8, color=GREY)))
    button(b, "maps.directions.start", Rect(W - 92, bottom - 52, W - 8, bottom - 22), "Start", ABSORB)


@popup("maps_location")
def _maps_location(state: PhoneState, b: ScreenBuilder) -> None:
    dialog(b, state, "maps_location", "Turn on device location?", "For a better experience, turn on location",
           [("no_thanks", "No thanks", Command("dismiss", "maps_location")),
            ("turn_on", "Turn on", Command("maps_location_on"))])


@command("maps_location_on")
def _location_on(state: PhoneState, tap: Command) -> None:
    state.toggles["location"] = True
    nav.dismiss(state, "maps_location")
