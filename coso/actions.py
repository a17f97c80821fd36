"""The action space and the AutoUI text grammar, both ways: actions to model text and model text to actions.

AutoUI writes, for example::

    Action Plan: [DUAL_POINT,TYPE,PRESS_ENTER,STATUS_TASK_COMPLETE] ; Action Decision: "action_type": "DUAL_POINT", "touch_point": "[0.1941, 0.6172]", "lift_point": "[0.1941, 0.6172]", "typed_text": ""

Points are normalised to [0, 1] and written ``[y, x]``; the parser reverses them to ``(x, y)``.
``IDLE`` is this project's spelling of the internal Idle type (AutoUI never writes it).
"""  # noqa: E501 (the example above is one line of model output, verbatim)

from __future__ import annotations

import enum
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

# Taps whose touch and lift points are closer than this (in normalised screen units) are taps, not swipes.
TAP_DISTANCE_THRESHOLD = 0.04
POINT_DECIMALS = 4


class ActionType(enum.IntEnum):
    """The eight action classes of the DigiRL / CoSo action space (the causal model's labels)."""

    Idle = 0
    DualPoint = 1
    Type = 2
    GoBack = 3
    GoHome = 4
    Enter = 5
    TaskComplete = 6
    TaskImpossible = 7

    @property
    def autoui_name(self) -> str:
        """The spelling AutoUI uses for this type in its output."""
        return _TYPE_TO_AUTOUI[self]

    @classmethod
    def from_autoui(cls, name: str) -> ActionType | None:
        """The type AutoUI spells ``name``, or None when it is not an AutoUI type name."""
        return _AUTOUI_TO_TYPE.get(name.strip().upper())


_TYPE_TO_AUTOUI = {
    ActionType.Idle: "IDLE",
    ActionType.DualPoint: "DUAL_POINT",
    ActionType.Type: "TYPE",
    ActionType.GoBack: "PRESS_BACK",
    ActionType.GoHome: "PRESS_HOME",
    ActionType.Enter: "PRESS_ENTER",
    ActionType.TaskComplete: "STATUS_TASK_COMPLETE",
    ActionType.TaskImpossible: "TASK_IMPOSSIBLE",
}
_AUTOUI_TO_TYPE = {name: action_type for action_type, name in _TYPE_TO_AUTOUI.items()}
NUM_ACTION_TYPES = len(ActionType)


def _round_point(point: tuple[float, float] | None) -> tuple[float, float] | None:
    if point is None:
        return None
    return (round(float(point[0]), POINT_DECIMALS), round(float(point[1]), POINT_DECIMALS))


@dataclass(frozen=True)
class Action:
    """One executable phone action; points are normalised ``(x, y)`` in [0, 1], rounded to 4 decimals."""

    type: ActionType
    touch_point: tuple[float, float] | None = None
    lift_point: tuple[float, float] | None = None
    typed_text: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", ActionType(self.type))
        if self.type == ActionType.DualPoint:
            if self.touch_point is None:
                raise ValueError("a DualPoint action needs a touch_point")
            lift = self.lift_point if self.lift_point is not None else self.touch_point
            object.__setattr__(self, "touch_point", _round_point(self.touch_point))
            object.__setattr__(self, "lift_point", _round_point(lift))
        else:
            object.__setattr__(self, "touch_point", None)
            object.__setattr__(self, "lift_point", None)
        if self.type != ActionType.Type:
            object.__setattr__(self, "typed_text", "")

    @classmethod
    def tap(cls, x: float, y: float) -> Action:
        """A tap at normalised ``(x, y)``."""
        return cls(ActionType.DualPoint, (x, y), (x, y))

    @classmethod
    def swipe(cls, start: tuple[float, float], end: tuple[float, float]) -> Action:
        """A swipe from ``start`` to ``end`` (normalised ``(x, y)``)."""
        return cls(ActionType.DualPoint, start, end)

    @classmethod
    def type_text(cls, text: str) -> Action:
        """Type ``text`` into the focused field."""
        return cls(ActionType.Type, typed_text=text)

    @property
    def is_tap(self) -> bool:
        """True for a DualPoint whose touch and lift points (almost) coincide."""
        return self.type == ActionType.DualPoint and self.swipe_length < TAP_DISTANCE_THRESHOLD

    @property
    def is_swipe(self) -> bool:
        """True for a DualPoint that moves."""
        return self.type == ActionType.DualPoint and not self.is_tap

    @property
    def swipe_length(self) -> float:
        """Distance between touch and lift points (0 for non-DualPoint actions)."""
        if self.touch_point is None or self.lift_point is None:
            return 0.0
        return math.dist(self.touch_point, self.lift_point)

    @property
    def ends_episode(self) -> bool:
        """True for the status actions that end an episode."""
        return self.type in (ActionType.TaskComplete, ActionType.TaskImpossible)


@dataclass(frozen=True)
class ParsedAction:
    """The result of parsing model text: an action, or ``action=None`` with the reason it is invalid."""

    action: Action | None
    reason: str = ""
    plan: tuple[str, ...] = field(default=())

    @property
    def valid(self) -> bool:
        """True when the text held an executable action."""
        return self.action is not None


def _format_point(point: tuple[float, float] | None, decimals: int) -> str:
    if point is None:
        return "[-1.0, -1.0]"
    x, y = point
    return f"[{y:.{decimals}f}, {x:.{decimals}f}]"


def check_point_decimals(decimals: int) -> int:
    """``decimals`` when it is a number of point decimals this grammar writes (1 to 4), else a ValueError."""
    if not isinstance(decimals, int) or isinstance(decimals, bool) or not 1 <= decimals <= POINT_DECIMALS:
        raise ValueError(f"point decimals must be an integer from 1 to {POINT_DECIMALS}, got {decimals!r}")
    return decimals


def format_action(action: Action, plan: Sequence[str | ActionType] | None = None, *,
                  decimals: int = POINT_DECIMALS) -> str:
    """Write ``action`` as AutoUI output text, with its Action Plan preamble (default: this action, then done).

    Points get ``decimals`` digits after the point: AutoUI's 4 by default; fewer make a leaner text for a
    small policy trained from scratch (2 decimals still resolve 1/100 of the screen).
    """
    check_point_decimals(decimals)
    if plan is None:
        plan = [action.type] if action.ends_episode else [action.type, ActionType.TaskComplete]
    plan_names = [p.autoui_name if isinstance(p, ActionType) else str(p) for p in plan]
    return (
        f"Action Plan: [{','.join(plan_names)}] ; Action Decision: "
        f'"action_type": "{action.type.autoui_name}", '
        f'"touch_point": "{_format_point(action.touch_point, decimals)}", '
        f'"lift_point": "{_format_point(action.lift_point, decimals)}", '
        f'"typed_text": {json.dumps(action.typed_text, ensure_ascii=False)}'
    )


_DECISION_MARKER = "Action Decision:"
# The longest text the parser reads. AutoUI writes at most 128 new tokens (``agent.max_new_tokens``), and no
# token of a T5 or of the built-in tokenizer decodes to more than ~16 characters: a real action is under 2,048
# characters (a formatted one is ~170 plus its typed text). Four times that leaves room for long typed text;
# anything longer is not an action a policy wrote (a corrupt dataset row, an imported file) and is rejected
# with a reason instead of costing time in every later step that reads it.
MAX_ACTION_CHARS = 8192
_JSON_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class _Field:
    """A ``key [\\s*:]\\s* opening body closing suffix`` pattern whose body holds no ``closing`` character."""

    key: str
    colon: bool
    opening: str
    closing: str
    suffix: str = ""


# The fields of the grammar; each is found by _find_field in time linear in the text (no regex backtracking).
_PLAN_FIELD = _Field("Action Plan:", colon=False, opening="[", closing="]")
_TYPE_FIELD = _Field('"action_type"', colon=True, opening='"', closing='"')
_POINT_FIELDS = {
    "touch_point": _Field('"touch_point"', colon=True, opening='"[', closing="]", suffix='"'),
    "lift_point": _Field('"lift_point"', colon=True, opening='"[', closing="]", suffix='"'),
}
_TEXT_KEY = '"typed_text"'


def _skip_space(text: str, position: int) -> int:
    """The first position at or after ``position`` that is not whitespace."""
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def _value_start(text: str, key_end: int, colon: bool) -> int:
    """Where a field's value starts after its key (optional spaces, the colon, spaces), or -1 if it is not there."""
    position = _skip_space(text, key_end) if colon else key_end
    if colon:
        if not text.startswith(":", position):
            return -1
        position += 1
    return _skip_space(text, position)


def _find_field(text: str, field_: _Field) -> str | None:
    """The body of the first occurrence of ``field_`` in ``text``, or None: what a regex search finds, in linear time.

    Every occurrence of the key is tried in order, as a regex search would; the closing character found for one
    occurrence is reused for the next while it still lies ahead, and when none is left no later occurrence can
    match, so each character is scanned a bounded number of times.
    """
    close_at = -1
    start = text.find(field_.key)
    while start >= 0:
        position = _value_start(text, start + len(field_.key), field_.colon)
        if position >= 0 and text.startswith(field_.opening, position):
            body_start = position + len(field_.opening)
            if close_at < body_start:
                close_at = text.find(field_.closing, body_start)
                if close_at < 0:
                    return None
            if text.startswith(field_.suffix, close_at + len(field_.closing)):
                return text[body_start:close_at]
        start = text.find(field_.key, start + 1)
    return None


def _find_typed_text(text: str) -> tuple[str | None, str]:
    """The decoded ``"typed_text": "..."`` string literal, or None and why; JSON's decoder scans it once."""
    start = text.find(_TEXT_KEY)
    while start >= 0:
        position = _value_start(text, start + len(_TEXT_KEY), colon=True)
        if position >= 0 and text.startswith('"', position):
            try:
                return _JSON_DECODER.raw_decode(text, position)[0], ""
            except ValueError as error:
                return None, f"typed_text is not a valid string literal: {error}"
        start = text.find(_TEXT_KEY, start + 1)
    return None, "TYPE without a \"typed_text\" string"


def _parse_point(body: str) -> tuple[float, float] | str:
    """Parse ``"y, x"`` into normalised ``(x, y)``; a string is the reason it failed."""
    parts = [p.strip() for p in body.split(",")]
    if len(parts) != 2:
        return f"a point needs 2 numbers, got {len(parts)}"
    try:
        y, x = float(parts[0]), float(parts[1])
    except ValueError:
        return f"a point coordinate is not a number: [{body}]"
    if not (math.isfinite(x) and math.isfinite(y)):
        return f"a point coordinate is not finite: [{body}]"
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        return f"a point lies outside the screen [0, 1]: [{body}]"
    return (x, y)


def parse_action(text: str) -> ParsedAction:
    """Parse AutoUI model text into an action; never raises, and says why when the text is invalid."""
    try:
        return _parse_action(text)
    except Exception as error:  # a parser bug must never crash a rollout
        return ParsedAction(None, f"parser error: {type(error).__name__}: {error}")


def _parse_action(text: str) -> ParsedAction:
    if not isinstance(text, str):
        return ParsedAction(None, f"expected text, got {type(text).__name__}")
    if len(text) > MAX_ACTION_CHARS:
        return ParsedAction(
            None, f"the text is {len(text)} characters, longer than any action a policy writes "
                  f"(at most {MAX_ACTION_CHARS}, coso.actions.MAX_ACTION_CHARS)"
        )
    plan_body = _find_field(text, _PLAN_FIELD)
    plan = tuple(p.strip() for p in plan_body.split(",") if p.strip()) if plan_body is not None else ()
    marker = text.find(_DECISION_MARKER)
    if marker < 0:
        return ParsedAction(None, "no 'Action Decision:' in the text", plan)
    decision = text[marker + len(_DECISION_MARKER):]
    type_name = _find_field(decision, _TYPE_FIELD)
    if type_name is None:
        return ParsedAction(None, "no \"action_type\" field", plan)
    action_type = ActionType.from_autoui(type_name)
    if action_type is None:
        return ParsedAction(None, f"unknown action_type {type_name!r}", plan)
    if action_type == ActionType.DualPoint:
        points: dict[str, tuple[float, float]] = {}
        for name, point_field in _POINT_FIELDS.items():
            body = _find_field(decision, point_field)
            if body is None:
                if name == "lift_point" and "touch_point" in points:
                    points[name] = points["touch_point"]
                    continue
                return ParsedAction(None, f"DUAL_POINT without a {name}", plan)
            point = _parse_point(body)
            if isinstance(point, str):
                return ParsedAction(None, f"{name}: {point}", plan)
            points[name] = point
        return ParsedAction(Action(action_type, points["touch_point"], points["lift_point"]), "", plan)
    if action_type == ActionType.Type:
        typed, reason = _find_typed_text(decision)
        if typed is None:
            return ParsedAction(None, reason, plan)
        return ParsedAction(Action.type_text(typed), "", plan)
    return ParsedAction(Action(action_type), "", plan)


def build_prompt(task: str, previous_action: str | None = None) -> str:
    """The AutoUI prompt: the previous action (in the output grammar) and the goal, closed by ``</s>``."""
    previous = (previous_action or "").strip() or "None"
    return f"Previous Actions: {previous} Goal: {task}</s>"


class ActionGrammar(Protocol):
    """A domain's text actions as the causal model sees them: its action classes and the class of a text."""

    name: str
    action_classes: tuple[str, ...]  # the causal model's labels, in label order
    unparseable_class: int  # the label an unparseable text gets (its ``valid`` flag is False)

    def classify(self, text: str) -> int | None:
        """The action class of ``text``, or None when it does not parse; never raises."""


class AutoUIActionGrammar:
    """The phone's grammar: AutoUI text, the eight ``ActionType`` classes, unparseable texts as TaskImpossible."""

    name = "autoui"
    action_classes = tuple(action_type.autoui_name for action_type in ActionType)
    unparseable_class = int(ActionType.TaskImpossible)

    def classify(self, text: str) -> int | None:
        """The parsed action's type, or None."""
        parsed = parse_action(text)
        return int(parsed.action.type) if parsed.action is not None else None


AUTOUI_GRAMMAR = AutoUIActionGrammar()
