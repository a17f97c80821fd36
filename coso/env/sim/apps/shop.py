"""Shopping sites in Chrome (one template, branded per site): home page, search results, product pages,
and the cookie banner and sign-in popup that cover content until dismissed."""

from __future__ import annotations

from coso.env.sim import nav
from coso.env.sim.apps.chrome import TOOLBAR_BOTTOM, chrome_page, omnibox_suggestions, toolbar
from coso.env.sim.catalog import site_spec
from coso.env.sim.content import Product, featured_products, shop_products
from coso.env.sim.registry import command, on_enter, popup, submitter, view
from coso.env.sim.state import Page, PhoneState
from coso.env.sim.text import normalize_text, stable_rng
from coso.env.sim.ui import ABSORB, GREY, LINE, WHITE, Command, Element, Rect, ScreenBuilder, ScrollColumn, Style
from coso.env.sim.widgets import W, button, content_bottom, dialog, icon, suggestions, text_field

HEADER_H = 30.0
SEARCH_H = 30.0
COOKIE_PROB = 0.8  # times the variation: chance a site shows a cookie banner in an episode
SIGNIN_PROB = 0.6  # times the variation: chance of a sign-in popup


def _site_popups_for(state: PhoneState, site: str) -> list[str]:
    rng = stable_rng("site-popups", state.seed, site)
    popups = []
    if rng.random() < COOKIE_PROB * state.variation:
        popups.append("cookies")
    if rng.random() < SIGNIN_PROB * state.variation:
        popups.append("signin")
    return popups


def _enter_site(state: PhoneState, page: Page) -> None:
    """The first visit of a site in an episode decides which popups it shows (seeded per site)."""
    if page.site not in state.site_popups:
        state.site_popups[page.site] = _site_popups_for(state, page.site)


for _view_name in ("site_home", "site_results", "site_product"):
    on_enter(_view_name)(_enter_site)


def _header(b: ScreenBuilder, state: PhoneState) -> float:
    """The site's branded header and search box; returns the y where page content starts."""
    page = state.page
    spec = site_spec(page.site)
    top = TOOLBAR_BOTTOM
    b.add(Element("site.header", Rect(0, top, W, top + HEADER_H + SEARCH_H + 8), "", "panel", ABSORB,
                  Style(fill=spec.color)))
    icon(b, "site.menu", Rect(4, top + 3, 28, top + HEADER_H - 3), "hamburger", WHITE, ABSORB)
    b.add(Element("site.logo", Rect(30, top, 200, top + HEADER_H), spec.name, "text", style=Style(color=WHITE, size=13)))
    cart = state.cart.get(page.site, 0)
    icon(b, "site.cart", Rect(W - 34, top + 3, W - 8, top + HEADER_H - 3), "cart", WHITE, ABSORB)
    if cart:
        b.add(Element("site.cart.count", Rect(W - 14, top + 2, W - 2, top + 12), str(cart), "text",
                      style=Style(fill=(255, 200, 0), size=7, align="center", pad=0, shape="ellipse")))
    field_top = top + HEADER_H
    text_field(b, state, "site.search", Rect(8, field_top, W - 8, field_top + SEARCH_H - 4), f"Search {spec.name}",
               page.query if page.view == "site_results" else "", fill=WHITE)
    return field_top + SEARCH_H + 8


def _overlays(b: ScreenBuilder, state: PhoneState, search_bottom: float) -> None:
    suggestions(b, state, "site.search", search_bottom - 8, "shop:" + state.page.site)
    omnibox_suggestions(b, state)


@view("site_home")
def _site_home(state: PhoneState, b: ScreenBuilder) -> None:
    page = state.page
    spec = site_spec(page.site)
    b.box("page.background", Rect(0, 0, W, state.height_dp), (246, 246, 248))
    toolbar(b, state)
    top = _header(b, state)
    col = b.column("page", Rect(0, top, W, content_bottom(state)))
    banner = state.layout.site_banner.get(spec.domain, 0.0)
    if banner > 0:
        rect = col.row(banner)
        col.add(Element("site.banner", Rect(8, rect.y0 + 6, W - 8, rect.y1 - 4), "Holiday deals - save up to 40%", "image",
                        ABSORB, Style(fill=(255, 228, 120), size=11, align="center", shape="round")))
    col.add(Element("site.categories.title", col.row(24), "Shop by category", "text", style=Style(size=11)))
    tiles = spec.categories
    for start in range(0, len(tiles), 2):
        line = col.row(34)
        for offset, category in enumerate(tiles[start:start + 2]):
            x0 = 8 + offset * (W - 16) / 2
            target = chrome_page(state, "site_results", site=page.site, query=normalize_text(category))
            col.add(Element(f"site.category.{start + offset}", Rect(x0 + 2, line.y0 + 2, x0 + (W - 16) / 2 - 2, line.y1 - 2),
                            category, "button", Command("push", page=target),
                            Style(fill=WHITE, outline=LINE, size=9, align="center", shape="round")))
    col.add(Element("site.featured.title", col.row(24), "Featured", "text", style=Style(size=11)))
    for index, product in enumerate(featured_products(page.site, state.seed)):
        target = chrome_page(state, "site_product", site=page.site, query="", index=index, item=product.title)
        _product_row(col, f"site.featured.{index}", product.title, product.price, product.rating, target)
    col.close()
    _overlays(b, state, top)


def _product_row(col: ScrollColumn, element_id: str, title: str, price: float, rating: float, target: Page) -> None:
    rect = col.row(58)
    col.add(Element(element_id, rect, "", "row", Command("push", page=target), Style(fill=WHITE)))
    col.add(Element(f"{element_id}.image", Rect(8, rect.y0 + 6, 52, rect.y1 - 6), "", "image",
                    style=Style(fill=(214, 220, 228), shape="round")))
    col.add(Element(f"{element_id}.title", Rect(56, rect.y0 + 4, W - 4, rect.y0 + 22), title, "text",
                    style=Style(size=10, pad=2)))
    col.add(Element(f"{element_id}.price", Rect(56, rect.y0 + 22, W - 4, rect.y0 + 38), f"${price:,.2f}", "text",
                    style=Style(size=10, pad=2, color=(180, 30, 30))))
    col.add(Element(f"{element_id}.rating", Rect(56, rect.y0 + 38, W - 4, rect.y1 - 4), f"{rating} out of 5 stars", "text",
                    style=Style(size=8, pad=2, color=GREY)))
    col.add(Element(f"{element_id}.line", Rect(0, rect.y1 - 1, W, rect.y1), "", "panel", style=Style(fill=LINE)))


@view("site_results")
def _site_results(state: PhoneState, b: ScreenBuilder) -> None:
    page = state.page
    b.box("page.background", Rect(0, 0, W, state.height_dp), (246, 246, 248))
    toolbar(b, state)
    top = _header(b, state)
    col = b.column("page", Rect(0, top, W, content_bottom(state)))
    products = shop_products(page.site, page.query, state.seed, state.variation)
    col.add(Element("site.results.title", col.row(22), f"{len(products)} results for \u201c{page.query}\u201d", "text",
                    style=Style(size=10, color=(60, 60, 60))))
    line = col.row(26)
    for index, label in enumerate(("Sort: Best Match", "Filter", "Price")):
        x0 = 8 + index * 86
        col.add(Element(f"site.filter.{index}", Rect(x0, line.y0 + 3, x0 + 82, line.y1 - 3), label, "button", ABSORB,
                        Style(fill=WHITE, outline=LINE, size=8, align="center", shape="round", pad=1)))
    for index, product in enumerate(products):
        target = chrome_page(state, "site_product", site=page.site, query=page.query, index=index, item=product.title)
        _product_row(col, f"product.{index}", product.title, product.price, product.rating, target)
    col.close()
    _overlays(b, state, top)


def product_of(state: PhoneState, page: Page) -> Product:
    """The product a product page shows (from the results of its query, or the home page's featured list)."""
    if page.query:
        products = shop_products(page.site, page.query, state.seed, state.variation)
    else:
        products = featured_products(page.site, state.seed)
    if 0 <= page.index < len(products):
        return products[page.index]
    return Product(page.item, 0.0, 0.0, 0)


@view("site_product")
def _site_product(state: PhoneState, b: ScreenBuilder) -> None:
    page = state.page
    b.box("page.background", Rect(0, 0, W, state.height_dp), WHITE)
    toolbar(b, state)
    top = _header(b, state)
    col = b.column("page", Rect(0, top, W, content_bottom(state)))
    if page.query:
        col.add(Element("product.back", col.row(20), f"< Back to results for \u201c{page.query}\u201d", "link",
                        Command("back"), Style(size=8, color=(26, 115, 232))))
    col.add(Element("product.title", col.row(36), page.item, "text", style=Style(size=12)))
    image = col.row(110)
    col.add(Element("product.image", Rect(40, image.y0 + 4, W - 40, image.y1 - 4), "", "image",
                    style=Style(fill=(214, 220, 228), shape="round")))
    col.add(Element("product.price", col.row(24), f"${product_of(state, page).price:,.2f}", "text",
                    style=Style(size=13, color=(180, 30, 30))))
    cart = col.row(36)
    button(col, "product.add_to_cart", Rect(16, cart.y0 + 4, W - 16, cart.y1 - 4), "Add to cart", Command("add_to_cart"),
           fill=(255, 196, 0), color=(20, 20, 20))
    for index, line in enumerate(("Free shipping on orders over $35", "Pick up today at a store near you",
                                  "30-day returns", "Specifications", "Reviews")):
        col.add(Element(f"product.info.{index}", col.row(20), line, "text", style=Style(size=9, color=(60, 60, 60))))
    col.close()
    _overlays(b, state, top)


@submitter("site.search")
def _site_search(state: PhoneState, text: str) -> None:
    nav.push(state, chrome_page(state, "site_results", site=state.page.site, query=normalize_text(text)))


@command("add_to_cart")
def _add_to_cart(state: PhoneState, tap: Command) -> None:
    state.cart[state.page.site] = state.cart.get(state.page.site, 0) + 1


@popup("cookies")
def _cookies(state: PhoneState, b: ScreenBuilder) -> None:
    bottom = content_bottom(state)
    sheet = Rect(0, bottom - 92, W, bottom)
    b.add(Element("cookies", sheet, "", "popup", ABSORB, Style(fill=(250, 250, 250), outline=LINE)))
    name = site_spec(state.page.site).name
    b.add(Element("cookies.title", Rect(8, sheet.y0 + 6, W - 8, sheet.y0 + 24), "We value your privacy", "text",
                  style=Style(size=11)))
    b.add(Element("cookies.body", Rect(8, sheet.y0 + 24, W - 8, sheet.y0 + 42), f"{name} uses cookies to improve your experience.",
                  "text", style=Style(size=8, color=GREY)))
    button(b, "cookies.manage", Rect(8, sheet.y1 - 40, W / 2 - 4, sheet.y1 - 12), "Manage", ABSORB, fill=WHITE,
           color=(26, 115, 232), outline=LINE)
    button(b, "cookies.accept", Rect(W / 2 + 4, sheet.y1 - 40, W - 8, sheet.y1 - 12), "Accept all",
           Command("dismiss", "cookies"))


@popup("signin")
def _signin(state: PhoneState, b: ScreenBuilder) -> None:
    name = site_spec(state.page.site).name
    area = Rect(0, TOOLBAR_BOTTOM, W, content_bottom(state))
    card = dialog(b, state, "signin", f"Sign in to {name}", "Get member prices and track orders",
                  [("no_thanks", "No thanks", Command("dismiss", "signin")), ("sign_in", "Sign in", ABSORB)],
                  area=area, height=110)
    icon(b, "signin.close", Rect(card.x1 - 26, card.y0 + 4, card.x1 - 4, card.y0 + 26), "close", GREY,
         Command("dismiss", "signin"))
