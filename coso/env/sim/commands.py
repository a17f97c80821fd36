"""Tap commands shared by every app: navigation keys, text fields, keyboard keys, popups and switches.

App-specific commands are registered by the app modules in ``coso.env.sim.apps``.
"""

from __future__ import annotations

from coso.env.sim import nav
from coso.env.sim.registry import COMMANDS, command
from coso.env.sim.state import PhoneState
from coso.env.sim.ui import Command


def run_command(state: PhoneState, tap: Command) -> None:
    """Apply the command of a tapped element (unknown names are a simulator bug and raise KeyError)."""
    COMMANDS[tap.name](state, tap)


@command("none")
@command("absorb")
def _nothing(state: PhoneState, tap: Command) -> None:
    """Inert elements and modal backgrounds."""


@command("back")
def _back(state: PhoneState, tap: Command) -> None:
    nav.back(state)


@command("home")
def _home(state: PhoneState, tap: Command) -> None:
    nav.go_home(state)


@command("launch")
def _launch(state: PhoneState, tap: Command) -> None:
    nav.launch(state, tap.arg)


@command("push")
def _push(state: PhoneState, tap: Command) -> None:
    assert tap.page is not None
    nav.push(state, tap.page)


@command("replace")
def _replace(state: PhoneState, tap: Command) -> None:
    assert tap.page is not None
    nav.replace(state, tap.page)


@command("focus")
def _focus(state: PhoneState, tap: Command) -> None:
    nav.focus(state, tap.arg, tap.text)


@command("clear_field")
def _clear_field(state: PhoneState, tap: Command) -> None:
    state.ui.text, state.ui.selected, state.ui.keyboard = "", False, True


@command("suggest")
def _suggest(state: PhoneState, tap: Command) -> None:
    nav.submit(state, tap.arg, tap.text)


@command("key")
def _key(state: PhoneState, tap: Command) -> None:
    nav.type_text(state, tap.text)


@command("backspace")
def _backspace(state: PhoneState, tap: Command) -> None:
    nav.backspace(state)


@command("enter")
def _enter(state: PhoneState, tap: Command) -> None:
    nav.enter(state)


@command("dismiss")
def _dismiss(state: PhoneState, tap: Command) -> None:
    nav.dismiss(state, tap.arg)


@command("menu")
def _menu(state: PhoneState, tap: Command) -> None:
    state.ui.menu = tap.arg


@command("toggle")
def _toggle(state: PhoneState, tap: Command) -> None:
    state.toggles[tap.arg] = not state.toggle(tap.arg)
