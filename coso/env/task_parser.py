"""Task sentences to structured goals: a registry of AitW wording-family rules, task files and parse reports.

Each wording family is one ``TaskRule``: a pattern matched against the whole cleaned sentence and a
builder that turns the match into a goal of ``coso.env.tasks``. Rules are tried in registration order
(specific families first, the open web-search families last); a builder may decline a match (for
example an alarm at "25pm"), and then the next rule is tried. A sentence no rule accepts raises
``TaskParseError``; no other exception escapes ``parse_task`` for any string.

Goal fields are normalised as ``coso.env.tasks`` asks: lower-cased, spaces collapsed. App names are
written the way AitW names them in full ("google play store", "google maps"), through ``APP_ALIASES``;
settings through ``TOGGLE_SETTING_ALIASES`` and ``SETTINGS_PAGE_ALIASES``. ``content_words`` is the
tokenizer that defines ``WebSearchGoal.keywords``: a judge should compare a typed query through it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from coso.env.tasks import (
    TASK_SETS,
    AlarmGoal,
    AppSettingsGoal,
    ChromeTabGoal,
    Goal,
    InstallAppGoal,
    MapsGoal,
    NotificationsGoal,
    OpenAppGoal,
    SettingsPageGoal,
    Task,
    ToggleSettingGoal,
    WebSearchGoal,
    WebShopGoal,
    YouTubeGoal,
)
from coso.errors import ConfigError, TaskParseError, UserInputError

MAX_TASK_CHARS = 300  # longer "sentences" are not tasks (and would only slow the patterns down)
MAX_NAME_WORDS = 6  # app / place names longer than this are a misparse, not a name

# ---------------------------------------------------------------------------------------------------
# Vocabularies: canonical names of apps, settings and settings pages.
# ---------------------------------------------------------------------------------------------------

APP_ALIASES: dict[str, str] = {
    "play store": "google play store",
    "playstore": "google play store",
    "google play": "google play store",
    "google playstore": "google play store",
    "maps": "google maps",
    "google map": "google maps",
    "photos": "google photos",
    "chrome": "google chrome",
    "chrome browser": "google chrome",
    "email": "gmail",
    "e-mail": "gmail",
    "emails": "gmail",
    "e-mails": "gmail",
    "mail": "gmail",
    "inbox": "gmail",
    "email inbox": "gmail",
    "gmail inbox": "gmail",
    "google mail": "gmail",
    "sms": "messages",
    "text messages": "messages",
    "messaging": "messages",
    "message": "messages",
    "texts": "messages",
    "file manager": "files",
    "file": "files",
    "alarm clock": "clock",
    "alarms": "clock",
    "calculator": "calculator",
    "you tube": "youtube",
}

TOGGLE_SETTING_ALIASES: dict[str, str] = {
    "wifi": "wifi",
    "wi-fi": "wifi",
    "wi fi": "wifi",
    "wlan": "wifi",
    "wireless": "wifi",
    "bluetooth": "bluetooth",
    "airplane mode": "airplane mode",
    "aeroplane mode": "airplane mode",
    "flight mode": "airplane mode",
    "airplane": "airplane mode",
    "mobile data": "mobile data",
    "cellular data": "mobile data",
    "data": "mobile data",
    "location": "location",
    "location services": "location",
    "gps": "location",
    "dark mode": "dark mode",
    "dark theme": "dark mode",
    "night mode": "dark mode",
    "do not disturb": "do not disturb",
    "do not disturb mode": "do not disturb",
    "dnd": "do not disturb",
    "auto-rotate": "auto-rotate",
    "auto rotate": "auto-rotate",
    "autorotate": "auto-rotate",
    "screen rotation": "auto-rotate",
    "battery saver": "battery saver",
    "battery saver mode": "battery saver",
    "power saving mode": "battery saver",
    "hotspot": "hotspot",
    "mobile hotspot": "hotspot",
    "wifi hotspot": "hotspot",
    "nfc": "nfc",
    "flashlight": "flashlight",
    "torch": "flashlight",
    "notifications": "notifications",
    "notification": "notifications",
    "app notifications": "notifications",
}
TOGGLE_SETTINGS: tuple[str, ...] = tuple(sorted(set(TOGGLE_SETTING_ALIASES.values())))
PER_APP_SETTINGS = frozenset({"notifications"})  # switches that exist once per app (App info page)
_NO_APP = frozenset({"phone", "my phone", "the phone", "device", "my device", "this phone", "this device"})

SETTINGS_PAGE_ALIASES: dict[str, str] = {
    "wifi": "wifi",
    "wi-fi": "wifi",
    "wi fi": "wifi",
    "wlan": "wifi",
    "wireless": "wifi",
    "network": "network",
    "network & internet": "network",
    "network and internet": "network",
    "internet": "network",
    "mobile network": "network",
    "bluetooth": "bluetooth",
    "display": "display",
    "screen": "display",
    "brightness": "display",
    "sound": "sound",
    "sounds": "sound",
    "volume": "sound",
    "sound & vibration": "sound",
    "sound and vibration": "sound",
    "notifications": "notifications",
    "notification": "notifications",
    "battery": "battery",
    "storage": "storage",
    "apps": "apps",
    "applications": "apps",
    "apps & notifications": "apps",
    "apps and notifications": "apps",
    "location": "location",
    "security": "security",
    "privacy": "privacy",
    "accounts": "accounts",
    "accessibility": "accessibility",
    "system": "system",
    "about phone": "about phone",
    "date & time": "date & time",
    "date and time": "date & time",
}
SETTINGS_PAGES: tuple[str, ...] = tuple(sorted(set(SETTINGS_PAGE_ALIASES.values())))

# Shopping sites that "Go to <name>" may name without their domain.
SHOP_SITE_NAMES: dict[str, str] = {
    "bestbuy": "bestbuy.com",
    "best buy": "bestbuy.com",
    "costco": "costco.com",
    "ebay": "ebay.com",
    "newegg": "newegg.com",
    "walmart": "walmart.com",
    "target": "target.com",
    "amazon": "amazon.com",
    "home depot": "homedepot.com",
    "homedepot": "homedepot.com",
}

# Words that carry no search content: question words, function words, request verbs, vague praise.
STOP_WORDS = frozenset(
    """
    what whats how where wheres who whos whom whose when which why
    is are was were be been being am do does did doing can could will would should shall may might must
    has have had having dont doesnt didnt cant isnt arent wont im ive id
    i me my mine myself you your yours we our they their them he him his she her it its
    a an the this that these those there here some any each every all
    of in on at to for from by with about into onto against over under than as and or but if then so
    like please show tell give get find search google look up let know
    nice good much many really very just also
    """.split()
)
_WORD_RE = re.compile(r"[^\W_]+(?:[-'&+.][^\W_]+)*")
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
                         "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u00b4": "'", "\u2032": "'"})


def content_words(text: str) -> tuple[str, ...]:
    """The lower-cased content words of ``text`` in order, without repeats: what a search query must contain."""
    words: list[str] = []
    for token in _WORD_RE.findall(text.translate(_QUOTES).lower()):
        if token.endswith("'s"):
            token = token[:-2]
        token = token.replace("'", "")
        if token and token not in STOP_WORDS and token not in words:
            words.append(token)
    return tuple(words)


def normalise_name(text: str) -> str:
    """Lower-case, collapse spaces and trim punctuation around a name, as goal fields store it."""
    return " ".join(text.translate(_QUOTES).lower().split()).strip(" \t.,;:!?\"'")


def canonical_app(name: str) -> str:
    """The canonical name of an app: normalised, without "the"/"my"/"app", aliases resolved."""
    name = _strip_leading(normalise_name(name), ("the", "my"))
    name = re.sub(r"\s+(?:app|application)$", "", name)
    return APP_ALIASES.get(name, name)


def _strip_leading(text: str, words: Iterable[str]) -> str:
    """``text`` without any of the leading ``words`` (repeatedly)."""
    words = tuple(words)
    changed = True
    while changed:
        changed = False
        for word in words:
            if text.startswith(word + " "):
                text = text[len(word) + 1:].lstrip()
                changed = True
    return text


# ---------------------------------------------------------------------------------------------------
# Cleaning: quotes, spacing and the cheap typo repairs the real task lists need.
# ---------------------------------------------------------------------------------------------------

_GLUED_FUNCTION_WORD_RE = re.compile(  # "inToronto", "theFalkland", "a3" (not inside web addresses)
    r"\b(in|the|a|an|of|for|to|at|on)(?=[A-Z0-9][^\s.]*(?:[\s,;:!?]|$))"
)
_GLUED_ACRONYM_RE = re.compile(r"(?<=[a-z]{2})(?=[A-Z]{2,}\b)")  # "HisenseTV"
_GLUED_WORD_RE = re.compile(r"(?<![\w.])[A-Za-z]{6,}(?![\w.])")
_TYPO_VOCABULARY = frozenset(
    """
    search for check the set alarm rate against good restaurant restaurants open install settings play video
    news weather price menu turn notifications app what how where find show google maps youtube store
    nearest latest new
    """.split()
)
_QUOTED_RE = re.compile(r"(\"[^\"]*\"|(?<!\w)'[^']*'(?!\w))")  # apostrophes ("What's") open no quote


def _split_glued_word(match: re.Match[str]) -> str:
    """Split a token made of two task-grammar words ("Searchfor" -> "search for"), else keep it."""
    token = match.group(0)
    lower = token.lower()
    if lower in _TYPO_VOCABULARY:
        return token
    for cut in range(3, len(lower) - 2):
        if lower[:cut] in _TYPO_VOCABULARY and lower[cut:] in _TYPO_VOCABULARY:
            return f"{lower[:cut]} {lower[cut:]}"
    return token


def repair_typos(text: str) -> str:
    """Undo the glued-word typos of the AitW lists outside quoted text ("inToronto", "Checkthe", "HisenseTV")."""
    pieces = _QUOTED_RE.split(text)
    for index in range(0, len(pieces), 2):  # even pieces lie outside quotes
        piece = _GLUED_FUNCTION_WORD_RE.sub(r"\1 ", pieces[index])
        piece = _GLUED_ACRONYM_RE.sub(" ", piece)
        pieces[index] = _GLUED_WORD_RE.sub(_split_glued_word, piece)
    return "".join(pieces)


def _clean(text: str) -> str:
    """The sentence the rules match: straight quotes, one space, typos repaired, no closing punctuation."""
    text = " ".join(text.translate(_QUOTES).split()).rstrip("?.!").strip()
    text = repair_typos(text)
    text = re.sub(r"^please\s+|\s+please$", "", text, flags=re.IGNORECASE)
    return text


# ---------------------------------------------------------------------------------------------------
# The rule registry.
# ---------------------------------------------------------------------------------------------------


class _Declined(Exception):
    """Raised by a rule builder when its pattern matched but the sentence is not of its family."""


@dataclass(frozen=True)
class TaskRule:
    """One wording family: a full-sentence pattern, a builder of its goal, and example sentences."""

    family: str
    pattern: re.Pattern[str]
    build: Callable[[re.Match[str]], Goal]
    examples: tuple[str, ...] = ()


TASK_RULES: list[TaskRule] = []


def task_rule(family: str, pattern: str, *examples: str) -> Callable[[Callable[[re.Match[str]], Goal]], Callable]:
    """Register a builder for sentences that fully match ``pattern`` (case-insensitive); order is priority."""

    def register(build: Callable[[re.Match[str]], Goal]) -> Callable[[re.Match[str]], Goal]:
        TASK_RULES.append(TaskRule(family, re.compile(pattern, re.IGNORECASE), build, examples))
        return build

    return register


_NAME_CHARS_RE = re.compile(r"[\w &'+.!-]+")


def _name_or_decline(raw: str, what: str) -> str:
    """A normalised name, or decline when it cannot be a name (empty, an article phrase, too long, odd characters)."""
    name = normalise_name(raw)
    if not name:
        raise _Declined(f"the {what} name is empty")
    if not _NAME_CHARS_RE.fullmatch(name):
        raise _Declined(f"{what} name {name!r} contains characters a name cannot have")
    if name in ("the", "my", "your", "this"):
        raise _Declined(f"no {what} is named")
    if name.split()[0] in ("a", "an", "new", "some"):
        raise _Declined(f"{name!r} does not name a single {what}")
    if len(name.split()) > MAX_NAME_WORDS:
        raise _Declined(f"{what} name {name!r} is longer than {MAX_NAME_WORDS} words")
    return name


def _app_or_decline(raw: str) -> str:
    """The canonical app name of ``raw``, or decline."""
    app = canonical_app(_name_or_decline(_strip_leading(normalise_name(raw), ("the", "my")), "app"))
    if not app:
        raise _Declined("the app name is empty")
    return app


# --- web shopping --------------------------------------------------------------------------------

_SITE = r"(?:https?://)?(?:www\.)?(?P<site>[\w-]+(?:\.[\w-]+)*|best buy|home depot)/?"
_SEARCH_CLAUSE = (
    r"(?:\s*,?\s*(?:and\s+)?(?:then\s+)?search\s*for\s+"
    r"(?:(?P<quote>[\"'])(?P<query>.*)(?P=quote)|(?P<bare>[^\"',]+?))"
    r"(?P<select>\s*,?\s*(?:and\s+)?(?:then\s+)?(?:select|click(?:\s+on)?|open|choose|tap(?:\s+on)?)\s+"
    r"the\s+first\s+(?:entry|result|item|product|listing|one))?)?"
)


@task_rule(
    "web shopping: go to a site, search it, select the first entry",
    rf"(?:go|navigate|head)\s*to\s+{_SITE}{_SEARCH_CLAUSE}",
    "Go to ebay.com",
    'Go to bestbuy.com, search for "logitech g910"',
    "Go to costco.com, search for 'macbook air', and select the first entry",
)
def _build_webshop(match: re.Match[str]) -> Goal:
    raw_site = normalise_name(match.group("site"))
    if "." in raw_site:
        site = raw_site
    elif raw_site in SHOP_SITE_NAMES:
        site = SHOP_SITE_NAMES[raw_site]
    else:
        raise _Declined(f"{raw_site!r} is not a web address (for example bestbuy.com)")
    searched = match.group("quote") is not None or match.group("bare") is not None
    query = normalise_name(match.group("query") if match.group("quote") is not None else match.group("bare") or "")
    if searched and not query:
        raise _Declined("the search query in quotes is empty")
    return WebShopGoal(site=site, query=query, select_first=match.group("select") is not None)


# --- alarms --------------------------------------------------------------------------------------

_TIME_RE = re.compile(
    r"(?P<hour>\d{1,2})(?:\s*[:.h]\s*(?P<minute>\d{2}))?(?:\s*o'?\s*clock)?"
    r"(?:\s*(?P<meridiem>[ap])\.?\s*m\.?)?|(?P<word>noon|midday|midnight)",
    re.IGNORECASE,
)
_WORD_TIMES = {"noon": (12, 0), "midday": (12, 0), "midnight": (0, 0)}


def parse_time_of_day(text: str) -> tuple[int, int]:
    """``(hour, minute)`` on a 24-hour clock from "6am", "7:30 pm", "14:00", "noon"; ValueError when invalid."""
    match = _TIME_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a time of day (write for example 6am, 7:30 pm or 14:00)")
    if match.group("word"):
        return _WORD_TIMES[match.group("word").lower()]
    hour, minute = int(match.group("hour")), int(match.group("minute") or 0)
    meridiem = (match.group("meridiem") or "").lower()
    if minute > 59:
        raise ValueError(f"{text!r}: minute {minute} is not in 0..59")
    if meridiem:
        if not 1 <= hour <= 12:
            raise ValueError(f"{text!r}: hour {hour} is not in 1..12 on a 12-hour clock")
        hour = hour % 12 + (12 if meridiem == "p" else 0)
    elif hour > 23:
        raise ValueError(f"{text!r}: hour {hour} is not in 0..23")
    return hour, minute


@task_rule(
    "alarms: set an alarm for a time",
    r"(?:(?:set|create|add|make|schedule)\s+(?:an?\s+|the\s+|my\s+|new\s+)*alarm\s*(?:for|at|to)"
    r"|wake\s+me\s+(?:up\s+)?at)\s*(?P<time>.+?)(?:\s+(?:tomorrow|today|tonight)(?:\s+morning)?)?",
    "Set an alarm for 6am",
    "Set an alarm for 7:30 am",
    "Set an alarm for 14:00",
)
def _build_alarm(match: re.Match[str]) -> Goal:
    try:
        hour, minute = parse_time_of_day(match.group("time"))
    except ValueError as error:
        raise _Declined(f"alarm time: {error}") from None
    return AlarmGoal(hour=hour, minute=minute)


# --- chrome tabs ---------------------------------------------------------------------------------

_IN_CHROME = r"(?:\s+(?:in|on|using)\s+(?:the\s+)?(?:google\s+)?chrome(?:\s+(?:app|browser))?)?"


@task_rule(
    "chrome tabs: a new (incognito / private) tab or window",
    r"(?:open|start|create)\s+(?:up\s+)?(?:a\s+|an\s+)?new\s+"
    r"(?P<mods>(?:(?:google\s+)?chrome\s+|incognito\s+|private\s+|browser\s+)*)(?:tab|window)" + _IN_CHROME
    + r"|(?:open|start|go|enter)\s+(?:an?\s+)?(?:into\s+)?(?P<mode>incognito|private)"
    r"(?:\s+(?:mode|tab|window|browsing))?" + _IN_CHROME,
    "Open a new Chrome incognito tab",
    "Open a new window in the chrome app",
    "Open a new private tab in Chrome",
)
def _build_chrome_tab(match: re.Match[str]) -> Goal:
    modifiers = (match.group("mods") or "") + " " + (match.group("mode") or "")
    return ChromeTabGoal(incognito=bool(re.search(r"incognito|private", modifiers, re.IGNORECASE)))


# --- notification shade --------------------------------------------------------------------------


@task_rule(
    "notifications: show the notification shade",
    r"(?:show|open|check|view|see|display|pull\s+down|read)\s+(?:me\s+)?(?:all\s+)?(?:of\s+)?(?:my\s+|the\s+)?"
    r"(?:recent\s+|new\s+)?notifications?(?:\s+(?:shade|panel|bar|drawer))?",
    "Show me my notifications",
)
def _build_notifications(match: re.Match[str]) -> Goal:
    return NotificationsGoal()


# --- switches ------------------------------------------------------------------------------------

_TOGGLE_TARGET_RE = re.compile(
    r"(?:the\s+|my\s+)?(?P<setting>.+?)(?:\s+(?:for|of|from|on|in)\s+(?:the\s+|my\s+)?(?P<app>.+))?",
    re.IGNORECASE,
)
_VERB_STATE = {"on": True, "enable": True, "activate": True, "off": False, "disable": False,
               "deactivate": False, "toggle": None}


def _toggle_goal(target: str, state: bool | None) -> Goal:
    """A ToggleSettingGoal for "wifi" or "notifications for the X app"; decline unknown switches."""
    match = _TOGGLE_TARGET_RE.fullmatch(normalise_name(target))
    if match is None:
        raise _Declined(f"{target!r} names no switch")
    setting_name = normalise_name(match.group("setting"))
    setting = TOGGLE_SETTING_ALIASES.get(setting_name)
    if setting is None:
        raise _Declined(f"{setting_name!r} is not a switch the phone has (known: {', '.join(TOGGLE_SETTINGS)})")
    app_text = normalise_name(match.group("app") or "")
    if app_text in _NO_APP:
        app_text = ""
    if app_text and setting not in PER_APP_SETTINGS:
        raise _Declined(f"the {setting} switch is not per app "
                        f"(per-app switches: {', '.join(sorted(PER_APP_SETTINGS))})")
    app = _app_or_decline(app_text) if app_text else ""
    return ToggleSettingGoal(setting=setting, app=app, state=state)


@task_rule(
    "switches: turn a setting on or off, or toggle it",
    r"(?P<verb>turn\s*on|turn\s*off|switch\s*on|switch\s*off|enable|disable|activate|deactivate|toggle)"
    r"\s+(?P<target>.+)",
    "Turn on wifi",
    "Turn off notifications for the Google Maps app",
    "Toggle notifications for the Google Photos app",
)
def _build_toggle(match: re.Match[str]) -> Goal:
    verb = re.sub(r"^(?:turn|switch)\s*", "", match.group("verb").lower())
    return _toggle_goal(match.group("target"), _VERB_STATE[verb])


@task_rule(
    "switches: turn a setting on or off, or toggle it",
    r"(?:turn|switch|set)\s+(?P<target>.+?)\s+(?:to\s+)?(?P<state>on|off)",
    "Turn wifi off",
)
def _build_toggle_state_last(match: re.Match[str]) -> Goal:
    return _toggle_goal(match.group("target"), _VERB_STATE[match.group("state").lower()])


# --- settings pages and app settings -------------------------------------------------------------

_SHOW = r"(?:open|go\s*to|show(?:\s+me)?|check|view|see|display|take\s+me\s+to)"


def _settings_goal(raw_target: str) -> Goal:
    """A settings page ("wifi") or an app's settings ("the Spotify app"), from what the sentence names."""
    target = _strip_leading(normalise_name(raw_target), ("the", "my"))
    if target in ("", "the", "my"):
        raise _Declined("no settings page or app is named")
    if re.search(r"\s(?:app|application)$", target) is None and target in SETTINGS_PAGE_ALIASES:
        return SettingsPageGoal(page=SETTINGS_PAGE_ALIASES[target])
    return AppSettingsGoal(app=_app_or_decline(target))


@task_rule(
    "settings: a settings page or an app's settings",
    _SHOW + r"\s*(?:the\s+|my\s+)?(?:app\s+)?(?:settings|app\s+info)\s+(?:for|of)\s+(?P<target>.+)"
    + r"|" + _SHOW + r"\s*(?:the\s+|my\s+)?(?P<target2>.+?)\s+(?:settings|app\s+info)(?:\s+(?:page|screen|menu))?",
    "Check the settings for the Pandora app",
    "Open the wifi settings",
    "Show me the bluetooth settings",
)
def _build_settings(match: re.Match[str]) -> Goal:
    return _settings_goal(match.group("target") or match.group("target2"))


# --- installing apps -----------------------------------------------------------------------------


@task_rule(
    "installing apps: install an app from the Play Store",
    r"(?:install|download|re-?install)\s+(?:the\s+)?(?P<app>.+?)(?:\s+app(?:lication)?)?"
    r"(?:\s+(?:from|on|in|using)\s+(?:the\s+)?(?:google\s+)?play(?:\s*store)?)?",
    "Install the Pandora app",
)
def _build_install(match: re.Match[str]) -> Goal:
    return InstallAppGoal(app=_app_or_decline(match.group("app")))


# --- YouTube -------------------------------------------------------------------------------------

_RECENT = r"(?:new|newest|latest|most\s+recent|recent|last)"
_ON_YOUTUBE = r"(?:\s+on\s+(?:the\s+)?youtube(?:\s+app)?)?"


def _youtube_goal(raw_query: str) -> Goal:
    """A YouTubeGoal searching ``raw_query``; decline an empty one."""
    query = _strip_leading(normalise_name(raw_query), ("the", "some", "a", "an"))
    if not query:
        raise _Declined("nothing to search for on YouTube")
    return YouTubeGoal(query=query)


@task_rule(
    "YouTube: play a video",
    rf"(?:play|watch|show\s+me|find)\s+(?:the\s+)?{_RECENT}\s+(?P<query>.+?)\s+(?:music\s+)?videos?{_ON_YOUTUBE}"
    rf"|(?:play|watch|show\s+me|find)\s+(?:the\s+)?{_RECENT}\s+video\s+(?:from|by|of)\s+(?P<query2>.+?){_ON_YOUTUBE}"
    rf"|what(?:'s|s|\s+is)\s+the\s+{_RECENT}\s+video\s+(?:from|by|of)\s+(?P<query3>.+?){_ON_YOUTUBE}",
    "Play the new Bruno Mars video on YouTube",
    "Play the latest video from the BBC",
    "What's the latest video from GameSpot Reviews?",
)
def _build_youtube_latest(match: re.Match[str]) -> Goal:
    return _youtube_goal(match.group("query") or match.group("query2") or match.group("query3"))


@task_rule(
    "YouTube: play a video",
    r"(?:play|watch|search\s*for|find|show\s+me|look\s+up|listen\s+to)\s+(?P<query>.+?)\s+on\s+(?:the\s+)?youtube"
    r"(?:\s+app)?|(?:open\s+)?youtube\s+and\s+(?:play|search\s*for|watch)\s+(?P<query2>.+)",
    "Play some music on YouTube",
)
def _build_youtube(match: re.Match[str]) -> Goal:
    return _youtube_goal(match.group("query") or match.group("query2"))


# --- Google Maps ---------------------------------------------------------------------------------

_NEAREST = r"(?:the\s+|a\s+)?(?:(?:nearest|closest)\s+)?"
_ON_MAPS = r"\s+(?:on|in|using|with)\s+(?:the\s+)?(?:google\s+)?maps(?:\s+app)?"


def _maps_goal(raw_query: str, directions: bool) -> Goal:
    """A MapsGoal for ``raw_query``; decline an empty one."""
    query = _strip_leading(normalise_name(raw_query), ("the", "a", "an", "some", "me"))
    if not query:
        raise _Declined("no place to look for on Maps")
    return MapsGoal(query=query, directions=directions)


@task_rule(
    "Maps: directions to a place",
    rf"how\s+(?:do|can|would|should)\s+i\s+(?:get|go|drive|walk)\s+to\s+{_NEAREST}(?P<query>.+?)(?:{_ON_MAPS})?"
    rf"|(?:get\s+|give\s+me\s+|show\s+me\s+|find\s+)?directions\s+to\s+{_NEAREST}(?P<query2>.+?)(?:{_ON_MAPS})?"
    rf"|navigate\s+to\s+{_NEAREST}(?P<query3>.+?)(?:{_ON_MAPS})?",
    "How do I get to the nearest Verizon Store?",
)
def _build_directions(match: re.Match[str]) -> Goal:
    return _maps_goal(match.group("query") or match.group("query2") or match.group("query3"), directions=True)


@task_rule(
    "Maps: search for places",
    rf"(?:search\s*for|search|find|show\s+me|look\s+for|locate)\s+(?P<query>.+?){_ON_MAPS}"
    r"|(?:find|show\s+me|locate|search\s*for|where\s+is|where's)\s+(?:me\s+)?(?:the\s+|a\s+)?(?:nearest|closest)\s+"
    r"(?P<query2>.+?)(?:\s+that(?:'s|\s+is|\s+are)\s+(?P<open>open(?:\s+(?:now|today|tomorrow|tonight|late))?))?"
    r"|(?:find|show\s+me|search\s*for)\s+(?P<query3>.+?)\s+(?:near\s+me|nearby)",
    "Search for 5 star sushi restaurants on Maps",
    "Find the nearest electronics store that's open now",
    "Find coffee shops on Maps",
)
def _build_maps(match: re.Match[str]) -> Goal:
    query = match.group("query") or match.group("query2") or match.group("query3")
    if match.group("open"):
        query = f"{query} {match.group('open')}"
    return _maps_goal(query, directions=False)


# --- opening apps --------------------------------------------------------------------------------


@task_rule(
    "opening apps: open an app",
    r"(?:check|open|read|show(?:\s+me)?|view|go\s+to)\s+(?:my\s+|the\s+)?(?:e-?mails?|mail|gmail|inbox|google\s+mail)"
    r"(?:\s+inbox)?(?:\s+app)?",
    "Check my email",
    "Check my gmail inbox",
)
def _build_email(match: re.Match[str]) -> Goal:
    return OpenAppGoal(app="gmail")


@task_rule(
    "opening apps: open an app",
    r"(?:what(?:'s|s|\s+is|\s+do\s+i\s+have)\s+on\s+my\s+calendar|(?:show(?:\s+me)?|check|open|view)\s+my\s+"
    r"(?:calendar|events|schedule|appointments))(?:\s+.*)?",
    "What's on my calendar for the rest of the week?",
)
def _build_calendar(match: re.Match[str]) -> Goal:
    return OpenAppGoal(app="calendar")


@task_rule(
    "opening apps: open an app",
    r"(?:open|launch|start|run|go\s*to|take\s+me\s+to)\s+(?:up\s+)?(?P<app>.+?)(?:\s+app(?:lication)?)?"
    r"(?:\s+and\s+(?:then\s+)?(?:show|play|search|check|find|look|tell|see|view|open|go|create|add|set|read|start"
    r"|list|display)\b.*)?",
    "Open the calculator app",
    "Open Reddit",
    "Open the calendar and show me this week's events?",
)
def _build_open_app(match: re.Match[str]) -> Goal:
    return OpenAppGoal(app=_app_or_decline(match.group("app")))


# --- web search (the open families: last) --------------------------------------------------------


def _web_search_goal(raw_query: str) -> Goal:
    """A WebSearchGoal typing ``raw_query``; its keywords are the query's content words."""
    query = _strip_leading(normalise_name(raw_query), ("the", "a", "an", "some", "me"))
    keywords = content_words(query)
    if not keywords:
        raise _Declined("the sentence has no content words to search for")
    return WebSearchGoal(query=query, keywords=keywords)


@task_rule(
    "web search: a command to search the web",
    r"(?:google(?!\s+(?:maps?|chrome|play|photos|play\s+store)$)|search\s*(?:google|the\s+web|online|the\s+internet)?\s*for|search(?:\s+google)?|look\s+up|"
    r"find\s+out|find|show\s+me|tell\s+me(?:\s+about)?|research)\s+(?P<query>.+)",
    "Google the capital of Colombia",
    "Search for flights from NYC to Mexico city",
    "Show me some nice wallpapers for my computer",
)
def _build_search_command(match: re.Match[str]) -> Goal:
    return _web_search_goal(match.group("query"))


@task_rule(
    "web search: a question answered by a Google search",
    r"(?P<query>(?:what|what's|whats|how|how's|where|where's|who|who's|whom|whose|when|which|why|is|are|was|were|"
    r"does|do|did|can|could|should|will|would)\b.*)",
    "What's the news in Chile?",
    "How big is the moon?",
    "What time is it in Moscow?",
)
def _build_question(match: re.Match[str]) -> Goal:
    return _web_search_goal(match.group("query"))


# ---------------------------------------------------------------------------------------------------
# Public entry points.
# ---------------------------------------------------------------------------------------------------

TASK_SET_BY_GOAL: dict[type[Goal], str] = {WebShopGoal: "webshop"}  # every other goal: "general"
DEFAULT_TASK_SET = "general"


def supported_families() -> tuple[str, ...]:
    """The short names of the wording families the parser knows, in priority order, without repeats."""
    return tuple(dict.fromkeys(rule.family.split(":")[0] for rule in TASK_RULES))


def _check_task_set(task_set: object) -> None:
    """Raise ConfigError unless ``task_set`` is None or one of TASK_SETS."""
    if task_set is not None and (not isinstance(task_set, str) or task_set not in TASK_SETS):
        raise ConfigError(
            f"task_set {task_set!r} is not one of {', '.join(TASK_SETS)}; "
            "set it to one of those, or leave it unset to infer it from each task's goal"
        )


def infer_task_set(goal: Goal) -> str:
    """The AitW task set a goal belongs to: web shopping goals to "webshop", all others to "general"."""
    return TASK_SET_BY_GOAL.get(type(goal), DEFAULT_TASK_SET)


def parse_goal(text: str) -> Goal:
    """The structured goal of a task sentence; TaskParseError (and nothing else) when no family accepts it."""
    if not isinstance(text, str):
        raise TaskParseError(f"a task must be a sentence (str), got {type(text).__name__}: {text!r}")
    shown = " ".join(text.split())
    if not shown:
        raise TaskParseError("the task is empty; write one task sentence, e.g. 'Go to ebay.com'")
    if len(shown) > MAX_TASK_CHARS:
        raise TaskParseError(
            f"the task {shown[:60]!r}... is {len(shown)} characters long, more than {MAX_TASK_CHARS}; "
            "write one short task sentence per line"
        )
    cleaned = _clean(shown)
    declined: list[str] = []
    for rule in TASK_RULES:
        match = rule.pattern.fullmatch(cleaned)
        if match is None:
            continue
        try:
            return rule.build(match)
        except _Declined as reason:
            declined.append(f"{rule.family.split(':')[0]}: {reason}")
    detail = "; ".join(dict.fromkeys(declined)) if declined else "no wording family matches it"
    raise TaskParseError(
        f"cannot parse task {shown!r}: {detail}. Supported families: {', '.join(supported_families())}; "
        "rephrase it like an example in coso.env.task_parser.TASK_RULES, or remove it"
    )


def parse_task(text: str, task_set: str | None = None) -> Task:
    """Parse a task sentence into a ``Task``; ``task_set`` None infers it from the goal (webshop or general)."""
    _check_task_set(task_set)
    goal = parse_goal(text)
    return Task(text=" ".join(text.split()), goal=goal, task_set=task_set or infer_task_set(goal))


# ---------------------------------------------------------------------------------------------------
# Task files and parse reports.
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParseFailure:
    """A task line that did not parse: its 1-based line number, its text and why."""

    line_no: int
    text: str
    reason: str


class LoadedTasks(list[Task]):
    """The tasks of a task file (a plain list of ``Task``) with the lines that were skipped."""

    def __init__(self, tasks: Iterable[Task] = (), skipped: Iterable[ParseFailure] = (), source: str = "") -> None:
        super().__init__(tasks)
        self.skipped: list[ParseFailure] = list(skipped)
        self.source = source


def task_lines(lines: Iterable[str]) -> list[tuple[int, str]]:
    """``(line_no, text)`` of every task line: blank lines and ``#`` comment lines are left out."""
    return [
        (line_no, line.strip())
        for line_no, line in enumerate(lines, start=1)
        if line.strip() and not line.strip().startswith("#")
    ]


def read_task_lines(path: str | Path) -> list[str]:
    """The lines of a task file; UserInputError naming the file when it is missing or unreadable."""
    path = Path(path)
    hint = "pass the path of a UTF-8 text file with one task sentence per line"
    if not path.exists():
        raise UserInputError(f"task file {str(path)!r} does not exist (looked from {Path.cwd()}); {hint}")
    if not path.is_file():
        raise UserInputError(f"task file {str(path)!r} is not a file; {hint}")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UserInputError(f"task file {str(path)!r} cannot be read ({error.strerror}); {hint}") from None
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as error:
        line_no = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise UserInputError(f"task file {str(path)!r}, line {line_no}, column {column}: byte "
                             f"0x{data[error.start]:02x} is not UTF-8 text; "
                             f"re-save the file as UTF-8 ({hint})") from None


def load_task_file(path: str | Path, task_set: str | None = None, *, skip_unparseable: bool = False) -> LoadedTasks:
    """Parse a task file (one task per line, ``#`` comments); bad lines raise, or are skipped into ``.skipped``."""
    _check_task_set(task_set)
    tasks = LoadedTasks(source=str(path))
    for line_no, text in task_lines(read_task_lines(path)):
        try:
            tasks.append(parse_task(text, task_set))
        except TaskParseError as error:
            if not skip_unparseable:
                raise TaskParseError(
                    f"{path}, line {line_no}: {error} (fix or remove the line; to skip such lines set "
                    "skip_bad_task_lines=true, or load the file with skip_unparseable=True)"
                ) from None
            tasks.skipped.append(ParseFailure(line_no, text, str(error)))
    return tasks


@dataclass
class ParseReport:
    """How many task lines parse, per goal kind, and which lines fail: for the parse-report command."""

    total: int = 0
    parsed: int = 0
    per_kind: dict[str, int] = field(default_factory=dict)
    failures: list[ParseFailure] = field(default_factory=list)

    @property
    def parse_rate(self) -> float:
        """The fraction of task lines that parse (1.0 for no lines)."""
        return self.parsed / self.total if self.total else 1.0

    def to_markdown(self, title: str = "Task parse report") -> str:
        """The report as a markdown section: totals, a per-kind table and the failing lines."""
        rows = [f"## {title}", "", f"{self.parsed} of {self.total} task lines parse ({100 * self.parse_rate:.1f}%).",
                "", "| goal kind | tasks |", "|---|---|"]
        rows += [f"| {kind} | {count} |" for kind, count in sorted(self.per_kind.items(), key=lambda kv: -kv[1])]
        if self.failures:
            rows += ["", "Lines that do not parse:", ""]
            rows += [f"- line {f.line_no}: `{f.text}` ({f.reason})" for f in self.failures]
        return "\n".join(rows) + "\n"


def parse_report(lines: Iterable[str], task_set: str | None = None) -> ParseReport:
    """Parse every task line (blank and ``#`` lines skipped) and count results per goal kind."""
    _check_task_set(task_set)
    report = ParseReport()
    for line_no, text in task_lines(lines):
        report.total += 1
        try:
            goal = parse_task(text, task_set).goal
        except TaskParseError as error:
            report.failures.append(ParseFailure(line_no, text, str(error)))
            continue
        report.parsed += 1
        report.per_kind[goal.kind] = report.per_kind.get(goal.kind, 0) + 1
    return report
