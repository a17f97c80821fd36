"""The simulated apps, driven through taps, typing and keys as an agent would."""

from __future__ import annotations

from coso.env.sim import SimConfig, SimPhone
from coso.env.sim.content import shop_products


def open_app(phone: SimPhone, app: str) -> None:
    phone.press_home()
    phone.swipe(0.5, 0.8, 0.5, 0.3)
    phone.tap_element("drawer.search")
    phone.type_text(app)
    phone.press_enter()
    while phone.state.app_popups.get(app):
        phone.press_back()


def easy_phone(seed: int = 0) -> SimPhone:
    return SimPhone(SimConfig(difficulty="easy"), seed=seed)


def test_chrome_goes_to_a_typed_address_and_searches_the_site() -> None:
    phone = easy_phone()
    open_app(phone, "chrome")
    phone.tap_element("chrome.omnibox")
    phone.type_text("https://www.BestBuy.com/")
    phone.press_enter()
    assert phone.state.page.view == "site_home" and phone.state.page.site == "bestbuy.com"
    phone.tap_element("site.search")
    phone.type_text("razer blade")
    assert phone.state.page.view == "site_home"  # only suggestions so far
    assert phone.element("site.search.suggestion.0").command.text == "razer blade"
    phone.press_enter()
    page = phone.state.page
    assert page.view == "site_results" and page.query == "razer blade"
    first = shop_products("bestbuy.com", "razer blade", phone.state.seed, phone.state.variation)[0]
    phone.tap_element("product.0")
    assert phone.state.page.view == "site_product" and phone.state.page.item == first.title
    assert phone.element("product.title").text == first.title


def test_google_search_widget_suggestions_and_result_pages() -> None:
    phone = easy_phone()
    phone.tap_element("home.search")
    assert phone.state.foreground == "chrome" and phone.state.ui.focus == "google.search"
    phone.type_text("capital of peru")
    phone.tap_element("google.search.suggestion.1")  # a suggestion searches its own text
    assert phone.state.page.view == "google_results"
    assert phone.state.page.query.startswith("capital of peru ")
    phone.tap_element("result.0")
    assert phone.state.page.view == "web_page"


def test_chrome_menu_opens_new_and_incognito_tabs() -> None:
    phone = easy_phone()
    open_app(phone, "chrome")
    phone.tap_element("chrome.menu")
    assert phone.element("chrome_menu.new_incognito_tab") is not None
    phone.tap_element("chrome_menu.new_incognito_tab")
    assert phone.state.page.view == "new_tab" and phone.state.page.incognito
    assert phone.state.chrome_tabs == 2
    phone.tap_element("chrome.menu")
    phone.tap(0.1, 0.8)  # a tap outside the menu closes it
    assert phone.state.ui.menu == ""


def test_play_store_installs_an_app() -> None:
    phone = easy_phone()
    assert "yelp" not in phone.state.installed
    open_app(phone, "play store")
    phone.tap_element("store.search")
    phone.type_text("yelp")
    phone.press_enter()
    phone.tap_element("store.result.0")
    assert phone.state.page.view == "store_app" and phone.state.page.item == "yelp"
    phone.tap_element("store.app.install")
    assert "yelp" in phone.state.installed
    assert phone.element("store.app.open") is not None and phone.element("store.app.install") is None
    phone.tap_element("store.app.open")
    assert phone.state.foreground == "yelp"


def test_youtube_search_and_play() -> None:
    phone = easy_phone()
    open_app(phone, "youtube")
    phone.tap_element("yt.search")
    assert phone.state.ui.focus == "yt.search_field"
    phone.type_text("drake")
    phone.press_enter()
    assert phone.state.page.view == "yt_results" and phone.state.page.query == "drake"
    phone.tap_element("yt.result.0")
    assert phone.state.page.view == "yt_video" and not phone.state.ui.paused
    phone.tap_element("yt.player")
    assert phone.state.ui.paused


def test_maps_results_place_and_directions() -> None:
    phone = easy_phone()
    open_app(phone, "maps")
    phone.tap_element("maps.search")
    phone.type_text("nearest ikea")
    phone.press_enter()
    assert phone.state.page.view == "maps_results"
    phone.tap_element("place.0")
    assert phone.state.page.view == "maps_place"
    phone.tap_element("maps.place.directions")
    assert phone.state.page.view == "maps_directions"
    assert phone.element("maps.directions.to").text == phone.state.page.item


def test_settings_switches_app_info_and_search() -> None:
    phone = easy_phone()
    open_app(phone, "settings")
    phone.tap_element("settings.row.network")
    before = phone.state.toggle("airplane mode")
    phone.tap_element("switch.airplane mode")
    assert phone.state.toggle("airplane mode") is not before
    phone.press_back()
    phone.tap_element("settings.search")
    phone.type_text("spotify")
    phone.tap_element("settings.result.0")
    assert phone.state.page.view == "settings_app_info" and phone.state.page.item == "spotify"
    key = "notifications:spotify"
    before = phone.state.toggle(key)
    phone.tap_element(f"switch.{key}")
    assert phone.state.toggle(key) is not before


def test_clock_adds_an_alarm_with_the_picker() -> None:
    phone = easy_phone()
    open_app(phone, "clock")
    count = len(phone.state.alarms)
    phone.tap_element("alarm.add")
    assert phone.state.ui.menu == "alarm_picker"
    phone.tap_element("picker.hour.9")
    phone.tap_element("picker.minute.30")
    phone.tap_element("picker.plus")
    phone.tap_element("picker.pm")
    phone.tap_element("picker.ok")
    assert len(phone.state.alarms) == count + 1
    alarm = phone.state.alarms[-1]
    assert (alarm.hour, alarm.minute, alarm.enabled) == (21, 31, True)
    assert any(e.text == "9:31 PM" for e in phone.screen().with_prefix("alarm."))


def test_back_at_an_apps_root_returns_home_and_drawer_search_filters() -> None:
    phone = easy_phone()
    open_app(phone, "calculator")
    assert phone.state.foreground == "calculator" and phone.element("app.title").text == "Calculator"
    phone.press_back()
    assert phone.state.foreground == "launcher"
    phone.swipe(0.5, 0.8, 0.5, 0.3)
    phone.tap_element("drawer.search")
    phone.type_text("cam")
    icons = [e.id for e in phone.screen().elements if e.role == "icon"]
    assert icons == ["app.camera"]


def test_notification_shade_tiles_and_notices() -> None:
    phone = easy_phone()
    phone.swipe(0.5, 0.02, 0.5, 0.7)
    before = phone.state.toggle("bluetooth")
    phone.tap_element("tile.bluetooth")
    assert phone.state.toggle("bluetooth") is not before
    app = phone.state.notices[0].app
    phone.tap_element("notice.0")
    assert not phone.state.shade_open and phone.state.foreground == app
