"""Registries that app modules fill at import: views, popups, tap commands, field submitters, app roots.

Each app (``coso.env.sim.apps.*``) registers its own screens and behaviour here, so the phone dispatches
by name instead of through if/elif chains, and adding an app touches one module. The tables stay plain
dicts (unlike ``coso.registry.Registry``): most entries are optional, and a missing one means the default
behaviour (no enter hook, no submit action), not an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from coso.registry import register_in

if TYPE_CHECKING:
    from coso.env.sim.state import Page, PhoneState
    from coso.env.sim.ui import Command, ScreenBuilder

ViewBuilder = Callable[["PhoneState", "ScreenBuilder"], None]
PopupBuilder = Callable[["PhoneState", "ScreenBuilder"], None]
CommandHandler = Callable[["PhoneState", "Command"], None]
Submitter = Callable[["PhoneState", str], None]
RootFactory = Callable[["PhoneState"], "Page"]
EnterHook = Callable[["PhoneState", "Page"], None]

VIEWS: dict[str, ViewBuilder] = {}  # page.view -> draws the page's content
POPUPS: dict[str, PopupBuilder] = {}  # popup id -> draws it over the page
COMMANDS: dict[str, CommandHandler] = {}  # Command.name -> applies a tap
SUBMITTERS: dict[str, Submitter] = {}  # text field id -> what Enter does with its text
ROOTS: dict[str, RootFactory] = {}  # app -> the page it opens on
ENTER_HOOKS: dict[str, EnterHook] = {}  # page.view -> runs when a page of that view is shown
FIRST_RUN_POPUPS: dict[str, str] = {}  # app -> popup that may greet its first launch (by difficulty)

def view(name: str) -> Callable[[ViewBuilder], ViewBuilder]:
    """Register the builder of a page view."""
    return register_in(VIEWS, name, "simulator view")


def popup(name: str) -> Callable[[PopupBuilder], PopupBuilder]:
    """Register the builder of a popup."""
    return register_in(POPUPS, name, "simulator popup")


def command(name: str) -> Callable[[CommandHandler], CommandHandler]:
    """Register a tap command handler."""
    return register_in(COMMANDS, name, "simulator command")


def submitter(field_id: str) -> Callable[[Submitter], Submitter]:
    """Register what Enter does in a text field."""
    return register_in(SUBMITTERS, field_id, "simulator submitter")


def root(app: str) -> Callable[[RootFactory], RootFactory]:
    """Register the page an app opens on."""
    return register_in(ROOTS, app, "simulator root page")


def on_enter(view_name: str) -> Callable[[EnterHook], EnterHook]:
    """Register a hook run when a page of ``view_name`` is shown."""
    return register_in(ENTER_HOOKS, view_name, "simulator enter hook")
