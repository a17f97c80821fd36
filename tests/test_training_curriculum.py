"""The failed-task replay of the online rollouts (train.failed_task_replay)."""

from __future__ import annotations

import random

import pytest

from coso.data.trajectory import Trajectory
from coso.env.task_generator import generate_tasks
from coso.training.curriculum import latest_failed_tasks, rollout_tasks


def _episode(text: str, success: bool) -> Trajectory:
    return Trajectory(transitions=[], task=text, task_set="webshop", success=success)


@pytest.fixture(scope="module")
def tasks():
    return generate_tasks(20, 0, "webshop")


def test_only_tasks_whose_latest_episode_failed_are_replayed(tasks) -> None:
    history = [_episode(tasks[0].text, False), _episode(tasks[1].text, False), _episode(tasks[0].text, True),
               _episode(tasks[2].text, True), _episode(tasks[2].text, False), _episode("not a training task", False)]
    assert [t.text for t in latest_failed_tasks(history, tasks)] == [tasks[1].text, tasks[2].text]


def test_replay_share_comes_from_the_failing_tasks(tasks) -> None:
    failing = tasks[:2]
    drawn = rollout_tasks(random.Random(0), tasks, 16, failing, 0.5)
    assert len(drawn) == 16 and all(t in failing for t in drawn[:8])


def test_no_replay_draws_exactly_what_uniform_sampling_draws(tasks) -> None:
    rng = random.Random(3)
    expected = [rng.choice(tasks) for _ in range(16)]
    assert rollout_tasks(random.Random(3), tasks, 16, tasks[:2], 0.0) == expected
    assert rollout_tasks(random.Random(3), tasks, 16, [], 0.75) == expected
