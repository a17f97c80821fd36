"""Run kinds: `collect` (a trajectory dataset), `train` (offline / online / off2on) and `eval` (score a checkpoint).

Each returns summary.json as one line, which the entry point prints last.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from coso import seeding
from coso.config import RunConfig, validate_run_config
from coso.data.dataset import save_trajectories
from coso.env.factory import build_encoder, build_expert, build_pool, domain_of, load_tasks
from coso.env.task_generator import sequential_tasks
from coso.env.task_parser import load_task_file
from coso.errors import ConfigError, UserInputError
from coso.rollout import Agent, collect_trajectories
from coso.training.evaluation import evaluate
from coso.training.rollouts import Rollouts, checkpoint_agent, episode_recorder
from coso.training.run_dir import open_logger, seed_everything, start_run_dir
from coso.training.run_kinds import run_base, run_training
from coso.training.run_logger import write_summary


def _start_run(config: RunConfig, resolved: dict[str, Any]) -> Path:
    """Create the run directory, write its resolved config and seed everything; return the directory."""
    run_dir = start_run_dir(config, resolved)
    seed_everything(config.seed)
    return run_dir


def _expert_agent(config: RunConfig, temperature: float) -> Agent:
    """The domain's scripted demonstrator with the configured noise (the phone's: simulated phone only)."""
    return build_expert(config.env, config.noise, config.seed)


def _cogagent(config: RunConfig, temperature: float) -> Agent:
    """A CogAgent-style model behind an HTTP endpoint (agent.cogagent.url), for evaluation."""
    from coso.agents.cogagent import CogAgent, CogAgentConfig

    return CogAgent(CogAgentConfig.from_mapping(config.agent.cogagent))


ROLLOUT_AGENTS: dict[str, Callable[[RunConfig, float], Agent]] = {
    "expert": _expert_agent,  # the scripted demonstrator
    "model": checkpoint_agent,  # the AutoUI policy of the checkpoint at load_path
    "cogagent": _cogagent,  # a remote CogAgent endpoint
}


def build_agent(config: RunConfig, temperature: float) -> Agent:
    """The agent named by ``policy``."""
    if config.policy not in ROLLOUT_AGENTS:
        raise ConfigError(f"policy={config.policy!r} is not one of {sorted(ROLLOUT_AGENTS)}")
    return ROLLOUT_AGENTS[config.policy](config, temperature)


def run_collect(config: RunConfig, resolved: dict[str, Any]) -> str:
    """Roll out the demonstrator (or a checkpoint's policy) and write a trajectory dataset."""
    started = time.perf_counter()
    run_dir = _start_run(config, resolved)
    if config.task_file:
        loaded = load_task_file(config.task_file, skip_unparseable=config.skip_bad_task_lines)
        for failure in loaded.skipped:
            print(f"warning: {config.task_file}, line {failure.line_no}: skipped {failure.text!r} "
                  f"({failure.reason}; skip_bad_task_lines=true)", file=sys.stderr)
        tasks = list(loaded)
        tasks_total = len(tasks) + len(loaded.skipped)
        if not tasks:
            raise ConfigError(f"task_file={config.task_file} has no task that parses")
    else:
        tasks = domain_of(config.env).collect_tasks(config)
        tasks_total = len(tasks)
    episodes = config.episodes if config.episodes is not None else len(tasks)
    if episodes < 1:
        raise ConfigError(f"episodes={episodes} must be >= 1")
    episode_tasks = sequential_tasks(tasks, episodes)
    agent = build_agent(config, config.agent.temperature)
    encoder = build_encoder(config.env)
    with build_pool(config.env, config.seed) as pool:
        result = collect_trajectories(pool, agent, episode_tasks, encoder,
                                      seeds=seeding.COLLECT.seeds(config.seed, len(episode_tasks)),
                                      gamma=config.algorithm.gamma,
                                      recorder=episode_recorder(config, run_dir / "episodes"),
                                      progress=config.logging.progress)
    dataset = save_trajectories(result.trajectories, run_dir / "dataset", overwrite=True,
                                source=f"collect policy={config.policy} noise={config.noise}")
    stats = result.stats
    by_kind: dict[str, list[bool]] = {}
    for task, trajectory in zip(episode_tasks, result.trajectories):
        by_kind.setdefault(task.goal.kind, []).append(trajectory.success)
    summary = {
        "config_name": config.config_name,
        "run": "collect",
        "policy": config.policy,
        "noise": config.noise,
        "seed": config.seed,
        "task_file": config.task_file,
        "tasks_total": tasks_total,
        "tasks_parsed": len(tasks),
        "episodes": stats.episodes,
        "success_rate": stats.success_rate,
        "success_rate_by_goal": {kind: float(np.mean(values)) for kind, values in sorted(by_kind.items())},
        "env_steps": stats.env_steps,
        "env_failures": stats.env_failures,
        "invalid_actions": stats.invalid_actions,
        "dataset": str(dataset),
        "wall_seconds": {"collect": round(time.perf_counter() - started, 2)},
    }
    return write_summary(run_dir, summary)


def run_eval(config: RunConfig, resolved: dict[str, Any]) -> str:
    """Score an agent (a checkpoint's policy by default) on the first N evaluation tasks (the test split), as a
    training run's evaluations do (coso.training.evaluation): with the run's seed, a run's final checkpoint
    scores what its final evaluation did."""
    started = time.perf_counter()
    run_dir = _start_run(config, resolved)
    agent = build_agent(config, config.agent.eval_temperature)
    _, eval_tasks = load_tasks(config)
    encoder = build_encoder(config.env)
    logger = open_logger(config, resolved, run_dir)
    with Rollouts(config, encoder) as rollouts:
        result = evaluate(config, rollouts, lambda: agent, eval_tasks, episode_recorder(config, run_dir / "episodes"))
    env_steps = int(result.stats["env_steps"])
    logger.log({"eval_success_rate": result.success_rate, "env_steps": env_steps}, step=0, phase="eval")
    logger.finish()
    summary = {
        "config_name": config.config_name,
        "run": "eval",
        "policy": config.policy,
        "load_path": config.load_path,
        "seed": config.seed,
        "eval_success_rate": {"eval": result.success_rate},
        "eval_success_ci95": {"eval": [round(bound, 4) for bound in result.ci95]},
        "eval_task_file": config.eval_task_file,
        "episodes": result.episodes,
        "env_steps": env_steps,
        "env_failures": int(result.stats["env_failures"]),
        "invalid_actions": int(result.stats["invalid_actions"]),
        "wall_seconds": {"eval": round(time.perf_counter() - started, 2)},
    }
    return write_summary(run_dir, summary)


RUN_KINDS: dict[str, Callable[[RunConfig, dict[str, Any]], str]] = {
    "collect": run_collect,
    "train": run_training,
    "eval": run_eval,
    "base": run_base,
}


def _first_missing_ancestor(path: Path) -> Path | None:
    """The outermost directory of ``path`` that does not exist yet (what a run would create), or None."""
    missing = None
    for candidate in [path, *path.parents]:
        if candidate.exists() or candidate.is_symlink():
            return missing
        missing = candidate
    return missing


def _check_save_path(config: RunConfig) -> Path:
    """The run directory, created; a ConfigError when save_path is a file, lies under a file or is not writable."""
    run_dir = Path(config.save_path)
    hint = "choose another save_path=<a directory you can write>"
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"save_path={run_dir} is a file, not a directory; {hint}")
    existing = next((parent for parent in [run_dir, *run_dir.parents] if parent.exists()), Path("."))
    if not existing.is_dir():
        raise ConfigError(f"save_path={run_dir} lies under {existing}, which is a file; {hint}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"save_path={run_dir}: {existing} is not writable; {hint}")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"save_path={run_dir} cannot be created ({error.strerror or error}); {hint}") from None
    return run_dir


def _check_inputs(config: RunConfig) -> None:
    """Check the checkpoints a run reads and its model settings before anything is written."""
    from coso.training.checkpoint import has_checkpoint, verify_checkpoint
    from coso.training.components import check_model_settings

    resuming = config.run == "train" and has_checkpoint(Path(config.save_path))
    if resuming:
        verify_checkpoint(Path(config.save_path), required=("models", "buffer", "optimizers.pt"))
    elif config.load_path and (config.run in ("train", "eval") or config.policy == "model"):
        verify_checkpoint(Path(config.load_path), required=("models",))
    if config.run in ("train", "base") and not resuming and not config.load_path:
        check_model_settings(config)


def _check_seed_streams(config: RunConfig) -> None:
    """The run seeds and episode counts fit the seed streams (coso.seeding), before anything runs."""
    seeding.check_run_seed(config.seed)
    train = config.train
    if config.run in ("train", "base"):
        if train.sft_cache_dir:
            seeding.check_run_seed(train.sft_seed, "train.sft_seed")
        seeding.check_episode_count(seeding.ROLLOUT, train.online_iterations * train.rollout_size,
                                    "train.online_iterations x train.rollout_size")
        seeding.check_episode_count(seeding.OFFLINE, train.offline_episodes, "train.offline_episodes")
        seeding.check_episode_count(seeding.SFT, train.sft_episodes, "train.sft_episodes")
    if config.run in ("train", "base", "eval"):
        seeding.check_episode_count(seeding.EVAL, train.eval_episodes, "train.eval_episodes")
    if config.run == "collect" and config.episodes is not None:
        seeding.check_episode_count(seeding.COLLECT, config.episodes, "episodes")


@contextmanager
def _removed_on_user_error(path: Path) -> Iterator[None]:
    """Remove what a run created under ``path`` (when it did not exist before) if a user mistake stops it."""
    created = _first_missing_ancestor(path.absolute())
    try:
        yield
    except UserInputError:
        if created is not None and created.is_dir():
            shutil.rmtree(created, ignore_errors=True)
        raise


def execute(config: RunConfig, resolved: dict[str, Any]) -> str:
    """Check a composed run config and its inputs, then dispatch it to its run kind; a user mistake writes nothing."""
    validate_run_config(config)
    if config.run not in RUN_KINDS:
        raise ConfigError(f"run={config.run!r} is not one of {sorted(RUN_KINDS)}")
    _check_seed_streams(config)
    _check_inputs(config)
    with _removed_on_user_error(Path(config.save_path)):
        _check_save_path(config)
        return RUN_KINDS[config.run](config, resolved)
