"""Read-only questions about the phone's state ("is a results page for this query shown?"), shared by the
rule judge and the scripted expert so both read the simulator the same way."""

from __future__ import annotations

from coso.env.sim.apps.maps import place_of
from coso.env.sim.apps.youtube import playing_video
from coso.env.sim.catalog import resolve_app
from coso.env.sim.content import Video, store_results
from coso.env.sim.state import PhoneState
from coso.env.sim.text import content_tokens, normalize_domain, tokens
from coso.env.sim.ui import Screen

SITE_VIEWS = ("site_home", "site_results", "site_product")
SEARCH_FIELDS = ("chrome.omnibox", "google.search", "site.search", "store.search", "yt.search_field", "maps.search")
# Words that say how to find something rather than what: ignored when matching videos and places.
FILLER_WORDS = frozenset(
    "new latest recent video videos clip clips play watch youtube some nearest near closest nearby get directions "
    "route way go maps map".split()
)


def same_query(shown: str, wanted: str) -> bool:
    """True when two queries have the same words (case, spacing and punctuation ignored)."""
    return tokens(shown) == tokens(wanted)


def required_words(query: str) -> set[str]:
    """The content words of ``query`` without the filler that only says how to search."""
    words = content_tokens(query)
    return (words - FILLER_WORDS) or words


def mentions(text: str, query: str) -> bool:
    """True when ``text`` contains every required word of ``query``."""
    return required_words(query) <= set(tokens(text))


def editing_search(state: PhoneState) -> bool:
    """True while a search box is being typed in: its suggestions dropdown covers the page."""
    return state.ui.focus in SEARCH_FIELDS and state.ui.editing


def on_site(state: PhoneState, site: str) -> bool:
    """True when Chrome shows a page of ``site``."""
    page = state.page
    return state.foreground == "chrome" and page.view in SITE_VIEWS and page.site == normalize_domain(site)


def site_results_shown(state: PhoneState, site: str, query: str) -> bool:
    """True when ``site``'s results page for ``query`` is shown (not the suggestions dropdown)."""
    page = state.page
    return (on_site(state, site) and page.view == "site_results" and same_query(page.query, query)
            and not editing_search(state))


def first_result_shown(state: PhoneState, site: str, query: str) -> bool:
    """True when the product page of the first result of ``site``'s search for ``query`` is shown."""
    page = state.page
    return on_site(state, site) and page.view == "site_product" and same_query(page.query, query) and page.index == 0


def google_query_shown(state: PhoneState) -> str | None:
    """The query of the Google results page on screen, or None (also while its suggestions are open)."""
    page = state.page
    if page.view != "google_results" or editing_search(state):
        return None
    return page.query


def video_matches(video: Video | None, query: str) -> bool:
    """True for a real (non-ad) video whose search topic or title has the words of ``query``."""
    if video is None or video.ad:
        return False
    return mentions(f"{video.topic} {video.title}", query)


def matching_video_playing(state: PhoneState, query: str) -> bool:
    """True when a video matching ``query`` is open and playing."""
    return not state.ui.paused and video_matches(playing_video(state), query)


def maps_results_shown(state: PhoneState, query: str) -> bool:
    """True when Maps lists places for ``query`` (results list or one of its places)."""
    page = state.page
    return (state.foreground == "maps" and page.view in ("maps_results", "maps_place") and mentions(page.query, query)
            and not editing_search(state))


def directions_shown(state: PhoneState, query: str) -> bool:
    """True when Maps shows directions to a place found for ``query``."""
    page = state.page
    return (state.foreground == "maps" and page.view == "maps_directions" and mentions(page.query, query)
            and place_of(state, page) is not None)


def store_shows_installed(state: PhoneState, app: str) -> bool:
    """True when ``app`` is installed and the Play Store shows it (its page, or a results row saying Installed)."""
    app = resolve_app(app)
    page = state.page
    if app not in state.installed or state.foreground != "play store":
        return False
    if page.view == "store_app":
        return page.item == app
    if page.view == "store_results":
        return any(entry.app == app for entry in store_results(page.query, state.seed, state.variation))
    return False


def app_info_shown(state: PhoneState, app: str) -> bool:
    """True when Settings shows the App info page of ``app``."""
    page = state.page
    return state.foreground == "settings" and page.view == "settings_app_info" and page.item == resolve_app(app)


def settings_page_shown(state: PhoneState) -> str:
    """The id of the Settings page on screen ("main", "wifi", "apps_all", ...), or "" outside Settings."""
    if state.foreground != "settings":
        return ""
    return state.page.item


def switch_visible(screen: Screen, key: str) -> bool:
    """True when the switch (or quick-settings tile) ``key`` is on screen."""
    return screen.find(f"switch.{key}") is not None or screen.find(f"tile.{key}") is not None


def enabled_alarms(alarms: list[tuple[int, int, bool]], hour: int, minute: int) -> int:
    """How many enabled alarms ring at ``hour:minute``."""
    return sum(1 for h, m, enabled in alarms if enabled and (h, m) == (hour, minute))


def new_alarm_set(state: PhoneState, hour: int, minute: int) -> bool:
    """True when more enabled alarms ring at ``hour:minute`` than at the start of the episode."""
    now = [(alarm.hour, alarm.minute, alarm.enabled) for alarm in state.alarms]
    return enabled_alarms(now, hour, minute) > enabled_alarms(list(state.initial_alarms), hour, minute)


def new_tab_shown(state: PhoneState, incognito: bool) -> bool:
    """True when Chrome shows a new tab page of the asked kind."""
    page = state.page
    return state.foreground == "chrome" and page.view == "new_tab" and page.incognito == incognito
