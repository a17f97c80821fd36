"""The action parser runs in linear time: long and adversarial texts are rejected or parsed fast, same results."""

from __future__ import annotations

import json
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coso.actions import (
    _PLAN_FIELD,
    _POINT_FIELDS,
    _TYPE_FIELD,
    MAX_ACTION_CHARS,
    Action,
    ActionType,
    _find_field,
    _find_typed_text,
    format_action,
    parse_action,
)

MEGABYTE = 1 << 20
TIME_LIMIT_S = 0.5
PROPERTY = settings(max_examples=400, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

# Texts that made the former regex parser rescan the rest of the text from every match start (quadratic).
ADVERSARIAL_UNITS = [
    "Action Plan: [",
    'Action Decision: "action_type": "DUAL_POINT", "touch_point": "[',
    '"touch_point": "[0.5, 0.5]',
    '"lift_point": "[',
    '"action_type": "',
    '"typed_text": "\\"',
    'Action Decision: "action_type": "TYPE", "typed_text": "\\\\\\"',
    "Action Plan:" + " " * 50,
]


def _repeat_to(unit: str, size: int) -> str:
    return unit * (size // len(unit) + 1)


def _elapsed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


@pytest.mark.parametrize("unit", ADVERSARIAL_UNITS)
def test_a_megabyte_of_adversarial_text_is_rejected_with_a_reason_fast(unit: str) -> None:
    text = _repeat_to(unit, MEGABYTE)
    start = time.perf_counter()
    parsed = parse_action(text)
    assert time.perf_counter() - start < TIME_LIMIT_S
    assert not parsed.valid and "MAX_ACTION_CHARS" in parsed.reason and str(len(text)) in parsed.reason


@pytest.mark.parametrize("unit", ADVERSARIAL_UNITS)
def test_the_field_scanners_are_linear_on_a_megabyte_without_the_length_bound(unit: str) -> None:
    text = _repeat_to(unit, MEGABYTE)
    for field_ in (_PLAN_FIELD, _TYPE_FIELD, *_POINT_FIELDS.values()):
        assert _elapsed(_find_field, text, field_) < TIME_LIMIT_S, field_.key
    assert _elapsed(_find_typed_text, text) < TIME_LIMIT_S


def test_texts_at_the_bound_parse_and_one_more_character_is_rejected() -> None:
    action = Action.type_text("x" * 100)
    base = format_action(action)
    padded = base + " " * (MAX_ACTION_CHARS - len(base))
    assert len(padded) == MAX_ACTION_CHARS and parse_action(padded).action == action
    assert not parse_action(padded + " ").valid
    adversarial = _repeat_to("Action Plan: [", MAX_ACTION_CHARS)[:MAX_ACTION_CHARS]
    assert _elapsed(parse_action, adversarial) < 0.05


# The former regex parser, kept here as the oracle the linear scanners must agree with.
_OLD_PLAN = re.compile(r"Action Plan:\s*\[([^\]]*)\]")
_OLD_TYPE = re.compile(r'"action_type"\s*:\s*"([^"]*)"')
_OLD_POINT = {
    "touch_point": re.compile(r'"touch_point"\s*:\s*"\[([^\]]*)\]"'),
    "lift_point": re.compile(r'"lift_point"\s*:\s*"\[([^\]]*)\]"'),
}
_OLD_TEXT = re.compile(r'"typed_text"\s*:\s*("(?:[^"\\]|\\.)*")', re.DOTALL)


def _group(match: re.Match | None) -> str | None:
    return None if match is None else match.group(1)


@st.composite
def noisy_action_texts(draw: st.DrawFn) -> str:
    """Formatted actions with grammar fragments and punctuation inserted, deleted or repeated."""
    action_type = draw(st.sampled_from(list(ActionType)))
    if action_type == ActionType.DualPoint:
        action = Action.tap(draw(st.floats(0, 1)), draw(st.floats(0, 1)))
    elif action_type == ActionType.Type:
        action = Action.type_text(draw(st.text(max_size=12)))
    else:
        action = Action(action_type)
    text = format_action(action)
    fragments = st.sampled_from(['"', "[", "]", ":", " ", "\\", ",", '"touch_point"', '"lift_point"', '"[',
                                 '"action_type"', '"typed_text"', "Action Plan:", "Action Decision:", ']"'])
    for _ in range(draw(st.integers(min_value=0, max_value=8))):
        position = draw(st.integers(min_value=0, max_value=len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "repeat"]))
        if kind == "insert":
            text = text[:position] + draw(fragments) + text[position:]
        elif kind == "delete":
            text = text[:position] + text[position + 1:]
        else:
            text = text[:position] + text[position:position + 20] * 3 + text[position:]
    return text


@PROPERTY
@given(noisy_action_texts())
def test_the_scanners_find_what_the_former_regexes_found(text: str) -> None:
    assert _find_field(text, _PLAN_FIELD) == _group(_OLD_PLAN.search(text))
    assert _find_field(text, _TYPE_FIELD) == _group(_OLD_TYPE.search(text))
    for name, pattern in _OLD_POINT.items():
        assert _find_field(text, _POINT_FIELDS[name]) == _group(pattern.search(text))
    old_literal = _group(_OLD_TEXT.search(text))
    typed, _ = _find_typed_text(text)
    if old_literal is not None and typed is not None:
        assert typed == json.loads(old_literal)
    if typed is not None:  # what the scanner decodes, the regex also found
        assert old_literal is not None


@PROPERTY
@given(st.text(max_size=200))
def test_random_text_scans_like_the_former_regexes(text: str) -> None:
    assert _find_field(text, _PLAN_FIELD) == _group(_OLD_PLAN.search(text))
    assert _find_field(text, _TYPE_FIELD) == _group(_OLD_TYPE.search(text))
    for name, pattern in _OLD_POINT.items():
        assert _find_field(text, _POINT_FIELDS[name]) == _group(pattern.search(text))
