"""RL4VLM's answer format for Gym Cards, both ways: ``{"thoughts": "...", "action": "..."}``.

The answer is JSON-ish: the parser reads the first ``"action"`` key followed by a colon and a string literal,
wherever it stands and whatever surrounds it (missing braces, extra keys, trailing text), and accepts the
value when, stripped and lower-cased, it is one of the game's actions. It never raises: anything else is an
invalid answer with its reason. The game's actions are also CoSo's causal labels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

MAX_ANSWER_CHARS = 8192  # longer texts are not answers a policy wrote (as coso.actions.MAX_ACTION_CHARS)
_ACTION_KEY = '"action"'
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class CardsAnswer:
    """A parsed answer: the chosen action (None when the text holds none) and why it is invalid."""

    action: str | None
    reason: str = ""

    @property
    def valid(self) -> bool:
        """True when the text named one of the game's actions."""
        return self.action is not None


def format_answer(action: str, thoughts: str = "") -> str:
    """The answer text for ``action`` with its ``thoughts``."""
    return json.dumps({"thoughts": thoughts, "action": action}, ensure_ascii=False)


def _action_value(text: str) -> tuple[str | None, str]:
    """The first ``"action": "<string>"`` value of ``text``, or None and why."""
    start = text.find(_ACTION_KEY)
    while start >= 0:
        position = start + len(_ACTION_KEY)
        while position < len(text) and text[position].isspace():
            position += 1
        if text.startswith(":", position):
            position += 1
            while position < len(text) and text[position].isspace():
                position += 1
            if text.startswith('"', position):
                try:
                    value = _DECODER.raw_decode(text, position)[0]
                except ValueError as error:
                    return None, f"the action is not a valid string literal: {error}"
                return str(value), ""
        start = text.find(_ACTION_KEY, start + 1)
    return None, 'no "action": "<string>" in the answer'


def parse_answer(text: object, actions: tuple[str, ...]) -> CardsAnswer:
    """The action an answer names among ``actions``; never raises."""
    try:
        if not isinstance(text, str):
            return CardsAnswer(None, f"expected text, got {type(text).__name__}")
        if len(text) > MAX_ANSWER_CHARS:
            return CardsAnswer(None, f"the answer is {len(text)} characters, over {MAX_ANSWER_CHARS}")
        value, reason = _action_value(text)
        if value is None:
            return CardsAnswer(None, reason)
        wanted = value.strip().lower()
        for action in actions:
            if action.lower() == wanted:
                return CardsAnswer(action)
        return CardsAnswer(None, f"{value!r} is not one of the actions {list(actions)}")
    except Exception as error:  # a parser bug must never crash a rollout
        return CardsAnswer(None, f"parser error: {type(error).__name__}: {error}")


class CardsGrammar:
    """A game's answer grammar for the causal model: its actions are the classes; unparseable -> the last one."""

    def __init__(self, game_name: str, actions: tuple[str, ...]) -> None:
        self.name = f"gym_cards_{game_name}"
        self.actions = tuple(actions)
        # one class per action and one for answers that name none: an invalid answer is its own outcome
        self.action_classes = self.actions + ("<invalid>",)
        self.unparseable_class = len(self.actions)

    def parse(self, text: str) -> CardsAnswer:
        """The answer's action among the game's."""
        return parse_answer(text, self.actions)

    def classify(self, text: str) -> int | None:
        """The index of the answer's action, or None."""
        answer = self.parse(text)
        return self.actions.index(answer.action) if answer.action is not None else None
