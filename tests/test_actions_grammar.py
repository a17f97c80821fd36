"""The AutoUI action grammar: format/parse round trips, robustness to broken text, reference examples, prompts."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coso.actions import (
    NUM_ACTION_TYPES,
    Action,
    ActionType,
    ParsedAction,
    build_prompt,
    format_action,
    parse_action,
)

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

# A coordinate with 4 decimals in [0, 1], as the grammar writes it.
coordinates = st.integers(min_value=0, max_value=10_000).map(lambda k: k / 10_000)
points = st.tuples(coordinates, coordinates)
# Any unicode, with the characters that stress string escaping drawn often.
typed_texts = st.text(
    alphabet=st.one_of(st.characters(), st.sampled_from(['"', "'", "\\", "\n", "\r", "\t", "\u2028", "]", "[", ","])),
    max_size=40,
)


@st.composite
def actions(draw: st.DrawFn) -> Action:
    """Valid actions of all 8 types."""
    action_type = draw(st.sampled_from(list(ActionType)))
    if action_type == ActionType.DualPoint:
        touch = draw(points)
        lift = draw(st.one_of(st.just(touch), points))
        return Action(action_type, touch, lift)
    if action_type == ActionType.Type:
        return Action.type_text(draw(typed_texts))
    return Action(action_type)


def test_the_action_space_has_eight_types() -> None:
    assert NUM_ACTION_TYPES == 8 == len({t.autoui_name for t in ActionType})


@PROPERTY
@given(actions())
def test_format_then_parse_is_the_identity(action: Action) -> None:
    parsed = parse_action(format_action(action))
    assert parsed.valid and parsed.reason == ""
    assert parsed.action == action
    expected_plan = [action.type] if action.ends_episode else [action.type, ActionType.TaskComplete]
    assert parsed.plan == tuple(t.autoui_name for t in expected_plan)


@PROPERTY
@given(actions(), st.lists(st.sampled_from(list(ActionType)), min_size=1, max_size=5))
def test_format_then_parse_keeps_an_explicit_plan(action: Action, plan: list[ActionType]) -> None:
    parsed = parse_action(format_action(action, plan))
    assert parsed.action == action
    assert parsed.plan == tuple(t.autoui_name for t in plan)


def _check_parse_result(result: ParsedAction) -> None:
    """A parse result is either an executable, well-formed action or invalid with a reason."""
    assert isinstance(result, ParsedAction)
    if not result.valid:
        assert result.action is None and result.reason.strip()
        return
    action = result.action
    assert isinstance(action, Action) and isinstance(action.type, ActionType)
    if action.type == ActionType.DualPoint:
        for point in (action.touch_point, action.lift_point):
            assert point is not None and all(0.0 <= c <= 1.0 for c in point)
    else:
        assert action.touch_point is None and action.lift_point is None
    if action.type != ActionType.Type:
        assert action.typed_text == ""


@PROPERTY
@given(st.text(max_size=300))
def test_random_text_never_raises(text: str) -> None:
    _check_parse_result(parse_action(text))


@st.composite
def mutated_action_texts(draw: st.DrawFn) -> str:
    """Valid action text with characters deleted, inserted or replaced, or cut short."""
    text = format_action(draw(actions()))
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        kind = draw(st.sampled_from(["delete", "insert", "replace", "truncate"]))
        position = draw(st.integers(min_value=0, max_value=max(len(text) - 1, 0)))
        char = draw(st.one_of(st.characters(), st.sampled_from(list('"[],:\\.-0123456789e '))))
        if kind == "delete":
            text = text[:position] + text[position + 1:]
        elif kind == "insert":
            text = text[:position] + char + text[position:]
        elif kind == "replace":
            text = text[:position] + char + text[position + 1:]
        else:
            text = text[:position]
    return text


@PROPERTY
@given(mutated_action_texts())
def test_mutated_action_text_never_raises(text: str) -> None:
    _check_parse_result(parse_action(text))


def test_non_string_input_is_invalid_not_an_exception() -> None:
    for value in (None, 3, b"Action Decision:"):
        result = parse_action(value)  # type: ignore[arg-type]
        assert not result.valid and result.reason


AUTOUI_EXAMPLES = [
    (
        'Action Plan: [DUAL_POINT,TYPE,PRESS_ENTER,STATUS_TASK_COMPLETE] ; Action Decision: "action_type": '
        '"DUAL_POINT", "touch_point": "[0.1941, 0.6172]", "lift_point": "[0.1941, 0.6172]", "typed_text": ""',
        Action.tap(x=0.6172, y=0.1941),
    ),
    (
        'Action Plan: [TYPE,PRESS_ENTER,STATUS_TASK_COMPLETE] ; Action Decision: "action_type": "TYPE", '
        '"touch_point": "[-1.0, -1.0]", "lift_point": "[-1.0, -1.0]", "typed_text": "logitech g933"',
        Action.type_text("logitech g933"),
    ),
    (
        'Action Plan: [DUAL_POINT,DUAL_POINT,STATUS_TASK_COMPLETE] ; Action Decision: "action_type": "DUAL_POINT", '
        '"touch_point": "[0.8, 0.5]", "lift_point": "[0.2, 0.5]", "typed_text": ""',
        Action.swipe((0.5, 0.8), (0.5, 0.2)),
    ),
    (
        'Action Plan: [PRESS_ENTER,STATUS_TASK_COMPLETE] ; Action Decision: "action_type": "PRESS_ENTER", '
        '"touch_point": "[-1.0, -1.0]", "lift_point": "[-1.0, -1.0]", "typed_text": ""',
        Action(ActionType.Enter),
    ),
    (
        'Action Plan: [PRESS_BACK,PRESS_HOME] ; Action Decision: "action_type": "PRESS_BACK", '
        '"touch_point": "[-1.0, -1.0]", "lift_point": "[-1.0, -1.0]", "typed_text": ""',
        Action(ActionType.GoBack),
    ),
    (
        'Action Plan: [PRESS_HOME,DUAL_POINT] ; Action Decision: "action_type": "PRESS_HOME", '
        '"touch_point": "[-1.0, -1.0]", "lift_point": "[-1.0, -1.0]", "typed_text": ""',
        Action(ActionType.GoHome),
    ),
    (
        'Action Plan: [STATUS_TASK_COMPLETE] ; Action Decision: "action_type": "STATUS_TASK_COMPLETE", '
        '"touch_point": "[-1.0, -1.0]", "lift_point": "[-1.0, -1.0]", "typed_text": ""',
        Action(ActionType.TaskComplete),
    ),
    (
        'Action Plan: [TASK_IMPOSSIBLE] ; Action Decision: "action_type": "TASK_IMPOSSIBLE", '
        '"touch_point": "[-1.0, -1.0]", "lift_point": "[-1.0, -1.0]", "typed_text": ""',
        Action(ActionType.TaskImpossible),
    ),
]


@pytest.mark.parametrize("text, expected", AUTOUI_EXAMPLES, ids=[e[1].type.name for e in AUTOUI_EXAMPLES])
def test_reference_autoui_text_parses_to_the_expected_action(text: str, expected: Action) -> None:
    parsed = parse_action(text)
    assert parsed.action == expected
    assert parsed.plan[0] == expected.type.autoui_name


def test_points_are_written_y_then_x_and_taps_differ_from_swipes() -> None:
    tap = parse_action(AUTOUI_EXAMPLES[0][0]).action
    assert tap is not None and tap.touch_point == (0.6172, 0.1941) and tap.is_tap and not tap.is_swipe
    swipe = parse_action(AUTOUI_EXAMPLES[2][0]).action
    assert swipe is not None and swipe.is_swipe and swipe.swipe_length == pytest.approx(0.6)
    assert '"touch_point": "[0.1941, 0.6172]"' in format_action(Action.tap(0.6172, 0.1941))


@pytest.mark.parametrize(
    "text, reason",
    [
        ("I think I should tap the search bar", "Action Decision"),
        ('Action Decision: "touch_point": "[0.1, 0.2]"', "action_type"),
        ('Action Decision: "action_type": "JUMP"', "unknown action_type"),
        ('Action Decision: "action_type": "DUAL_POINT", "typed_text": ""', "touch_point"),
        ('Action Decision: "action_type": "DUAL_POINT", "touch_point": "[1.5, 0.2]"', "outside the screen"),
        ('Action Decision: "action_type": "DUAL_POINT", "touch_point": "[0.1]"', "2 numbers"),
        ('Action Decision: "action_type": "DUAL_POINT", "touch_point": "[a, 0.2]"', "not a number"),
        ('Action Decision: "action_type": "TYPE", "touch_point": "[-1.0, -1.0]"', "typed_text"),
    ],
)
def test_invalid_text_says_why(text: str, reason: str) -> None:
    parsed = parse_action(text)
    assert not parsed.valid and reason in parsed.reason


def test_missing_lift_point_means_a_tap() -> None:
    parsed = parse_action('Action Decision: "action_type": "DUAL_POINT", "touch_point": "[0.25, 0.75]"')
    assert parsed.action == Action.tap(0.75, 0.25)


def test_build_prompt_has_the_autoui_form() -> None:
    previous = format_action(Action.type_text("weather in paris"))
    prompt = build_prompt("What's the weather like in Paris?", previous)
    assert prompt == f"Previous Actions: {previous} Goal: What's the weather like in Paris?</s>"
    assert build_prompt("Go to ebay.com") == "Previous Actions: None Goal: Go to ebay.com</s>"
    assert build_prompt("Go to ebay.com", "  ") == "Previous Actions: None Goal: Go to ebay.com</s>"
