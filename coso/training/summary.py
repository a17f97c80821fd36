"""summary.json of a training run: what it trained, how far it got, and every evaluation with its interval."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from coso.config import RunConfig
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


def training_summary(config: RunConfig, state: TrainingState, *, buffer_size: int,
                     collections: Mapping[str, CollectionReport], eval_episodes: int, resumed: bool,
                     run_dir: Path) -> dict[str, Any]:
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
        "eval_episodes": eval_episodes,
        "wall_seconds": {k: round(v, 2) for k, v in state.wall_seconds.items()},
        "resumed": resumed,
        "save_path": str(run_dir),
    }
