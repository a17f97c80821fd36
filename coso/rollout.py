"""Rollout: run an agent on tasks through the environment pool and turn what happens into trajectories.

Tasks run in waves of ``pool.num_envs``; within a wave only environments whose episode is still running
get an action. Each step becomes a ``Transition`` whose image features stack the previous and the current
screen (``stack_features``; the first step repeats the current screen). An environment that fails ends its
episode with ``Trajectory.env_failed = True``; as in the reference rollout, the step whose environment
failed has no outcome and is not stored as a transition (its text is kept in ``metadata["failed_action"]``),
and an episode whose environment failed to start has no transitions at all.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from coso.data.trajectory import Trajectory, Transition
from coso.env.base import Observation, StepResult
from coso.env.features import ImageEncoder, stack_features
from coso.env.pool import EnvPool
from coso.env.recording import NullRecorder, Recorder
from coso.env.tasks import Task
from coso.errors import UserInputError


class Agent(Protocol):
    """Anything that writes one AutoUI action text per observation (the expert, the AutoUI policy, …)."""

    def act(self, observations: Sequence[Observation], tasks: Sequence[Task]) -> list[str]:
        """One action text per observation, in order."""


class ScreenshotStore(Protocol):
    """Where rollout screenshots go; returns the path stored in the transition."""

    def save(self, image: Image.Image, episode: int, step: int) -> str:
        """Save one screen; the returned path is relative to the store's root ("" when nothing is saved)."""


class NullScreenshotStore:
    """Keeps no screenshots (the default)."""

    def save(self, image: Image.Image, episode: int, step: int) -> str:
        """Save nothing."""
        return ""


class PngScreenshotStore:
    """Saves screens as ``<root>/episode_<n>/step_<k>.png``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def save(self, image: Image.Image, episode: int, step: int) -> str:
        """Write the PNG and return its path relative to ``root``."""
        relative = Path(f"episode_{episode:05d}") / f"step_{step:02d}.png"
        (self.root / relative.parent).mkdir(parents=True, exist_ok=True)
        image.save(self.root / relative, format="PNG")
        return relative.as_posix()


@dataclass
class RolloutStats:
    """What one call of ``collect_trajectories`` did."""

    episodes: int
    successes: int
    success_rate: float
    env_steps: int  # transitions recorded (steps whose environment answered)
    env_failures: int  # episodes ended by a failed environment
    invalid_actions: int
    mean_episode_length: float
    wall_seconds: float
    pool: dict[str, int] = field(default_factory=dict)  # the pool's counters during this rollout

    def as_dict(self, prefix: str = "rollout/") -> dict[str, float]:
        """Flat metrics ``{prefix + name: value}`` (pool counters under ``prefix + "pool/"``)."""
        values = asdict(self)
        pool = values.pop("pool")
        metrics = {f"{prefix}{name}": float(value) for name, value in values.items()}
        metrics.update({f"{prefix}pool/{name}": float(value) for name, value in pool.items()})
        return metrics


@dataclass
class RolloutResult:
    """The trajectories of a rollout (in task order) and its statistics."""

    trajectories: list[Trajectory]
    stats: RolloutStats


@dataclass
class _Episode:
    """The growing record of one running episode."""

    index: int
    task: Task
    seed: int
    observation: Observation | None  # None when the environment failed to start the episode
    features: np.ndarray | None  # current screen's feature [D]
    previous_features: np.ndarray | None  # None at the first step
    screenshot_path: str
    screens: list[Image.Image]
    actions: list[str] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    success: bool = False
    env_failed: bool = False
    metadata: dict[str, object] = field(default_factory=dict)


def _check_seeds(tasks: Sequence[Task], seeds: Sequence[int] | int) -> list[int]:
    if isinstance(seeds, (int, np.integer)):
        return [int(seeds) + index for index in range(len(tasks))]
    if len(seeds) != len(tasks):
        raise UserInputError(
            f"collect_trajectories: {len(seeds)} seeds for {len(tasks)} tasks; pass one seed per task "
            "or a single base seed"
        )
    return [int(seed) for seed in seeds]


def collect_trajectories(
    pool: EnvPool,
    agent: Agent,
    tasks: Sequence[Task],
    encoder: ImageEncoder,
    *,
    seeds: Sequence[int] | int,
    gamma: float,
    screenshot_dir: str | Path | None = None,
    recorder: Recorder | None = None,
    progress: bool = True,
) -> RolloutResult:
    """Run every task once through ``pool`` with ``agent`` and return trajectories (task order) and stats.

    ``seeds`` gives each episode's device seed (one per task, or a base seed ``s`` meaning ``s + i``).
    MC returns use ``gamma``. With ``screenshot_dir`` every screen is saved as PNG and transitions hold
    paths relative to it; ``recorder`` gets each finished episode. Deterministic for fixed seeds when the
    agent and the devices are.
    """
    if not 0.0 <= gamma <= 1.0:
        raise UserInputError(f"collect_trajectories: gamma must be in [0, 1], got {gamma}")
    episode_seeds = _check_seeds(tasks, seeds)
    store: ScreenshotStore = (
        PngScreenshotStore(screenshot_dir) if screenshot_dir is not None else NullScreenshotStore()
    )
    recorder = recorder if recorder is not None else NullRecorder()
    counters_before = pool.counters()
    started = time.perf_counter()
    trajectories: list[Trajectory] = []
    successes = 0
    with tqdm(total=len(tasks), desc="rollout", unit="episode", disable=not progress, leave=False) as bar:
        for wave_start in range(0, len(tasks), pool.num_envs):
            wave = range(wave_start, min(len(tasks), wave_start + pool.num_envs))
            finished = _run_wave(pool, agent, [tasks[i] for i in wave], [episode_seeds[i] for i in wave],
                                 list(wave), encoder, store)
            for episode in finished:
                trajectory = _to_trajectory(episode, gamma)
                if episode.screens:  # an episode whose environment failed to start has nothing to show
                    recorder.record(episode.screens, episode.actions, episode.task, f"episode_{episode.index:05d}")
                trajectories.append(trajectory)
                successes += int(trajectory.success)
                bar.update(1)
            bar.set_postfix(success=f"{successes / max(1, len(trajectories)):.2f}")
    counters_after = pool.counters()
    pool_delta = {name: counters_after[name] - counters_before.get(name, 0) for name in counters_after}
    return RolloutResult(trajectories, rollout_stats(trajectories, time.perf_counter() - started, pool_delta))


def rollout_stats(trajectories: Sequence[Trajectory], wall_seconds: float, pool: dict[str, int]) -> RolloutStats:
    """The statistics of a rollout's trajectories (also of one put together from several, as Ray workers do)."""
    episodes = len(trajectories)
    successes = sum(int(t.success) for t in trajectories)
    env_steps = sum(len(t) for t in trajectories)
    return RolloutStats(
        episodes=episodes,
        successes=successes,
        success_rate=successes / episodes if episodes else 0.0,
        env_steps=env_steps,
        env_failures=sum(int(t.env_failed) for t in trajectories),
        invalid_actions=sum(int(not tr.valid_action) for t in trajectories for tr in t.transitions),
        mean_episode_length=env_steps / episodes if episodes else 0.0,
        wall_seconds=wall_seconds,
        pool=dict(pool),
    )


def _run_wave(
    pool: EnvPool,
    agent: Agent,
    tasks: list[Task],
    seeds: list[int],
    indices: list[int],
    encoder: ImageEncoder,
    store: ScreenshotStore,
) -> list[_Episode]:
    """Run one wave (at most ``num_envs`` episodes) to the end; episodes come back in slot order."""
    observations = pool.reset(tasks, seeds)[: len(tasks)]
    started = [slot for slot, obs in enumerate(observations) if obs is not None]
    first_features = _encode_by_slot(encoder, {slot: obs.screenshot for slot, obs in enumerate(observations)
                                               if obs is not None})
    episodes: list[_Episode] = []
    for slot, (obs, task, seed, index) in enumerate(zip(observations, tasks, seeds, indices)):
        if obs is None:  # the environment failed to start this episode
            episodes.append(_Episode(
                index=index, task=task, seed=seed, observation=None, features=None, previous_features=None,
                screenshot_path="", screens=[], env_failed=True,
                metadata={"failed_step": 0, "env_error": "reset failed"},
            ))
            continue
        episodes.append(_Episode(
            index=index, task=task, seed=seed, observation=obs, features=first_features[slot],
            previous_features=None, screenshot_path=store.save(obs.screenshot, index, 0), screens=[obs.screenshot],
        ))
    running = started
    while running:
        texts = agent.act([_with_features(episodes[s]) for s in running], [episodes[s].task for s in running])
        if len(texts) != len(running) or not all(isinstance(text, str) for text in texts):
            raise UserInputError(
                f"agent.act must return one string per observation; got {len(texts)} values "
                f"({sorted({type(text).__name__ for text in texts})}) for {len(running)} observations"
            )
        slot_texts: list[str | None] = [None] * pool.num_envs
        for slot, text in zip(running, texts):
            slot_texts[slot] = text
        results = pool.step(slot_texts)
        answered = [s for s in running if not _env_failed(results[s])]
        feature_of = _encode_by_slot(encoder, {s: _result(results, s).observation.screenshot for s in answered})
        for slot in running:
            _advance(episodes[slot], slot_texts[slot] or "", _result(results, slot), feature_of.get(slot), store)
        running = [s for s in running if not _result(results, s).done]
    return episodes


def _encode_by_slot(encoder: ImageEncoder, screens: dict[int, Image.Image]) -> dict[int, np.ndarray]:
    """Each slot's screen feature, encoded in one batch (the encoder is not called for no screens)."""
    if not screens:
        return {}
    return dict(zip(screens, encoder.encode(list(screens.values()))))


def _with_features(episode: _Episode) -> Observation:
    """The episode's observation with its stacked (previous, current) screen features, as the agent sees it."""
    assert episode.observation is not None and episode.features is not None, "a running episode has both"
    return replace(episode.observation, image_features=stack_features(episode.previous_features, episode.features))


def _result(results: Sequence[StepResult | None], slot: int) -> StepResult:
    result = results[slot]
    assert result is not None, f"EnvPool.step returned no result for running environment {slot}"
    return result


def _env_failed(result: StepResult | None) -> bool:
    return bool(result is not None and result.info.get("env_failed", False))


def _advance(
    episode: _Episode, text: str, result: StepResult, next_feature: np.ndarray | None, store: ScreenshotStore
) -> None:
    """Record one step of ``episode``: a transition, or the end of an episode whose environment failed."""
    episode.actions.append(text)
    if next_feature is None:  # the environment failed: no outcome to record
        episode.env_failed = True
        episode.metadata.update(
            failed_action=text, failed_step=len(episode.transitions), env_error=str(result.info.get("error", ""))
        )
        return
    assert episode.observation is not None and episode.features is not None, "a running episode has both"
    step = len(episode.transitions)
    next_path = store.save(result.observation.screenshot, episode.index, step + 1)
    episode.transitions.append(Transition(
        task=episode.task.text,
        prompt=episode.observation.prompt,
        action=text,
        reward=float(result.reward),
        done=bool(result.done),
        image_features=stack_features(episode.previous_features, episode.features),
        next_prompt=result.observation.prompt,
        next_image_features=stack_features(episode.features, next_feature),
        step=step,
        valid_action=result.parsed.valid,
        task_set=episode.task.task_set,
        screenshot_path=episode.screenshot_path,
        next_screenshot_path=next_path,
    ))
    episode.success = episode.success or bool(result.success)
    episode.previous_features, episode.features = episode.features, next_feature
    episode.observation = result.observation
    episode.screenshot_path = next_path
    episode.screens.append(result.observation.screenshot)


def _to_trajectory(episode: _Episode, gamma: float) -> Trajectory:
    metadata = dict(episode.metadata, episode=episode.index)
    trajectory = Trajectory(
        transitions=episode.transitions,
        task=episode.task.text,
        task_set=episode.task.task_set,
        success=episode.success,
        env_failed=episode.env_failed,
        seed=episode.seed,
        metadata=metadata,
    )
    return trajectory.fill_mc_returns(gamma)
