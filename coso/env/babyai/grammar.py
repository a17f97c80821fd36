"""The BabyAI answer grammar, both ways: the answer is one of minigrid's seven action words.

``format_answer("forward")`` is ``"forward"``. The parser folds case, trims spaces and a trailing full stop,
and accepts the seven words and a few spellings of them (``turn left``, ``move forward``, ``pick up``). It
never raises: anything else is an invalid answer with its reason. The seven actions, in minigrid's order
(``minigrid.core.actions.Actions``), are also CoSo's causal labels, with ``<invalid>`` for answers that name
none (as Gym Cards does).
"""

from __future__ import annotations

from dataclasses import dataclass

# minigrid's Actions, in their integer order (left=0 ... done=6)
ACTIONS: tuple[str, ...] = ("left", "right", "forward", "pickup", "drop", "toggle", "done")
# other spellings a language model may write for an action word
ALIASES: dict[str, str] = {
    "turn left": "left",
    "turn right": "right",
    "move forward": "forward",
    "go forward": "forward",
    "pick up": "pickup",
}
MAX_ANSWER_CHARS = 8192  # longer texts are not answers a policy wrote (as coso.actions.MAX_ACTION_CHARS)
_TRIM = " \t\r\n.!\"'`"


@dataclass(frozen=True)
class BabyAIAnswer:
    """A parsed answer: the action word (None when the text names none) and why it is invalid."""

    action: str | None
    reason: str = ""

    @property
    def valid(self) -> bool:
        """True when the text named one of the seven actions."""
        return self.action is not None

    @property
    def index(self) -> int | None:
        """minigrid's integer for the action (its place in ``ACTIONS``), or None."""
        return ACTIONS.index(self.action) if self.action is not None else None


def format_answer(action: str) -> str:
    """The answer text for ``action``: the word itself."""
    if action not in ACTIONS:
        raise ValueError(f"{action!r} is not one of the BabyAI actions {list(ACTIONS)}")
    return action


def parse_answer(text: object) -> BabyAIAnswer:
    """The action word an answer names; never raises."""
    try:
        if not isinstance(text, str):
            return BabyAIAnswer(None, f"expected text, got {type(text).__name__}")
        if len(text) > MAX_ANSWER_CHARS:
            return BabyAIAnswer(None, f"the answer is {len(text)} characters, over {MAX_ANSWER_CHARS}")
        word = " ".join(text.strip(_TRIM).lower().split())
        word = ALIASES.get(word, word)
        if word in ACTIONS:
            return BabyAIAnswer(word)
        shown = text if len(text) <= 40 else text[:40] + "..."
        return BabyAIAnswer(None, f"{shown!r} is not one of the actions {list(ACTIONS)}")
    except Exception as error:  # a parser bug must never crash a rollout
        return BabyAIAnswer(None, f"parser error: {type(error).__name__}: {error}")


class BabyAIGrammar:
    """The answer grammar for the causal model: the seven actions are the classes; unparseable -> the last one."""

    name = "babyai"

    def __init__(self) -> None:
        self.actions = ACTIONS
        # one class per action and one for answers that name none: an invalid answer is its own outcome
        self.action_classes = ACTIONS + ("<invalid>",)
        self.unparseable_class = len(ACTIONS)

    def parse(self, text: str) -> BabyAIAnswer:
        """The answer's action word."""
        return parse_answer(text)

    def classify(self, text: str) -> int | None:
        """The index of the answer's action, or None."""
        return parse_answer(text).index
