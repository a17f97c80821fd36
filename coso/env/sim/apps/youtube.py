"""YouTube: home feed, search with suggestions, results (with ads on harder layouts), a video page that plays."""

from __future__ import annotations

from coso.env.sim import nav
from coso.env.sim.content import Video, youtube_home, youtube_results
from coso.env.sim.registry import FIRST_RUN_POPUPS, command, on_enter, popup, root, submitter, view
from coso.env.sim.state import Page, PhoneState
from coso.env.sim.text import normalize_text
from coso.env.sim.ui import ABSORB, GREY, LINE, WHITE, Command, Element, Rect, ScreenBuilder, ScrollColumn, Style
from coso.env.sim.widgets import STATUS_H, W, button, content_bottom, dialog, icon, suggestions, text_field

YT_RED = (230, 33, 23)
BAR_BOTTOM = STATUS_H + 32
FIRST_RUN_POPUPS["youtube"] = "yt_premium"


@root("youtube")
def _youtube_root(state: PhoneState) -> Page:
    return Page("youtube", "yt_home")


def playing_video(state: PhoneState) -> Video | None:
    """The video open in the foreground player, or None (the judge reads its topic)."""
    page = state.page
    if page.view != "yt_video":
        return None
    if page.query:
        videos = youtube_results(page.query, state.seed, state.variation)
    else:
        videos = youtube_home(state.seed)
    return videos[page.index] if 0 <= page.index < len(videos) else None


def _top_bar(b: ScreenBuilder, state: PhoneState) -> None:
    b.add(Element("yt.bar", Rect(0, STATUS_H, W, BAR_BOTTOM), "", "panel", ABSORB, Style(fill=WHITE)))
    b.add(Element("yt.logo", Rect(8, STATUS_H, 110, BAR_BOTTOM), "YouTube", "text", style=Style(color=YT_RED, size=13, pad=0)))
    icon(b, "yt.search", Rect(W - 64, STATUS_H + 3, W - 36, BAR_BOTTOM - 3), "search", (40, 40, 40),
         Command("push", page=Page("youtube", "yt_search")))
    b.add(Element("yt.account", Rect(W - 30, STATUS_H + 6, W - 10, BAR_BOTTOM - 6), "A", "image", ABSORB,
                  Style(fill=(120, 90, 200), color=WHITE, size=9, align="center", shape="ellipse", pad=0)))


def _video_row(col: ScrollColumn, element_id: str, video: Video, target: Page | None) -> None:
    rect = col.row(74)
    tap = Command("push", page=target) if target is not None else ABSORB
    col.add(Element(element_id, rect, "", "row", tap, Style(fill=WHITE)))
    thumb = Rect(8, rect.y0 + 6, 112, rect.y1 - 6)
    col.add(Element(f"{element_id}.thumbnail", thumb, "Ad" if video.ad else "", "image",
                    style=Style(fill=(255, 214, 0) if video.ad else (40, 40, 40), color=(20, 20, 20), size=9, align="center")))
    col.add(Element(f"{element_id}.title", Rect(116, rect.y0 + 6, W - 4, rect.y0 + 26), video.title, "text",
                    style=Style(size=9, pad=2)))
    col.add(Element(f"{element_id}.channel", Rect(116, rect.y0 + 26, W - 4, rect.y0 + 42),
                    f"{video.channel} - {video.views}", "text", style=Style(size=8, color=GREY, pad=2)))
    if video.ad:
        col.add(Element(f"{element_id}.learn_more", Rect(116, rect.y0 + 44, 190, rect.y1 - 8), "Learn more", "button",
                        ABSORB, Style(fill=(230, 240, 255), color=(26, 115, 232), size=8, align="center", shape="round")))


@view("yt_home")
def _yt_home(state: PhoneState, b: ScreenBuilder) -> None:
    b.box("page.background", Rect(0, 0, W, state.height_dp), WHITE)
    _top_bar(b, state)
    col = b.column("feed", Rect(0, BAR_BOTTOM, W, content_bottom(state)))
    chips = col.row(26)
    for index, label in enumerate(("All", "Music", "Gaming", "News", "Live")):
        col.add(Element(f"yt.chip.{index}", Rect(8 + index * 52, chips.y0 + 3, 56 + index * 52, chips.y1 - 3), label,
                        "button", ABSORB, Style(fill=(30, 30, 30) if index == 0 else (240, 240, 240),
                                                color=WHITE if index == 0 else (30, 30, 30), size=8, align="center",
                                                shape="round", pad=1)))
    for index, video in enumerate(youtube_home(state.seed)):
        target = Page("youtube", "yt_video", index=index, item=video.title)
        _video_row(col, f"yt.feed.{index}", video, target)
    col.close()


def _focus_search(state: PhoneState, page: Page) -> None:
    nav.focus(state, "yt.search_field", page.query)


on_enter("yt_search")(_focus_search)


@view("yt_search")
def _yt_search(state: PhoneState, b: ScreenBuilder) -> None:
    b.box("page.background", Rect(0, 0, W, state.height_dp), WHITE)
    icon(b, "yt.search.up", Rect(4, STATUS_H + 4, 30, BAR_BOTTOM - 2), "arrow_left", (40, 40, 40), Command("back"))
    text_field(b, state, "yt.search_field", Rect(32, STATUS_H + 3, W - 8, BAR_BOTTOM - 1), "Search YouTube",
               state.page.query)
    suggestions(b, state, "yt.search_field", BAR_BOTTOM + 2, "youtube")


@submitter("yt.search_field")
def _yt_submit(state: PhoneState, text: str) -> None:
    page = Page("youtube", "yt_results", query=normalize_text(text))
    if state.page.view == "yt_search":
        nav.replace(state, page)
    else:
        nav.push(state, page)


@view("yt_results")
def _yt_results(state: PhoneState, b: ScreenBuilder) -> None:
    page = state.page
    b.box("page.background", Rect(0, 0, W, state.height_dp), WHITE)
    icon(b, "yt.results.up", Rect(4, STATUS_H + 4, 30, BAR_BOTTOM - 2), "arrow_left", (40, 40, 40), Command("back"))
    b.add(Element("yt.results.query", Rect(32, STATUS_H + 3, W - 8, BAR_BOTTOM - 1), page.query, "field",
                  Command("push", page=Page("youtube", "yt_search", query=page.query)),
                  Style(fill=(240, 240, 240), size=10, shape="round", pad=10)))
    col = b.column("results", Rect(0, BAR_BOTTOM + 2, W, content_bottom(state)))
    for index, video in enumerate(youtube_results(page.query, state.seed, state.variation)):
        target = None if video.ad else Page("youtube", "yt_video", query=page.query, index=index, item=video.title)
        _video_row(col, f"yt.result.{index}", video, target)
    col.close()


@view("yt_video")
def _yt_video(state: PhoneState, b: ScreenBuilder) -> None:
    page = state.page
    video = playing_video(state)
    b.box("page.background", Rect(0, 0, W, state.height_dp), WHITE)
    player = Rect(0, STATUS_H, W, STATUS_H + 152)
    b.add(Element("yt.player", player, "", "image", Command("play_pause"), Style(fill=(0, 0, 0))))
    paused = state.ui.paused
    icon(b, "yt.player.state", Rect(W / 2 - 18, player.y0 + 58, W / 2 + 18, player.y0 + 94), "play" if paused else "pause",
         WHITE)
    progress = 0.0 if paused else 0.35
    b.add(Element("yt.player.progress", Rect(0, player.y1 - 3, W * max(progress, 0.02), player.y1), "", "panel",
                  style=Style(fill=YT_RED)))
    col = b.column("page", Rect(0, player.y1, W, content_bottom(state)))
    col.add(Element("yt.video.title", col.row(36), page.item, "text", style=Style(size=11)))
    col.add(Element("yt.video.channel", col.row(20), f"{video.channel if video else ''} - {video.views if video else ''}",
                    "text", style=Style(size=8, color=GREY)))
    actions = col.row(34)
    button(col, "yt.subscribe", Rect(W - 100, actions.y0 + 4, W - 8, actions.y1 - 4), "Subscribe", ABSORB,
           fill=(20, 20, 20), size=9)
    col.add(Element("yt.up_next", col.row(22), "Up next", "text", style=Style(size=10)))
    for index, other in enumerate(youtube_home(state.seed)[:3]):
        _video_row(col, f"yt.next.{index}", other, Page("youtube", "yt_video", index=index, item=other.title))
    col.add(Element("yt.line", Rect(0, actions.y1, W, actions.y1 + 1), "", "panel", style=Style(fill=LINE)))
    col.close()


@command("play_pause")
def _play_pause(state: PhoneState, tap: Command) -> None:
    state.ui.paused = not state.ui.paused


@popup("yt_premium")
def _yt_premium(state: PhoneState, b: ScreenBuilder) -> None:
    dialog(b, state, "yt_premium", "Try YouTube Premium", "Ad-free videos and background play",
           [("no_thanks", "No thanks", Command("dismiss", "yt_premium")), ("try", "Try it free", ABSORB)])

