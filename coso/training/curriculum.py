"""Which tasks the online rollouts attempt: uniform draws, plus a replay of the tasks still failing.

DigiRL's curriculum acts after the rollouts (its trajectory critic ranks what the actor learns from). With a
warm-started policy most uniform draws are tasks it already solves, so the few episodes on the tasks it
fails are where every online success that teaches something comes from. ``failed_task_replay`` spends a
share of each iteration on those tasks: a binary form of prioritised level replay (Jiang et al., 2021),
whose score here is "the latest episode of this task in the buffer failed".
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from coso.data.trajectory import Trajectory
from coso.env.tasks import Task


def latest_failed_tasks(trajectories: Sequence[Trajectory], tasks: Sequence[Task]) -> list[Task]:
    """The tasks (of ``tasks``) whose most recent trajectory in ``trajectories`` (oldest first) failed."""
    latest: dict[str, bool] = {}
    for trajectory in trajectories:
        latest[trajectory.task] = bool(trajectory.success)
    return [task for task in tasks if latest.get(task.text) is False]


def rollout_tasks(rng: random.Random, tasks: Sequence[Task], count: int, failing: Sequence[Task],
                  replay_fraction: float) -> list[Task]:
    """``count`` tasks: round(replay_fraction * count) drawn from ``failing`` (none when it is empty), the
    rest uniformly from ``tasks``; with nothing replayed the draws equal plain uniform sampling."""
    replayed = round(replay_fraction * count) if failing else 0
    return [rng.choice(failing) for _ in range(replayed)] + [rng.choice(tasks) for _ in range(count - replayed)]
