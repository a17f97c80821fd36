"""Navigation: the state transitions of Android's back stack, launcher, popups, text fields and Enter/Back/Home."""

from __future__ import annotations

from coso.env.sim.registry import ENTER_HOOKS, ROOTS, SUBMITTERS
from coso.env.sim.state import LAUNCHER, Page, PhoneState, UiState

MAX_FIELD_LENGTH = 120
HOME_PAGE = Page(LAUNCHER, "home")
DRAWER_PAGE = Page(LAUNCHER, "drawer")


def root_page(state: PhoneState, app: str) -> Page:
    """The page ``app`` opens on (a titled main screen for apps without their own root)."""
    factory = ROOTS.get(app)
    return factory(state) if factory is not None else Page(app, "app_main")


def _show(state: PhoneState) -> None:
    """Reset the transient UI for the newly shown foreground page and run its enter hook."""
    page = state.page
    state.ui = UiState()
    hook = ENTER_HOOKS.get(page.view)
    if hook is not None:
        hook(state, page)


def push(state: PhoneState, page: Page) -> None:
    """Open ``page`` on top of the foreground app's back stack."""
    if page.app != state.foreground:
        launch(state, page.app)
    state.stacks[state.foreground].append(page)
    _show(state)


def replace(state: PhoneState, page: Page) -> None:
    """Swap the foreground page for ``page`` (tab switches: no new back-stack entry)."""
    state.stacks[state.foreground][-1] = page
    _show(state)


def launch(state: PhoneState, app: str) -> None:
    """Bring ``app`` to the foreground, resuming its back stack or starting at its root page."""
    if app != LAUNCHER and app not in state.installed:
        return
    state.shade_open = False
    if app == LAUNCHER:
        go_home(state)
        return
    if not state.stacks.get(app):
        state.stacks[app] = [root_page(state, app)]
    state.foreground = app
    _show(state)


def go_home(state: PhoneState) -> None:
    """The Home key: the home screen, with the drawer closed and no focus; apps keep their stacks."""
    state.shade_open = False
    state.foreground = LAUNCHER
    state.stacks[LAUNCHER] = [HOME_PAGE]
    _show(state)


def visible_popups(state: PhoneState) -> list[str]:
    """Popups over the foreground page, bottom first: site popups, first-launch popups, then an open menu."""
    page = state.page
    shown: list[str] = []
    if page.site and page.view.startswith("site_"):
        shown.extend(state.site_popups.get(page.site, ()))
    shown.extend(state.app_popups.get(state.foreground, ()))
    if state.ui.menu:
        shown.append(state.ui.menu)
    return shown


def dismiss(state: PhoneState, popup: str) -> None:
    """Close ``popup`` wherever it is held (menus, first-launch popups, or the current site's popups)."""
    if state.ui.menu == popup:
        state.ui.menu = ""
        return
    app_popups = state.app_popups.get(state.foreground)
    if app_popups and popup in app_popups:
        app_popups.remove(popup)
        return
    site_popups = state.site_popups.get(state.page.site)
    if site_popups and popup in site_popups:
        site_popups.remove(popup)


def back(state: PhoneState) -> None:
    """The Back key: shade, then keyboard, then the topmost popup, then focus, then the back stack."""
    ui = state.ui
    if state.shade_open:
        state.shade_open = False
    elif ui.keyboard:
        ui.keyboard = False
    elif visible_popups(state):
        dismiss(state, visible_popups(state)[-1])
    elif ui.focus:
        ui.focus, ui.text, ui.selected = "", "", False
    elif len(state.stacks[state.foreground]) > 1:
        state.stacks[state.foreground].pop()
        _show(state)
    elif state.foreground != LAUNCHER:
        state.stacks.pop(state.foreground, None)  # back from an app's root closes it
        go_home(state)


def focus(state: PhoneState, field_id: str, content: str) -> None:
    """Give ``field_id`` the focus with its ``content`` selected (typing replaces it) and show the keyboard."""
    ui = state.ui
    if ui.focus == field_id:
        ui.keyboard = True
        ui.selected = False
        return
    ui.focus, ui.text, ui.selected, ui.keyboard = field_id, content, bool(content), True


def type_text(state: PhoneState, text: str) -> None:
    """Type into the focused field (replacing a selection); without focus nothing happens."""
    ui = state.ui
    if not ui.focus:
        return
    clean = "".join(ch for ch in text if ch.isprintable())
    base = "" if ui.selected else ui.text
    ui.text = (base + clean)[:MAX_FIELD_LENGTH]
    ui.selected = False


def backspace(state: PhoneState) -> None:
    """Delete the selection or the last character of the focused field."""
    ui = state.ui
    if ui.focus:
        ui.text = "" if ui.selected else ui.text[:-1]
        ui.selected = False


def submit(state: PhoneState, field_id: str, text: str) -> None:
    """Run ``field_id``'s action on ``text`` (search, go to a site...); blank text only hides the keyboard."""
    handler = SUBMITTERS.get(field_id)
    if handler is None or not text.strip():
        state.ui.keyboard = False
        return
    handler(state, text)


def enter(state: PhoneState) -> None:
    """The Enter key: submit the focused field; nothing happens without focus."""
    if state.ui.focus:
        submit(state, state.ui.focus, state.ui.text)
