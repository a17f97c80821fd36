"""The task parser: AitW wording families to structured goals, task-set rules, and its error contract."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coso.env.task_parser import (
    TASK_RULES,
    canonical_app,
    content_words,
    parse_task,
    parse_time_of_day,
    repair_typos,
    supported_families,
)
from coso.env.tasks import (
    TASK_SETS,
    AlarmGoal,
    AppSettingsGoal,
    ChromeTabGoal,
    InstallAppGoal,
    MapsGoal,
    NotificationsGoal,
    OpenAppGoal,
    SettingsPageGoal,
    ToggleSettingGoal,
    WebSearchGoal,
    WebShopGoal,
    YouTubeGoal,
)
from coso.errors import ConfigError, TaskParseError

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])

WEBSHOP_CASES = [
    ("Go to ebay.com", WebShopGoal("ebay.com")),
    ('Go to bestbuy.com, search for "logitech g910"', WebShopGoal("bestbuy.com", "logitech g910")),
    ('Go to costco.com, search for "macbook air", and select the first entry',
     WebShopGoal("costco.com", "macbook air", True)),
    ("Go to newegg.com, search for 'usb-c to usb-b', and select the first entry",
     WebShopGoal("newegg.com", "usb-c to usb-b", True)),
    ("go to  WalMart.com ,search for 'Razer Blade' ,and select the first entry",
     WebShopGoal("walmart.com", "razer blade", True)),
    ("GO TO TARGET.COM, SEARCH FOR \"JBL Flip 4\"", WebShopGoal("target.com", "jbl flip 4")),
    ("Go to amazon.com, search for \u201capple airpods\u201d", WebShopGoal("amazon.com", "apple airpods")),
    ("Go to https://www.homedepot.com/", WebShopGoal("homedepot.com")),
    ("Go to ebay.com, search for \"men's shoes\"", WebShopGoal("ebay.com", "men's shoes")),
    ("Go to ebay.com, search for 'men's shoes', and select the first entry", WebShopGoal("ebay.com", "men's shoes", True)),
    ("Go to ebay.com search for razer blade and select the first entry", WebShopGoal("ebay.com", "razer blade", True)),
    ("Go to best buy", WebShopGoal("bestbuy.com")),
]

GENERAL_CASES = [
    # web search: questions and search commands
    ("What's the news in Chile?", WebSearchGoal("what's the news in chile", ("news", "chile"))),
    ("How big is the moon?", WebSearchGoal("how big is the moon", ("big", "moon"))),
    ("What's the weather like in Hong Kong?",
     WebSearchGoal("what's the weather like in hong kong", ("weather", "hong", "kong"))),
    ("How much does the Samsung TV cost?",
     WebSearchGoal("how much does the samsung tv cost", ("samsung", "tv", "cost"))),
    ("What is the price of a 12' ladder at Home Depot?",
     WebSearchGoal("what is the price of a 12' ladder at home depot", ("price", "12", "ladder", "home", "depot"))),
    ("Google the capital of Colombia", WebSearchGoal("capital of colombia", ("capital", "colombia"))),
    ("Who is the prime minister of Canada?",
     WebSearchGoal("who is the prime minister of canada", ("prime", "minister", "canada"))),
    ("What time is it in Moscow?", WebSearchGoal("what time is it in moscow", ("time", "moscow"))),
    ("Search for hotels in Las Vegas", WebSearchGoal("hotels in las vegas", ("hotels", "las", "vegas"))),
    ("Search for flights from NYC to Mexico city",
     WebSearchGoal("flights from nyc to mexico city", ("flights", "nyc", "mexico", "city"))),
    ("Search for a new blush", WebSearchGoal("new blush", ("new", "blush"))),
    ("Show me some nice wallpapers for my computer",
     WebSearchGoal("nice wallpapers for my computer", ("wallpapers", "computer"))),
    ("Where can I buy a nice beach hat?",
     WebSearchGoal("where can i buy a nice beach hat", ("buy", "beach", "hat"))),
    ("What's on the menu at Domino's?", WebSearchGoal("what's on the menu at domino's", ("menu", "domino"))),
    # typos of the real lists
    ("Searchfor good French restaurants", WebSearchGoal("good french restaurants", ("french", "restaurants"))),
    ("What's the weather like inToronto?",
     WebSearchGoal("what's the weather like in toronto", ("weather", "toronto"))),
    ("What's a goodrestaurant in Austin?",
     WebSearchGoal("what's a good restaurant in austin", ("restaurant", "austin"))),
    ("How much does the HisenseTV cost?",
     WebSearchGoal("how much does the hisense tv cost", ("hisense", "tv", "cost"))),
    ("WHat are the new products by Samsung on eBay?",
     WebSearchGoal("what are the new products by samsung on ebay", ("new", "products", "samsung", "ebay"))),
    ("Checkthe settings for the Amazon Prime Music app", AppSettingsGoal("amazon prime music")),
    ("Set an alarmfor 5pm", AlarmGoal(17, 0)),
    # apps
    ("Open the calculator app", OpenAppGoal("calculator")),
    ("Open the camera", OpenAppGoal("camera")),
    ("Open Reddit", OpenAppGoal("reddit")),
    ("Go to Reddit", OpenAppGoal("reddit")),
    ("Check my gmail inbox", OpenAppGoal("gmail")),
    ("Check my email", OpenAppGoal("gmail")),
    ("Open the calendar and show me this week's events?", OpenAppGoal("calendar")),
    ("What's on my calendar for the rest of the week?", OpenAppGoal("calendar")),
    ("Open the settings", OpenAppGoal("settings")),
    ("Open the Google play store app", OpenAppGoal("google play store")),
    ("Open the play store", OpenAppGoal("google play store")),
    ("Open the SMS app", OpenAppGoal("messages")),
    ("Open the Barnes and Noble app", OpenAppGoal("barnes and noble")),
    ("Install the Pandora app", InstallAppGoal("pandora")),
    ("Download the Uber app from the Play Store", InstallAppGoal("uber")),
    ("Check the settings for the Google Play Movies app", AppSettingsGoal("google play movies")),
    ("Open the Spotify app settings", AppSettingsGoal("spotify")),
    # YouTube
    ("Play the new Bruno Mars video on YouTube", YouTubeGoal("bruno mars")),
    ("Play the latest video from the BBC", YouTubeGoal("bbc")),
    ("What's the latest video from GameSpot Reviews?", YouTubeGoal("gamespot reviews")),
    ("Play some music on YouTube", YouTubeGoal("music")),
    # Maps
    ("Search for 5 star sushi restaurants on Maps", MapsGoal("5 star sushi restaurants")),
    ("Search for top rated seafood restaurants on Google Maps", MapsGoal("top rated seafood restaurants")),
    ("How do I get to the nearest Verizon Store?", MapsGoal("verizon store", directions=True)),
    ("Find the nearest electronics store that's open now", MapsGoal("electronics store open now")),
    ("Find coffee shops on Maps", MapsGoal("coffee shops")),
    ("Find a good burger place on Maps", MapsGoal("good burger place")),
    # alarms
    ("Set an alarm for 6am", AlarmGoal(6, 0)),
    ("Set an alarm for 1pm", AlarmGoal(13, 0)),
    ("Set an alarm for 7:30 am", AlarmGoal(7, 30)),
    ("Set an alarm for 14:00", AlarmGoal(14, 0)),
    ("Set an alarm for 12am", AlarmGoal(0, 0)),
    ("Set an alarm for 12pm", AlarmGoal(12, 0)),
    # Chrome tabs
    ("Open a new Chrome tab", ChromeTabGoal(incognito=False)),
    ("Open a new window in the chrome app", ChromeTabGoal(incognito=False)),
    ("Open a new incognito window in the chrome app", ChromeTabGoal(incognito=True)),
    ("Open a new Chrome private tab", ChromeTabGoal(incognito=True)),
    ("Open a new private window in Chrome", ChromeTabGoal(incognito=True)),
    # notifications, switches, settings pages
    ("Show me my notifications", NotificationsGoal()),
    ("Turn on wifi", ToggleSettingGoal("wifi", state=True)),
    ("Turn Wi-Fi off", ToggleSettingGoal("wifi", state=False)),
    ("Disable bluetooth", ToggleSettingGoal("bluetooth", state=False)),
    ("Turn off notifications for the Google Maps app", ToggleSettingGoal("notifications", "google maps", False)),
    ("Turn on notifications for the Google Maps app", ToggleSettingGoal("notifications", "google maps", True)),
    ("Toggle notifications for the Google Photos app", ToggleSettingGoal("notifications", "google photos", None)),
    ("Open the wifi settings", SettingsPageGoal("wifi")),
    ("Show me the Bluetooth settings", SettingsPageGoal("bluetooth")),
    ("Check the settings for display", SettingsPageGoal("display")),
]


@pytest.mark.parametrize("text, goal", WEBSHOP_CASES, ids=[case[0] for case in WEBSHOP_CASES])
def test_webshop_sentences_parse_to_their_goal(text: str, goal: WebShopGoal) -> None:
    task = parse_task(text)
    assert task.goal == goal
    assert task.task_set == "webshop"


@pytest.mark.parametrize("text, goal", GENERAL_CASES, ids=[case[0] for case in GENERAL_CASES])
def test_general_sentences_parse_to_their_goal(text: str, goal: object) -> None:
    task = parse_task(text)
    assert task.goal == goal
    assert task.task_set == "general"
    assert task.text == text


@pytest.mark.parametrize("rule", TASK_RULES, ids=[f"{i}-{r.family}" for i, r in enumerate(TASK_RULES)])
def test_every_rule_example_parses_through_that_rule(rule) -> None:
    for example in rule.examples:
        cleaned = example.rstrip("?.!")
        assert rule.pattern.fullmatch(repair_typos(cleaned)) is not None, example
        parse_task(example)


def test_explicit_task_set_overrides_inference_and_bad_task_sets_are_config_errors() -> None:
    assert parse_task("Go to ebay.com", "general").task_set == "general"
    assert parse_task("Open the camera", "webshop").task_set == "webshop"
    for bad in ("shopping", "", "General", 3):
        with pytest.raises(ConfigError, match="task_set"):
            parse_task("Go to ebay.com", bad)  # type: ignore[arg-type]
    assert set(TASK_SETS) == {"general", "webshop"}


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("Hello world", "no wording family matches"),
        ("Set an alarm for 25:00", "hour 25"),
        ("Set an alarm for 13pm", "12-hour clock"),
        ("Turn on the TV", "not a switch"),
        ("Turn off wifi for the Google Maps app", "not per app"),
        ('Go to ebay.com, search for ""', "query in quotes is empty"),
        ("Open a new document", "does not name a single app"),
        ("What?", "no content words"),
        ("", "empty"),
        ("Go to ebay.com " + "x" * 400, "characters long"),
    ],
)
def test_unsupported_sentences_raise_task_parse_error_naming_the_text(text: str, fragment: str) -> None:
    with pytest.raises(TaskParseError) as raised:
        parse_task(text)
    message = str(raised.value)
    assert fragment in message
    if text and len(text) < 100:
        assert repr(" ".join(text.split())) in message
        assert "Supported families: " + ", ".join(supported_families()) in message


def test_non_string_input_is_a_task_parse_error() -> None:
    for value in (None, 3, b"Go to ebay.com", ["Open Reddit"]):
        with pytest.raises(TaskParseError, match="must be a sentence"):
            parse_task(value)  # type: ignore[arg-type]


GRAMMAR_WORDS = [
    "go", "to", "ebay.com", ",", "search", "for", '"', "'", "and", "select", "the", "first", "entry", "set", "an",
    "alarm", "12", "7:30", "pm", "turn", "on", "off", "wifi", "notifications", "app", "open", "new", "tab", "chrome",
    "incognito", "play", "video", "youtube", "maps", "nearest", "how", "do", "i", "get", "what's", "install",
    "settings", "check", "my", "email", "?", "inToronto", "Searchfor", "\u201c", "\n", "\u00e9", "\U0001f600",
]


@FUZZ
@given(st.one_of(st.text(max_size=200), st.lists(st.sampled_from(GRAMMAR_WORDS), max_size=25).map(" ".join)))
def test_any_string_parses_or_raises_only_task_parse_error(text: str) -> None:
    try:
        task = parse_task(text)
    except TaskParseError as error:
        assert str(error)
        return
    assert task.task_set in TASK_SETS
    if isinstance(task.goal, WebSearchGoal):
        assert task.goal.keywords
        assert set(task.goal.keywords) <= set(content_words(task.goal.query))


def test_content_words_drop_stop_words_possessives_and_repeats() -> None:
    assert content_words("What's on the menu at Domino's?") == ("menu", "domino")
    assert content_words("What's the US dollar exchange rate against the Canadian Dollar?") == (
        "us", "dollar", "exchange", "rate", "canadian")
    assert content_words("How do I get to the nearest AT&T store in Zürich") == ("nearest", "at&t", "store", "zürich")
    assert content_words("the a of what") == ()


def test_time_of_day_parsing() -> None:
    assert parse_time_of_day("6am") == (6, 0)
    assert parse_time_of_day("7:30 p.m.") == (19, 30)
    assert parse_time_of_day("00:05") == (0, 5)
    assert parse_time_of_day("noon") == (12, 0)
    for bad in ("24:00", "7:75", "0am", "seven"):
        with pytest.raises(ValueError):
            parse_time_of_day(bad)


def test_app_names_are_canonical() -> None:
    assert canonical_app("The Google Play Store app") == "google play store"
    assert canonical_app("play store") == "google play store"
    assert canonical_app("my  Email") == "gmail"
    assert canonical_app("Spotify") == "spotify"


def test_typo_repair_leaves_quoted_text_and_web_addresses_alone() -> None:
    assert repair_typos("Go to a1shop.com, search for 'inToronto'") == "Go to a1shop.com, search for 'inToronto'"
    assert repair_typos("Searchfor the weather inToronto") == "search for the weather in Toronto"
