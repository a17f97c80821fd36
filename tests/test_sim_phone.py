"""The simulated phone as a device: rendering, hit-testing, keys, determinism, layout variation, config."""

from __future__ import annotations

import pytest
from PIL import Image

from coso.env.base import Device
from coso.env.sim import FaultConfig, SimConfig, SimPhone
from coso.errors import ConfigError


def open_app(phone: SimPhone, app: str) -> None:
    """Open an app through the drawer's search box (works whatever the icon layout)."""
    phone.press_home()
    phone.swipe(0.5, 0.8, 0.5, 0.3)
    phone.tap_element("drawer.search")
    phone.type_text(app)
    phone.press_enter()
    while phone.state.app_popups.get(app):
        phone.press_back()


def test_implements_the_device_protocol() -> None:
    assert isinstance(SimPhone(), Device)


@pytest.mark.parametrize("size", [(270, 480), (216, 384), (540, 960)])
def test_screenshots_are_portrait_rgb_of_the_configured_size(size: tuple[int, int]) -> None:
    phone = SimPhone(SimConfig(width=size[0], height=size[1]))
    image = phone.screenshot()
    assert isinstance(image, Image.Image)
    assert image.mode == "RGB" and image.size == size
    assert phone.window_size() == size
    assert len(image.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 8  # not blank


def test_different_screens_render_differently() -> None:
    phone = SimPhone(SimConfig(difficulty="easy"), seed=1)
    home = phone.screenshot().tobytes()
    phone.swipe(0.5, 0.8, 0.5, 0.3)
    drawer = phone.screenshot().tobytes()
    open_app(phone, "settings")
    settings = phone.screenshot().tobytes()
    open_app(phone, "chrome")
    chrome = phone.screenshot().tobytes()
    assert len({home, drawer, settings, chrome}) == 4


def test_filled_elements_are_drawn_where_they_are_hit() -> None:
    """One tree is drawn and hit-tested: a box's fill colour is at its centre, and a tap there hits it."""
    phone = SimPhone(SimConfig(difficulty="easy"), seed=2)
    total = 0
    for app in ("play store", "clock", "settings", "maps"):
        open_app(phone, app)
        screen = phone.screen()
        image = phone.screenshot()
        checked = 0
        for index, element in enumerate(screen.elements):
            if element.style.fill is None or element.text or element.role == "glyph" or element.rect.width < 6:
                continue
            cx, cy = element.rect.center
            if any(later.rect.contains(cx, cy) for later in screen.elements[index + 1:]):
                continue
            pixel = image.getpixel((int(cx * phone.renderer.scale), int(cy * phone.renderer.scale)))
            assert pixel == element.style.fill, (app, element.id)
            if element.clickable:
                assert screen.hit(cx, cy) is element
            checked += 1
        assert checked >= 1, app
        total += checked
    assert total >= 6


def test_tapping_an_icon_opens_its_app_and_empty_space_does_nothing() -> None:
    phone = SimPhone(SimConfig(difficulty="easy"))
    phone.tap(0.5, 0.55)  # between icon rows on the wallpaper
    assert phone.state.foreground == "launcher"
    phone.tap_element("app.chrome")
    assert phone.state.foreground == "chrome"
    assert phone.state.page.view == "google_home"


def test_type_enter_back_and_home_follow_android() -> None:
    phone = SimPhone(SimConfig(difficulty="easy"))
    phone.type_text("ignored")  # no focus: nothing happens
    assert phone.state.ui.text == ""
    open_app(phone, "chrome")
    phone.tap_element("chrome.omnibox")
    assert phone.state.ui.keyboard and phone.element("key.q") is not None
    phone.type_text("weather boston")
    assert phone.element("chrome.omnibox.suggestion.0") is not None  # suggestions while typing
    phone.press_back()  # first Back: the keyboard closes, the text stays
    assert not phone.state.ui.keyboard and phone.state.ui.text == "weather boston"
    phone.press_back()  # then the focus (and its dropdown)
    assert phone.state.ui.focus == "" and phone.element("chrome.omnibox.suggestion.0") is None
    phone.tap_element("chrome.omnibox")
    phone.type_text("weather boston")
    phone.press_enter()
    assert phone.state.page.view == "google_results" and phone.state.page.query == "weather boston"
    phone.press_back()  # back in history
    assert phone.state.page.view == "google_home"
    phone.press_home()
    assert phone.state.foreground == "launcher" and phone.state.page.view == "home"
    phone.tap_element("app.chrome")  # the app resumes where it was
    assert phone.state.page.view == "google_home"


def test_keyboard_keys_type_delete_and_submit() -> None:
    phone = SimPhone(SimConfig(difficulty="easy"))
    open_app(phone, "chrome")
    phone.tap_element("chrome.omnibox")
    for key in "ebay":
        phone.tap_element(f"key.{key}")
    phone.tap_element("key.period")
    for key in "comm":
        phone.tap_element(f"key.{key}")
    phone.tap_element("key.delete")
    assert phone.state.ui.text == "ebay.com"
    phone.tap_element("key.enter")
    assert phone.state.page.view == "site_home" and phone.state.page.site == "ebay.com"


def test_swipes_open_drawer_and_shade_and_scroll_lists() -> None:
    phone = SimPhone(SimConfig(difficulty="easy"))
    phone.swipe(0.5, 0.01, 0.5, 0.6)
    assert phone.state.shade_open and phone.element("tile.wifi") is not None
    phone.swipe(0.5, 0.8, 0.5, 0.2)
    assert not phone.state.shade_open
    phone.swipe(0.5, 0.8, 0.5, 0.3)
    assert phone.state.page.view == "drawer"
    open_app(phone, "settings")
    about, visible = phone.screen().find_anywhere("settings.row.about")
    assert about is not None and not visible
    for _ in range(4):
        phone.swipe(0.5, 0.8, 0.5, 0.3)
    assert phone.element("settings.row.about") is not None
    assert phone.element("settings.row.network") is None  # scrolled out at the top


def test_same_seed_and_actions_give_identical_screenshots() -> None:
    def run(seed: int) -> list[bytes]:
        phone = SimPhone(SimConfig(difficulty="hard"), seed=seed)
        shots = [phone.screenshot().tobytes()]
        open_app(phone, "chrome")
        phone.tap_element("chrome.omnibox")
        phone.type_text("costco.com")
        phone.press_enter()
        shots.append(phone.screenshot().tobytes())
        phone.press_back()
        shots.append(phone.screenshot().tobytes())
        return shots

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_layouts_vary_across_seeds_only_at_higher_difficulty() -> None:
    def layouts(difficulty: str) -> set:
        seen = set()
        for seed in range(8):
            state = SimPhone(SimConfig(difficulty=difficulty), seed=seed).state
            seen.add((state.layout.home_apps, state.layout.dock_apps, state.layout.drawer_order,
                      state.layout.chrome_start, tuple(sorted(state.app_popups))))
        return seen

    assert len(layouts("easy")) == 1
    assert len(layouts("hard")) >= 6


def test_shop_popups_cover_content_until_dismissed() -> None:
    phone = SimPhone(SimConfig(difficulty="hard"), seed=0)
    for seed in range(40):  # find an episode where the site shows both popups
        phone.reset(seed)
        open_app(phone, "chrome")
        phone.tap_element("chrome.omnibox")
        phone.type_text("walmart.com")
        phone.press_enter()
        if phone.state.site_popups.get("walmart.com") == ["cookies", "signin"]:
            break
    else:
        pytest.fail("no seed in 0..39 shows both popups at hard difficulty")
    search = phone.screen().find("site.search")
    assert search is not None and phone.screen().hit(*search.rect.center) is not search  # covered
    phone.tap(*phone.screen().normalized_center(search))
    assert phone.state.ui.focus == ""  # the tap went to the popup's scrim
    phone.tap_element("signin.no_thanks")
    phone.tap_element("cookies.accept")
    phone.tap_element("site.search")
    assert phone.state.ui.focus == "site.search"


@pytest.mark.parametrize(
    "values, message",
    [
        ({"difficulty": "extreme"}, "difficulty"),
        ({"difficulty": 1.5}, "outside"),
        ({"width": 480, "height": 270}, "portrait"),
        ({"width": 20, "height": 40}, "width"),
        ({"faults": {"error_prob": 2.0}}, "error_prob"),
        ({"faults": {"corrupt_modes": ["purple"]}}, "corrupt_modes"),
        ({"resolution": 3}, "env.sim.resolution is not a setting"),
    ],
)
def test_bad_config_values_raise_clear_errors(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SimConfig.from_mapping(values)


def test_config_accepts_named_and_numeric_difficulty_and_fault_mappings() -> None:
    assert SimConfig(difficulty="hard").variation == 1.0
    assert SimConfig(difficulty=0.25).variation == 0.25
    assert SimConfig.from_mapping({"faults": {"error_prob": 0.5}}).faults == FaultConfig(error_prob=0.5)


def test_out_of_range_points_are_rejected() -> None:
    phone = SimPhone()
    with pytest.raises(ValueError, match="normalised"):
        phone.tap(1.5, 0.2)


def test_random_actions_never_crash_the_phone_or_the_judge() -> None:
    """Fuzz: random taps (often on real elements), swipes, keys and text on hard layouts."""
    import random

    from coso.env.sim.judge import RuleJudge
    from coso.env.tasks import Task, WebShopGoal

    rng = random.Random(0)
    phone = SimPhone(SimConfig(difficulty="hard"))
    judge = RuleJudge(phone)
    task = Task("Go to ebay.com", WebShopGoal(site="ebay.com", query="x", select_first=True), "webshop")
    for seed in range(6):
        phone.reset(seed)
        for step in range(120):
            roll = rng.random()
            if roll < 0.55:
                clickable = [e for e in phone.screen().elements if e.clickable]
                x, y = phone.screen().normalized_center(rng.choice(clickable))
                phone.tap(min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0))
            elif roll < 0.7:
                phone.swipe(rng.random(), rng.random(), rng.random(), rng.random())
            elif roll < 0.8:
                phone.type_text(rng.choice(["ebay.com", "x", "hello world", ""]))
            else:
                rng.choice([phone.press_back, phone.press_home, phone.press_enter])()
            if step % 15 == 0:
                assert phone.screenshot().size == (270, 480)
            judge.is_success(task, None, None)
