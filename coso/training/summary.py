"""summary.json of a training run: what it trained, how far it got, and every evaluation with its interval."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from coso.config import RunConfig
from coso.env.tasks import Task
from coso.stats import wilson_interval
from coso.training.checkpoint import TrainingState
from coso.training.collection import CollectionReport


def algorithm_label(config: RunConfig) -> str:
    """What the run trains, in the reference's terms: digirl, entropy (naive), coso, filteredbc, or afsft."""
    if config.algorithm.name in ("filteredbc", "afsft"):
        return str(config.algorithm.name)
    if config.use_entropy:
        return "coso" if config.use_causal else "entropy"
    return "digirl"


def tasks_seen_in_training(eval_tasks: Sequence[Task], train_tasks: Sequence[Task]) -> int:
    """How many evaluation tasks are worded exactly as a training task (with task_file and no eval_task_file,
    evaluation takes the task file's first lines, so all of them)."""
    train_texts = {task.text for task in train_tasks}
    return sum(task.text in train_texts for task in eval_tasks)


def training_summary(config: RunConfig, state: TrainingState, *, buffer_size: int,
                     collections: Mapping[str, CollectionReport], eval_tasks: Sequence[Task],
                     train_tasks: Sequence[Task], resumed: bool, run_dir: Path) -> dict[str, Any]:
    """summary.json's content."""
    return {
        "config_name": config.config_name,
        "algorithm": algorithm_label(config),
        "train_mode": config.train_mode,
        "seed": config.seed,
        "scale": config.scale_name,
        "env_steps": state.env_steps,
        "episodes": state.episodes,
        "online_iterations": state.online_iteration,
        "actor_updates": state.actor_updates,
        "buffer_size": buffer_size,
        "data_collection": {name: report.summary() for name, report in collections.items()},
        "eval_success_rate": dict(state.eval_results),
        "eval_success_ci95": {name: [round(bound, 4) for bound in wilson_interval(*counts)]
                              for name, counts in state.eval_counts.items()},
        "eval_episodes": len(eval_tasks),
        "eval_tasks_in_training": tasks_seen_in_training(eval_tasks, train_tasks),
        "wall_seconds": {k: round(v, 2) for k, v in state.wall_seconds.items()},
        "resumed": resumed,
        "save_path": str(run_dir),
    }
