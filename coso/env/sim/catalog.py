"""What exists on the simulated phone: apps, web sites, Settings pages and switches, with their aliases.

Names are canonical lower-case strings; ``resolve_app``, ``resolve_switch`` and ``resolve_settings_page``
map the many ways a task sentence names a thing ("Google Maps", "the maps app") to one of them, so the
simulator, the judge and the expert agree on identity.
"""

from __future__ import annotations

from dataclasses import dataclass

from coso.env.sim.text import normalize_domain, normalize_text, stable_seed, tokens
from coso.env.sim.ui import Color


@dataclass(frozen=True)
class AppSpec:
    """An app: canonical name, label under its icon, icon colour, other names, and whether it ships installed."""

    name: str
    label: str
    color: Color
    aliases: tuple[str, ...] = ()
    preinstalled: bool = True
    developer: str = ""
    system: bool = False  # cannot be uninstalled


def _app(name: str, label: str, color: Color, *aliases: str, preinstalled: bool = True, developer: str = "",
         system: bool = False) -> AppSpec:
    return AppSpec(name, label, color, tuple(aliases), preinstalled, developer or f"{label} Inc.", system)


APPS: tuple[AppSpec, ...] = (
    _app("chrome", "Chrome", (66, 133, 244), "google chrome", "browser", "internet", "web browser", developer="Google LLC", system=True),
    _app("play store", "Play Store", (1, 135, 95), "google play store", "google play", "playstore", "app store", developer="Google LLC", system=True),
    _app("youtube", "YouTube", (230, 33, 23), "you tube", "yt", developer="Google LLC", system=True),
    _app("maps", "Maps", (52, 168, 83), "google maps", "map", developer="Google LLC", system=True),
    _app("settings", "Settings", (95, 99, 104), "setting", "system settings", developer="Google LLC", system=True),
    _app("clock", "Clock", (26, 115, 232), "alarm", "alarms", "alarm clock", "timer", developer="Google LLC", system=True),
    _app("gmail", "Gmail", (234, 67, 53), "email", "mail", "e-mail", "inbox", "email inbox", "gmail inbox", "google mail", developer="Google LLC", system=True),
    _app("calculator", "Calculator", (60, 64, 67), "calc", developer="Google LLC", system=True),
    _app("camera", "Camera", (32, 33, 36), "cam", developer="Google LLC", system=True),
    _app("contacts", "Contacts", (26, 115, 232), "contact", "address book", "people", developer="Google LLC", system=True),
    _app("files", "Files", (66, 133, 244), "file", "downloads", "download", "file manager", "my files", "files by google", developer="Google LLC", system=True),
    _app("messages", "Messages", (26, 115, 232), "sms", "message", "messaging", "text messages", "texts", "sms app", developer="Google LLC", system=True),
    _app("phone", "Phone", (52, 168, 83), "dialer", "calls", developer="Google LLC", system=True),
    _app("calendar", "Calendar", (66, 133, 244), "google calendar", "my calendar", developer="Google LLC", system=True),
    _app("photos", "Photos", (251, 188, 4), "google photos", "gallery", "pictures", "photo gallery", developer="Google LLC", system=True),
    _app("music", "Music", (255, 87, 34), "music player", "youtube music", "yt music", developer="Google LLC", system=True),
    _app("google", "Google", (66, 133, 244), "google app", "google search", developer="Google LLC", system=True),
    _app("reddit", "Reddit", (255, 69, 0), developer="reddit Inc."),
    _app("amazon alexa", "Amazon Alexa", (0, 202, 255), "alexa", developer="Amazon Mobile LLC"),
    _app("amazon music", "Amazon Music", (37, 209, 218), "amazon prime music", "prime music", developer="Amazon Mobile LLC"),
    _app("prime video", "Prime Video", (0, 168, 225), "amazon prime video", "amazon video", developer="Amazon Mobile LLC"),
    _app("amazon shopping", "Amazon Shopping", (255, 153, 0), "amazon", "amazon shop", developer="Amazon Mobile LLC"),
    _app("facebook", "Facebook", (24, 119, 242), "fb", developer="Meta Platforms, Inc."),
    _app("instagram", "Instagram", (193, 53, 132), "insta", developer="Instagram"),
    _app("netflix", "Netflix", (229, 9, 20), developer="Netflix, Inc."),
    _app("pandora", "Pandora", (34, 71, 174), "pandora music", developer="Pandora"),
    _app("spotify", "Spotify", (30, 215, 96), "spotify music", developer="Spotify AB"),
    _app("twitter", "Twitter", (29, 161, 242), "x", developer="X Corp."),
    _app("uber", "Uber", (0, 0, 0), developer="Uber Technologies, Inc."),
    _app("lyft", "Lyft", (255, 0, 191), developer="Lyft, Inc."),
    _app("play books", "Play Books", (0, 122, 255), "google play books", "books", developer="Google LLC"),
    _app("play movies", "Play Movies & TV", (229, 57, 53), "google play movies", "google play movies & tv", "play movies & tv", "google tv", developer="Google LLC"),
    _app("play music", "Play Music", (255, 112, 67), "google play music", developer="Google LLC"),
    # In the Play Store only: tasks install these.
    _app("cnn", "CNN", (204, 0, 0), "cnn news", "cnn breaking us & world news", preinstalled=False, developer="CNN"),
    _app("espn", "ESPN", (213, 0, 0), preinstalled=False, developer="Disney"),
    _app("news", "Google News", (66, 133, 244), "google news", "news app", preinstalled=False, developer="Google LLC"),
    _app("starbucks", "Starbucks", (0, 112, 74), preinstalled=False, developer="Starbucks Coffee Company"),
    _app("weather", "Weather", (3, 155, 229), "the weather channel", "weather app", preinstalled=False, developer="The Weather Channel"),
    _app("wikipedia", "Wikipedia", (51, 51, 51), "wiki", preinstalled=False, developer="Wikimedia Foundation"),
    _app("yahoo", "Yahoo", (96, 1, 210), "yahoo mail", preinstalled=False, developer="Yahoo"),
    _app("yelp", "Yelp", (211, 35, 35), preinstalled=False, developer="Yelp"),
    _app("ebay", "eBay", (229, 50, 56), "e bay", preinstalled=False, developer="eBay Mobile"),
    _app("tiktok", "TikTok", (37, 244, 238), "tik tok", preinstalled=False, developer="TikTok Pte. Ltd."),
    _app("whatsapp", "WhatsApp", (37, 211, 102), "whats app", preinstalled=False, developer="WhatsApp LLC"),
    _app("zoom", "Zoom", (45, 140, 255), preinstalled=False, developer="zoom.us"),
    _app("duolingo", "Duolingo", (88, 204, 2), preinstalled=False, developer="Duolingo"),
    _app("waze", "Waze", (51, 204, 255), preinstalled=False, developer="Waze"),
    _app("airbnb", "Airbnb", (255, 90, 95), preinstalled=False, developer="Airbnb"),
    _app("doordash", "DoorDash", (255, 48, 8), "door dash", preinstalled=False, developer="DoorDash"),
    _app("linkedin", "LinkedIn", (10, 102, 194), "linked in", preinstalled=False, developer="LinkedIn"),
    _app("snapchat", "Snapchat", (255, 252, 0), preinstalled=False, developer="Snap Inc"),
    _app("pinterest", "Pinterest", (230, 0, 35), preinstalled=False, developer="Pinterest"),
    _app("telegram", "Telegram", (0, 136, 204), preinstalled=False, developer="Telegram FZ-LLC"),
    _app("shazam", "Shazam", (8, 130, 255), preinstalled=False, developer="Apple, Inc."),
    _app("walmart", "Walmart", (0, 113, 206), preinstalled=False, developer="Walmart"),
    _app("target", "Target", (204, 0, 0), preinstalled=False, developer="Target Corporation"),
    _app("best buy", "Best Buy", (0, 70, 190), "bestbuy", preinstalled=False, developer="Best Buy"),
    _app("costco", "Costco", (0, 93, 170), preinstalled=False, developer="Costco Wholesale"),
    _app("translate", "Translate", (66, 133, 244), "google translate", preinstalled=False, developer="Google LLC"),
    _app("drive", "Drive", (15, 157, 88), "google drive", preinstalled=False, developer="Google LLC"),
)
APP_BY_NAME: dict[str, AppSpec] = {app.name: app for app in APPS}
_APP_ALIASES: dict[str, str] = {}
for _spec in APPS:
    for _alias in (_spec.name, _spec.label.lower(), *_spec.aliases):
        _APP_ALIASES.setdefault(normalize_text(_alias), _spec.name)

# Apps that are always on the home screen at the easiest difficulty, in grid order.
EASY_HOME_APPS = (
    "chrome", "play store", "youtube", "maps", "gmail", "photos", "settings", "clock",
    "calendar", "camera", "contacts", "messages", "phone", "files", "calculator", "music",
)
# Apps whose icons never leave the home screen's dock row at any difficulty.
DOCK_APPS = ("phone", "messages", "chrome", "camera")


def _strip_app_words(name: str) -> str:
    words = normalize_text(name).replace("\u2019", "'").split()
    while words and words[0] in ("the", "my", "a", "an"):
        words = words[1:]
    while words and words[-1] in ("app", "application", "apps"):
        words = words[:-1]
    return " ".join(words)


def resolve_app(name: str) -> str:
    """The canonical name of the app ``name`` refers to; unknown apps keep their cleaned-up name."""
    cleaned = _strip_app_words(name)
    for candidate in (cleaned, cleaned.removeprefix("google ").strip(), cleaned.removesuffix(" app").strip()):
        if candidate in _APP_ALIASES:
            return _APP_ALIASES[candidate]
    return cleaned


def app_spec(name: str) -> AppSpec:
    """The spec of an app; apps outside the catalogue (installable by name from the Play Store) get a generic one."""
    canonical = resolve_app(name)
    spec = APP_BY_NAME.get(canonical)
    if spec is not None:
        return spec
    label = " ".join(word.capitalize() for word in canonical.split()) or "App"
    seed = stable_seed("app-color", canonical)
    color = (40 + seed % 180, 40 + (seed >> 8) % 180, 40 + (seed >> 16) % 180)
    return AppSpec(canonical, label, color, (), False, f"{label} Labs")


def app_label(name: str) -> str:
    """The label shown for an app."""
    return app_spec(name).label


def store_search(query: str) -> list[str]:
    """Apps whose name, label or an alias matches every word of ``query``, best matches first."""
    wanted = set(tokens(query))
    if not wanted:
        return []
    exact = resolve_app(query)
    matches = [exact] if exact in APP_BY_NAME else []
    for spec in APPS:
        names = (spec.name, spec.label, *spec.aliases)
        if spec.name not in matches and any(wanted <= set(tokens(n)) for n in names):
            matches.append(spec.name)
    if not matches and _strip_app_words(query):
        matches.append(resolve_app(query))  # an app outside the catalogue: the store still has it
    return matches


# ----------------------------------------------------------------------------------------------------------
# Web sites


@dataclass(frozen=True)
class SiteSpec:
    """A web site: its domain, display name, brand colour and kind ("shop" or "web")."""

    domain: str
    name: str
    color: Color
    kind: str = "shop"
    categories: tuple[str, ...] = ("Deals", "Electronics", "Home", "Toys", "Clothing", "Grocery")


SITES: tuple[SiteSpec, ...] = (
    SiteSpec("bestbuy.com", "Best Buy", (0, 70, 190), categories=("Deals", "Computers", "TV & Home Theater", "Appliances", "Cell Phones", "Video Games")),
    SiteSpec("costco.com", "Costco", (0, 93, 170), categories=("Grocery", "Appliances", "Electronics", "Furniture", "Jewelry", "Optical")),
    SiteSpec("ebay.com", "eBay", (229, 50, 56), categories=("Motors", "Electronics", "Collectibles", "Fashion", "Sports", "Toys")),
    SiteSpec("newegg.com", "Newegg", (230, 110, 0), categories=("Components", "Laptops", "Monitors", "Gaming", "Networking", "Software")),
    SiteSpec("walmart.com", "Walmart", (0, 113, 206), categories=("Grocery", "Home", "Electronics", "Toys", "Clothing", "Pharmacy")),
    SiteSpec("target.com", "Target", (204, 0, 0), categories=("Home", "Kids", "Electronics", "Grocery", "Beauty", "Clothing")),
    SiteSpec("amazon.com", "amazon", (35, 47, 62), categories=("Prime", "Books", "Electronics", "Home", "Fashion", "Deals")),
    SiteSpec("homedepot.com", "The Home Depot", (249, 99, 2), categories=("Tools", "Appliances", "Flooring", "Lighting", "Garden", "Paint")),
    SiteSpec("google.com", "Google", (66, 133, 244), kind="google"),
    SiteSpec("youtube.com", "YouTube", (230, 33, 23), kind="web"),
    SiteSpec("reddit.com", "Reddit", (255, 69, 0), kind="web"),
    SiteSpec("wikipedia.org", "Wikipedia", (51, 51, 51), kind="web"),
    SiteSpec("cnn.com", "CNN", (204, 0, 0), kind="web"),
    SiteSpec("bbc.com", "BBC", (187, 25, 25), kind="web"),
    SiteSpec("nytimes.com", "The New York Times", (20, 20, 20), kind="web"),
    SiteSpec("weather.com", "The Weather Channel", (3, 155, 229), kind="web"),
    SiteSpec("yelp.com", "Yelp", (211, 35, 35), kind="web"),
    SiteSpec("tripadvisor.com", "Tripadvisor", (52, 224, 161), kind="web"),
    SiteSpec("expedia.com", "Expedia", (0, 53, 95), kind="web"),
    SiteSpec("kayak.com", "KAYAK", (255, 105, 15), kind="web"),
    SiteSpec("booking.com", "Booking.com", (0, 53, 128), kind="web"),
    SiteSpec("zillow.com", "Zillow", (0, 106, 255), kind="web"),
    SiteSpec("espn.com", "ESPN", (213, 0, 0), kind="web"),
    SiteSpec("imdb.com", "IMDb", (245, 197, 24), kind="web"),
)
_SITE_BY_DOMAIN: dict[str, SiteSpec] = {site.domain: site for site in SITES}


def site_spec(site: str) -> SiteSpec:
    """The spec of a site; unknown domains are shops drawn with the generic template."""
    domain = normalize_domain(site)
    known = _SITE_BY_DOMAIN.get(domain)
    if known is not None:
        return known
    stem = domain.split(".")[0]
    name = stem.capitalize() if stem else "Shop"
    seed = stable_seed("site-color", domain)
    color = (30 + seed % 160, 30 + (seed >> 8) % 160, 30 + (seed >> 16) % 160)
    return SiteSpec(domain, name, color)


def shopping_sites() -> tuple[SiteSpec, ...]:
    """The named shopping sites."""
    return tuple(site for site in SITES if site.kind == "shop")


# ----------------------------------------------------------------------------------------------------------
# Switches and Settings pages


@dataclass(frozen=True)
class SwitchSpec:
    """A switch: its key in ``PhoneState.toggles``, its label, other names, default, and quick-settings tile."""

    key: str
    label: str
    aliases: tuple[str, ...] = ()
    default: bool = False
    tile: bool = False  # also a tile in the notification shade
    page: str = ""  # the Settings page that holds it


SWITCHES: tuple[SwitchSpec, ...] = (
    SwitchSpec("wifi", "Wi-Fi", ("wi-fi", "wi fi", "wireless", "internet", "wlan"), True, True, "wifi"),
    SwitchSpec("bluetooth", "Bluetooth", ("bt", "blue tooth"), False, True, "bluetooth"),
    SwitchSpec("mobile data", "Mobile data", ("cellular data", "data", "cellular", "mobile internet"), True, False, "network"),
    SwitchSpec("hotspot", "Wi-Fi hotspot", ("mobile hotspot", "wifi hotspot", "wi-fi hotspot", "tethering"), False, False, "hotspot"),
    SwitchSpec("nfc", "NFC", ("near field communication",), False, False, "connected"),
    SwitchSpec("airplane mode", "Airplane mode", ("airplane", "flight mode", "aeroplane mode", "plane mode"), False, True, "network"),
    SwitchSpec("do not disturb", "Do Not Disturb", ("dnd", "do-not-disturb", "silent mode"), False, True, "notifications"),
    SwitchSpec("location", "Use location", ("gps", "location services", "location access"), True, True, "location"),
    SwitchSpec("flashlight", "Flashlight", ("torch", "flash light"), False, True, ""),
    SwitchSpec("dark theme", "Dark theme", ("dark mode", "night mode", "dark"), False, False, "display"),
    SwitchSpec("auto-rotate", "Auto-rotate screen", ("auto rotate", "autorotate", "rotation", "screen rotation"), True, False, "display"),
    SwitchSpec("adaptive brightness", "Adaptive brightness", ("auto brightness", "automatic brightness"), True, False, "display"),
    SwitchSpec("battery saver", "Battery Saver", ("power saving", "battery saving", "power saver", "low power mode"), False, False, "battery"),
    SwitchSpec("vibrate", "Vibrate for calls", ("vibration", "vibrate for calls"), True, False, "sound"),
    SwitchSpec("auto time", "Set time automatically", ("automatic time", "network time"), True, False, "date"),
)
SWITCH_BY_KEY: dict[str, SwitchSpec] = {switch.key: switch for switch in SWITCHES}
_SWITCH_ALIASES: dict[str, str] = {}
for _switch in SWITCHES:
    for _alias in (_switch.key, _switch.label.lower(), *_switch.aliases):
        _SWITCH_ALIASES.setdefault(normalize_text(_alias), _switch.key)
NOTIFICATION_SWITCH_PREFIX = "notifications:"


def resolve_switch(setting: str, app: str = "") -> str:
    """The toggle key for a setting name (and app, for per-app notifications); "" when there is no such switch."""
    name = normalize_text(setting).removesuffix(" setting").removesuffix(" settings").strip()
    if app or name in ("notifications", "notification", "app notifications"):
        return f"{NOTIFICATION_SWITCH_PREFIX}{resolve_app(app)}" if app else ""
    return _SWITCH_ALIASES.get(name, "")


@dataclass(frozen=True)
class SettingsRow:
    """A row of a Settings page: opens ``target`` (a page id) and/or shows the switch ``switch``."""

    label: str
    summary: str = ""
    target: str = ""
    switch: str = ""


@dataclass(frozen=True)
class SettingsPageSpec:
    """A page of the Settings app: id, title, other names and its rows."""

    id: str
    title: str
    aliases: tuple[str, ...]
    rows: tuple[SettingsRow, ...]
    parent: str = "main"


def _rows(*specs: tuple[str, ...]) -> tuple[SettingsRow, ...]:
    return tuple(SettingsRow(*spec) for spec in specs)


SETTINGS_PAGES: tuple[SettingsPageSpec, ...] = (
    SettingsPageSpec("main", "Settings", ("settings", "settings app"), _rows(
        ("Network & internet", "Mobile, Wi-Fi, hotspot", "network"),
        ("Connected devices", "Bluetooth, pairing", "connected"),
        ("Apps", "Recent apps, default apps", "apps"),
        ("Notifications", "Notification history, conversations", "notifications"),
        ("Battery", "Battery Saver, usage", "battery"),
        ("Storage", "42% used - 37 GB free", "storage"),
        ("Sound & vibration", "Volume, haptics, Do Not Disturb", "sound"),
        ("Display", "Dark theme, font size, brightness", "display"),
        ("Wallpaper & style", "Colors, themed icons", "wallpaper"),
        ("Accessibility", "Display, interaction, audio", "accessibility"),
        ("Security & privacy", "Screen lock, permissions", "security"),
        ("Location", "On - 4 apps have access", "location"),
        ("Safety & emergency", "Emergency SOS, medical info", "safety"),
        ("Passwords & accounts", "Saved passwords, autofill", "accounts"),
        ("Google", "Services & preferences", "google"),
        ("System", "Languages, gestures, time, backup", "system"),
        ("About phone", "Pixel 6", "about"),
    ), parent=""),
    SettingsPageSpec("network", "Network & internet", ("network", "network & internet", "network and internet", "mobile network", "internet settings"), _rows(
        ("Internet", "Wi-Fi networks", "wifi", "wifi"),
        ("Calls & SMS", "Default SIM"),
        ("SIMs", "Carrier"),
        ("Mobile data", "", "", "mobile data"),
        ("Airplane mode", "", "", "airplane mode"),
        ("Hotspot & tethering", "", "hotspot"),
        ("Data Saver", "Off"),
        ("VPN", "None"),
        ("Private DNS", "Automatic"),
    )),
    SettingsPageSpec("wifi", "Internet", ("wifi", "wi-fi", "wi fi", "wifi settings", "wireless", "internet"), _rows(
        ("Wi-Fi", "", "", "wifi"),
        ("HomeNet-5G", "Connected"),
        ("CoffeeShop Guest", "Open"),
        ("Office-WLAN", "Saved"),
        ("Add network", ""),
        ("Saved networks", "3 networks"),
        ("Network preferences", "Wi-Fi turns back on automatically"),
    ), parent="network"),
    SettingsPageSpec("hotspot", "Hotspot & tethering", ("hotspot", "tethering", "mobile hotspot"), _rows(
        ("Wi-Fi hotspot", "", "", "hotspot"), ("USB tethering", ""), ("Bluetooth tethering", ""),
    ), parent="network"),
    SettingsPageSpec("connected", "Connected devices", ("connected devices", "connections", "pairing"), _rows(
        ("Pair new device", ""),
        ("Bluetooth", "", "bluetooth", "bluetooth"),
        ("NFC", "", "", "nfc"),
        ("Connection preferences", "Android Auto, printing"),
        ("Previously connected devices", "Car audio, Headphones"),
    )),
    SettingsPageSpec("bluetooth", "Bluetooth", ("bluetooth", "bluetooth settings", "bt"), _rows(
        ("Use Bluetooth", "", "", "bluetooth"),
        ("Pair new device", ""),
        ("Device name", "Pixel 6"),
        ("Received files", ""),
    ), parent="connected"),
    SettingsPageSpec("apps", "Apps", ("apps", "applications", "app settings", "apps & notifications", "apps and notifications"), _rows(
        ("See all apps", "", "apps_all"),
        ("Default apps", "Chrome and Messages"),
        ("Screen time", "2 hr 13 min today"),
        ("Unused apps", "0 unused apps"),
        ("App battery usage", ""),
        ("Special app access", "2 apps can use unrestricted data"),
    )),
    SettingsPageSpec("apps_all", "All apps", ("all apps", "app list", "installed apps"), (), parent="apps"),
    SettingsPageSpec("notifications", "Notifications", ("notifications", "notification settings", "notification"), _rows(
        ("App notifications", "Control notifications from individual apps"),
        ("Notification history", "Show recent and snoozed notifications"),
        ("Do Not Disturb", "", "", "do not disturb"),
        ("Notifications on lock screen", "Show all notification content"),
        ("Wireless emergency alerts", ""),
    )),
    SettingsPageSpec("battery", "Battery", ("battery", "battery settings", "power"), _rows(
        ("Battery usage", "View usage for past 24 hours"),
        ("Battery Saver", "", "", "battery saver"),
        ("Adaptive Battery", "On"),
        ("Battery percentage", "Show in status bar"),
    )),
    SettingsPageSpec("storage", "Storage", ("storage", "memory", "disk space"), _rows(
        ("Free up space", ""), ("Apps", "12.4 GB"), ("Images", "8.1 GB"), ("Videos", "4.9 GB"),
        ("Audio", "1.2 GB"), ("Documents & other", "3.3 GB"), ("System", "17 GB"),
    )),
    SettingsPageSpec("sound", "Sound & vibration", ("sound", "sounds", "volume", "sound & vibration", "sound and vibration", "ringtone"), _rows(
        ("Media volume", "60%"), ("Call volume", "80%"), ("Ring & notification volume", "70%"),
        ("Do Not Disturb", "", "", "do not disturb"),
        ("Vibrate for calls", "", "", "vibrate"),
        ("Phone ringtone", "Copycat"),
    )),
    SettingsPageSpec("display", "Display", ("display", "screen", "brightness", "display settings"), _rows(
        ("Brightness level", "64%"),
        ("Adaptive brightness", "", "", "adaptive brightness"),
        ("Dark theme", "", "", "dark theme"),
        ("Screen timeout", "After 30 seconds"),
        ("Auto-rotate screen", "", "", "auto-rotate"),
        ("Font size", "Default"),
        ("Display size", "Default"),
    )),
    SettingsPageSpec("wallpaper", "Wallpaper & style", ("wallpaper", "wallpapers", "style", "themes", "wallpaper & style"), _rows(
        ("Change wallpaper", ""), ("Themed icons", "Off"), ("Colors", "Wallpaper colors"),
    )),
    SettingsPageSpec("accessibility", "Accessibility", ("accessibility",), _rows(
        ("TalkBack", "Off"), ("Select to Speak", "Off"), ("Color correction", "Off"), ("Magnification", "Off"),
    )),
    SettingsPageSpec("security", "Security & privacy", ("security", "privacy", "security & privacy", "screen lock", "permissions"), _rows(
        ("Screen lock", "PIN"), ("Face unlock", "Not set up"), ("Find My Device", "On"),
        ("Privacy dashboard", ""), ("Permission manager", ""),
    )),
    SettingsPageSpec("location", "Location", ("location", "location settings", "gps settings"), _rows(
        ("Use location", "", "", "location"),
        ("Recent access", "Maps, Chrome"), ("App location permissions", "4 of 21 apps"), ("Location services", ""),
    )),
    SettingsPageSpec("safety", "Safety & emergency", ("safety", "emergency", "safety & emergency"), _rows(
        ("Emergency SOS", "Off"), ("Medical information", ""), ("Crisis alerts", "On"),
    )),
    SettingsPageSpec("accounts", "Passwords & accounts", ("accounts", "passwords", "passwords & accounts", "account"), _rows(
        ("Saved passwords", "Google Password Manager"), ("Autofill service", "Google"), ("Google account", "me@example.com"),
    )),
    SettingsPageSpec("google", "Google", ("google settings", "google services"), _rows(
        ("Manage your Google Account", ""), ("Devices & sharing", ""), ("Backup", ""),
    )),
    SettingsPageSpec("system", "System", ("system", "system settings", "languages", "backup"), _rows(
        ("Languages", "English (United States)"), ("Gestures", ""), ("Date & time", "GMT-05:00", "date"),
        ("Backup", "On"), ("Reset options", ""), ("System update", "Updated to Android 13"),
    )),
    SettingsPageSpec("date", "Date & time", ("date & time", "date and time", "time", "date", "time zone"), _rows(
        ("Set time automatically", "", "", "auto time"), ("Time zone", "GMT-05:00 Eastern Standard Time"),
        ("Use 24-hour format", "Off"),
    ), parent="system"),
    SettingsPageSpec("about", "About phone", ("about phone", "about", "phone info", "device info", "android version"), _rows(
        ("Device name", "Pixel 6"), ("Phone number", "(650) 555-0123"), ("Android version", "13"),
        ("Model", "Pixel 6"), ("Build number", "TQ3A.230805.001"),
    )),
)
SETTINGS_BY_ID: dict[str, SettingsPageSpec] = {page.id: page for page in SETTINGS_PAGES}
_SETTINGS_ALIASES: dict[str, str] = {}
for _page in SETTINGS_PAGES:
    for _alias in (_page.id, _page.title.lower(), *_page.aliases):
        _SETTINGS_ALIASES.setdefault(normalize_text(_alias), _page.id)


def resolve_settings_page(page: str) -> str:
    """The id of the Settings page ``page`` names ("Wi-Fi" -> "wifi"); "" when there is none."""
    name = normalize_text(page)
    for candidate in (name, name.removesuffix(" settings").strip(), name.removesuffix(" page").strip(),
                      name.removeprefix("the ").strip()):
        if candidate in _SETTINGS_ALIASES:
            return _SETTINGS_ALIASES[candidate]
    switch = _SWITCH_ALIASES.get(name)
    if switch and SWITCH_BY_KEY[switch].page:
        return SWITCH_BY_KEY[switch].page
    return ""


def settings_path(page_id: str) -> list[str]:
    """The chain of page ids from the main page down to ``page_id`` (inclusive)."""
    chain = []
    current = page_id
    while current:
        chain.append(current)
        current = SETTINGS_BY_ID[current].parent
    return list(reversed(chain))
