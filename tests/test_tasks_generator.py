"""The built-in task generator: deterministic, AitW-worded, and every sentence parses back to its goal."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coso.env.task_generator import (
    GENERATOR_TASK_SETS,
    TASK_TEMPLATES,
    TaskSampler,
    generate_tasks,
    sequential_tasks,
)
from coso.env.task_parser import parse_task
from coso.env.tasks import WebShopGoal
from coso.errors import ConfigError

ROUND_TRIP = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                      suppress_health_check=[HealthCheck.too_slow])


@ROUND_TRIP
@given(seed=st.integers(min_value=-(2**63), max_value=2**63), task_set=st.sampled_from(GENERATOR_TASK_SETS))
def test_every_generated_sentence_parses_back_to_its_goal(seed: int, task_set: str) -> None:
    for task in generate_tasks(25, seed, task_set):
        parsed = parse_task(task.text)
        assert parsed.goal == task.goal, task.text
        assert parsed.task_set == task.task_set


def test_every_template_round_trips_over_many_draws() -> None:
    for template in TASK_TEMPLATES:
        rng = random.Random(template.family)
        for _ in range(60):
            sentence, goal = template.draw(rng)
            assert parse_task(sentence).goal == goal, (template.family, sentence)


def test_generation_is_deterministic_per_seed_and_varies_across_seeds() -> None:
    first = generate_tasks(50, 7, "mixed")
    assert first == generate_tasks(50, 7, "mixed")
    assert first != generate_tasks(50, 8, "mixed")
    assert generate_tasks(10, 7, "mixed") == first[:10]


def test_task_sets_hold_the_right_goals_and_sentences_are_unique() -> None:
    webshop = generate_tasks(200, 0, "webshop")
    general = generate_tasks(300, 0, "general")
    mixed = generate_tasks(200, 0, "mixed")
    assert len(webshop) == 200 and all(isinstance(t.goal, WebShopGoal) and t.task_set == "webshop" for t in webshop)
    assert all(not isinstance(t.goal, WebShopGoal) and t.task_set == "general" for t in general)
    assert {t.task_set for t in mixed} == {"webshop", "general"}
    assert len({t.text for t in general}) == 300 and len({t.text for t in webshop}) == 200
    kinds = {t.goal.kind for t in general}
    assert {"web_search", "open_app", "install_app", "app_settings", "youtube", "maps", "alarm", "chrome_tab",
            "toggle_setting"} <= kinds
    selects = sum(t.goal.select_first for t in webshop)
    assert 0.2 < selects / len(webshop) < 0.5
    assert generate_tasks(0, 0) == []


@pytest.mark.parametrize("n, task_set", [(-1, "webshop"), (2.5, "webshop"), (True, "webshop"), (3, "shopping")])
def test_bad_generator_arguments_are_config_errors(n: object, task_set: str) -> None:
    with pytest.raises(ConfigError):
        generate_tasks(n, 0, task_set)  # type: ignore[arg-type]


def test_sequential_tasks_take_the_first_n_in_order_and_cycle() -> None:
    tasks = generate_tasks(5, 1, "general")
    assert sequential_tasks(tasks, 3) == tasks[:3]
    assert sequential_tasks(tasks, 7) == tasks + tasks[:2]
    assert sequential_tasks(tasks, 0) == []
    assert sequential_tasks([], 0) == []
    with pytest.raises(ConfigError, match="empty task list"):
        sequential_tasks([], 2)
    with pytest.raises(ConfigError):
        sequential_tasks(tasks, -1)


def test_task_sampler_modes() -> None:
    tasks = generate_tasks(4, 2, "webshop")
    assert TaskSampler(tasks, "sequential").take(6) == sequential_tasks(tasks, 6)
    drawn = TaskSampler(tasks, "random", seed=3).take(20)
    assert drawn == TaskSampler(tasks, "random", seed=3).take(20)
    assert set(t.text for t in drawn) <= {t.text for t in tasks} and len({t.text for t in drawn}) > 1
    with pytest.raises(ConfigError, match="sample mode"):
        TaskSampler(tasks, "shuffle")
    with pytest.raises(ConfigError, match="no tasks"):
        TaskSampler([], "random")
