"""The MiniWoB++ action text, both ways: ``click(x, y)``, ``ctrl_click(x, y)`` and ``type("text")``.

``x`` and ``y`` are pixel coordinates in the task's screenshot (160 x 210: ``x`` from the left edge, ``y`` from
the top), integers or decimals, which is what MiniWoB++'s coordinate click takes (CSS pixels of the task area).
The text of ``type`` is a JSON string literal (so quotes and backslashes are escaped) of at most 64 printable
characters of the Basic Multilingual Plane outside the private-use area (the WebDriver key codes live there,
and ChromeDriver refuses characters beyond the BMP). The verb's case and the spaces around the parts do not
matter; anything else is an invalid action with its reason. The parser never raises. ``ctrl_click(x, y)`` is a
click with the Control key held, the one thing click-scroll-list asks that a plain click cannot do (a second
option of a multiple-selection list; a plain click replaces the selection). The three verbs are CoSo's causal
labels, plus ``<invalid>`` for a text that names none.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

SCREEN_WIDTH = 160  # miniwob.constants.TASK_WIDTH: the task area of every non-flight task
SCREEN_HEIGHT = 210  # miniwob.constants.TASK_HEIGHT
MAX_TYPED_CHARS = 64  # miniwob.constants.TYPING_MAX_LENGTH
MAX_ACTION_CHARS = 8192  # longer texts are not actions a policy wrote (as coso.actions.MAX_ACTION_CHARS)
VERBS = ("click", "type", "ctrl_click")

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_CLICK = re.compile(rf"^(click|ctrl_click)\s*\(\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\)$", re.IGNORECASE)
_TYPE = re.compile(r"^type\s*\(\s*(.*)\)$", re.IGNORECASE | re.DOTALL)
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class WebAction:
    """A parsed action: ``verb`` None when the text holds none (``reason`` says why)."""

    verb: str | None
    x: float = 0.0
    y: float = 0.0
    text: str = ""
    reason: str = ""

    @property
    def valid(self) -> bool:
        """True when the text named an executable action."""
        return self.verb is not None


def format_click(x: float, y: float) -> str:
    """The action text of a click at pixel ``(x, y)`` (whole pixels)."""
    return f"click({int(round(x))}, {int(round(y))})"


def format_ctrl_click(x: float, y: float) -> str:
    """The action text of a click with the Control key held at pixel ``(x, y)`` (whole pixels)."""
    return f"ctrl_click({int(round(x))}, {int(round(y))})"


def format_type(text: str) -> str:
    """The action text that types ``text`` into the focused element."""
    return f"type({json.dumps(text, ensure_ascii=False)})"


def _typable(char: str) -> bool:
    code = ord(char)
    return char.isprintable() and code <= 0xFFFF and not 0xE000 <= code <= 0xF8FF


def _parse_type(inner: str) -> WebAction:
    inner = inner.strip()
    if not inner.startswith('"'):
        return WebAction(None, reason='type needs a string literal in double quotes: type("text")')
    try:
        value, end = _DECODER.raw_decode(inner)
    except ValueError as error:
        return WebAction(None, reason=f"the typed text is not a valid string literal: {error}")
    if inner[end:].strip():
        return WebAction(None, reason=f"text after the typed string: {inner[end:].strip()[:40]!r}")
    if not value:
        return WebAction(None, reason="type of an empty text")
    if len(value) > MAX_TYPED_CHARS:
        return WebAction(None, reason=f"the typed text has {len(value)} characters, over {MAX_TYPED_CHARS}")
    bad = next((char for char in value if not _typable(char)), None)
    if bad is not None:
        return WebAction(None, reason=f"the typed text holds {bad!r}, which cannot be typed")
    return WebAction("type", text=value)


def parse_web_action(text: object) -> WebAction:
    """The action a text names; never raises."""
    try:
        if not isinstance(text, str):
            return WebAction(None, reason=f"expected text, got {type(text).__name__}")
        if len(text) > MAX_ACTION_CHARS:
            return WebAction(None, reason=f"the action is {len(text)} characters, over {MAX_ACTION_CHARS}")
        stripped = text.strip()
        click = _CLICK.match(stripped)
        if click:
            verb, x, y = click.group(1).lower(), float(click.group(2)), float(click.group(3))
            if not (0.0 <= x < SCREEN_WIDTH and 0.0 <= y < SCREEN_HEIGHT):
                return WebAction(None, reason=f"{verb}({x:g}, {y:g}) is outside the {SCREEN_WIDTH}x{SCREEN_HEIGHT} "
                                              "screen")
            return WebAction(verb, x=x, y=y)
        typed = _TYPE.match(stripped)
        if typed:
            return _parse_type(typed.group(1))
        return WebAction(None, reason='expected click(x, y), ctrl_click(x, y) or type("text")')
    except Exception as error:  # a parser bug must never crash a rollout
        return WebAction(None, reason=f"parser error: {type(error).__name__}: {error}")


class WebGrammar:
    """The MiniWoB++ grammar for the causal model: the three verbs are the classes; unparseable -> the last one."""

    name = "miniwob"
    action_classes: tuple[str, ...] = VERBS + ("<invalid>",)
    unparseable_class = len(VERBS)

    def parse(self, text: str) -> WebAction:
        """The action of a text."""
        return parse_web_action(text)

    def classify(self, text: str) -> int | None:
        """The index of the text's verb, or None."""
        action = parse_web_action(text)
        return VERBS.index(action.verb) if action.verb is not None else None
