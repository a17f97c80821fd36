"""Running agents on a run's phones: the pool, rollouts shared with every process, the policy agent and the
episode recorder. Training's phases and the collect / eval run kinds (coso/runs.py) use the same pieces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import broadcast_object_list

from coso.agents.autoui import AutoUIAgent
from coso.agents.exploration import EpsilonGreedyAgent
from coso.config import RunConfig
from coso.data.trajectory import Trajectory
from coso.env.factory import domain_of
from coso.env.features import ImageEncoder
from coso.env.recording import EpisodeRecorder, NullRecorder
from coso.env.tasks import Task
from coso.errors import ConfigError
from coso.models.policy import Policy
from coso.rollout import Agent
from coso.seeding import exploration_seed, sampling_seed
from coso.training.checkpoint import TrainingState, read_checkpoint
from coso.training.components import load_models


class FirstEpisodesRecorder:
    """Records only the first ``limit`` episodes of a rollout (GIFs are for looking, not for every episode)."""

    def __init__(self, recorder: EpisodeRecorder, limit: int) -> None:
        self.recorder = recorder
        self.limit = limit
        self.count = 0

    def record(self, screens, actions, task, path):
        """Pass the episode on while under the limit."""
        if self.count >= self.limit:
            return None
        self.count += 1
        return self.recorder.record(screens, actions, task, path)


def episode_recorder(config: RunConfig, directory: Path, enabled: bool = True):
    """GIFs of the first ``env.record_episodes`` episodes into ``directory`` (none when 0 or not enabled)."""
    if config.env.record_episodes > 0 and enabled:
        domain = domain_of(config.env)
        grammar = None if domain.autoui_actions else domain.grammar(config.env)  # captions in the domain's actions
        return FirstEpisodesRecorder(EpisodeRecorder(directory, grammar=grammar), config.env.record_episodes)
    return NullRecorder()


def policy_agent(policy: Policy, config: RunConfig, *, temperature: float, env_steps: int) -> AutoUIAgent:
    """The policy as a rollout agent; its sampling is seeded by the run seed and the steps it has trained on."""
    policy.eval()
    return AutoUIAgent(policy, temperature=temperature, max_new_tokens=config.agent.max_new_tokens,
                       generator=torch.Generator().manual_seed(sampling_seed(config.seed, env_steps)),
                       constrained=config.agent.constrained_decoding and domain_of(config.env).autoui_actions,
                       point_decimals=config.env.point_decimals,
                       require_typed_text=config.agent.require_typed_text)


def exploring(agent: Agent, config: RunConfig, env_steps: int) -> Agent:
    """``agent`` with AFSFT's epsilon-greedy exploration when algorithm.afsft.epsilon > 0 (online rollouts)."""
    epsilon = config.algorithm.afsft.epsilon
    if epsilon <= 0:
        return agent
    return EpsilonGreedyAgent(agent, epsilon, exploration_seed(config.seed, env_steps), config.env.point_decimals)


def checkpoint_policy(config: RunConfig) -> tuple[Policy, TrainingState]:
    """The policy of the checkpoint at load_path, and the state it was saved with."""
    if not config.load_path:
        raise ConfigError("this run needs load_path=<a run directory or checkpoint> to take the policy from")
    state, _, path = read_checkpoint(Path(config.load_path), required=("models",))
    return load_models(path / "models").policy, state


def checkpoint_agent(config: RunConfig, temperature: float) -> AutoUIAgent:
    """The policy of the checkpoint at load_path as a rollout agent, seeded as its run's policy was."""
    policy, state = checkpoint_policy(config)
    return policy_agent(policy, config, temperature=temperature, env_steps=state.env_steps)


ROLLOUT_MODES = ("sync", "async")  # rollout.mode: the words Rollouts acts on (async: Ray workers' policy copies)


class Rollouts:
    """A run's rollout engine (rollout.engine: local pool or Ray workers), built on first use (main process
    only), and rollouts shared with every process. With rollout.mode=async on Ray, ``prefetch`` starts the next
    iteration's rollout on the workers before the update and ``online`` takes it (one policy version old)."""

    def __init__(self, config: RunConfig, encoder: ImageEncoder, accelerator: Accelerator | None = None) -> None:
        self.config = config
        self.encoder = encoder
        self.is_main = accelerator is None or accelerator.is_main_process
        self.num_processes = 1 if accelerator is None else accelerator.num_processes
        self._engine = None
        self._pending: tuple[int, Any] | None = None  # (the iteration it is for, PendingRollout)
        self._ready: tuple[int, Any] | None = None  # (the iteration it is for, RolloutResult) taken early

    @property
    def engine(self):
        """The rollout engine (coso.distributed.build_engine), built on first use."""
        if self._engine is None:
            from coso.distributed import build_engine

            self._engine = build_engine(self.config, self.encoder)
        return self._engine

    @property
    def pool(self):
        """The engine's environment pool."""
        return self.engine.pool

    @property
    def asynchronous(self) -> bool:
        """Whether online rollouts run on the Ray workers' own policy copies (rollout.mode=async)."""
        mode = str(self.config.rollout.mode)
        if mode not in ROLLOUT_MODES:
            raise ConfigError(f"rollout.mode={mode!r} is not one of {ROLLOUT_MODES}")
        return str(self.config.rollout.engine) == "ray" and mode == ROLLOUT_MODES[1]

    def __call__(self, agent_factory: Callable[[], Agent], tasks: Sequence[Task], seeds: Sequence[int],
                 recorder=None) -> tuple[list[Trajectory], dict[str, float]]:
        """Run the tasks on the main process (one episode seed each) and share the trajectories and the
        numeric statistics with every process."""
        result = None
        if self.is_main:
            self._drain()  # the phones run one rollout at a time
            result = self.engine.collect(agent_factory(), tasks, seeds, gamma=self.config.algorithm.gamma,
                                         recorder=recorder, progress=self.config.logging.progress)
        return self._share(result)

    def online(self, iteration: int, policy: Policy, agent_factory: Callable[[], Agent],
               tasks: Sequence[Task], seeds: Sequence[int],
               env_steps: int) -> tuple[list[Trajectory], dict[str, float]]:
        """An online iteration's rollout: sync, as ``__call__``; async, the batch prefetched for this iteration
        (or one run now at the current weights), each trajectory tagged with its policy version and staleness."""
        if not self.asynchronous:
            return self(agent_factory, tasks, seeds)
        result = None
        if self.is_main:
            self._drain()
            if self._ready is not None and self._ready[0] == iteration:
                result = self._ready[1]
            else:
                self.prefetch(iteration, policy, tasks, seeds, env_steps, version=iteration)
                self._drain()
                assert self._ready is not None  # the prefetch just drained
                result = self._ready[1]
            self._ready = None
        return self._share(result)

    def prefetch(self, iteration: int, policy: Policy, tasks: Sequence[Task], seeds: Sequence[int],
                 env_steps: int, version: int | None = None) -> None:
        """Async: start ``iteration``'s rollout on the workers with the current weights (``version``, by default
        the iteration before, since the caller is about to update); nothing in sync mode."""
        if not (self.asynchronous and self.is_main):
            return
        version = iteration - 1 if version is None else version
        self.engine.publish(policy, version)
        pending = self.engine.submit(tasks, seeds, version=version, env_steps=env_steps,
                                     temperature=self.config.agent.temperature)
        self._pending = (iteration, pending)

    def _drain(self) -> None:
        """Take the rollout in flight, if any, keeping it for the iteration it is for."""
        if self._pending is not None:
            iteration, pending = self._pending
            self._pending = None
            self._ready = (iteration, self.engine.take(pending, current_version=iteration))

    def _share(self, result) -> tuple[list[Trajectory], dict[str, float]]:
        """The main process's trajectories and numeric statistics, on every process."""
        payload: list[Any] = [None]
        if self.is_main:
            stats = result.stats.as_dict(prefix="")
            staleness = [int(t.metadata["policy_staleness"]) for t in result.trajectories
                         if "policy_staleness" in t.metadata]
            if staleness:  # async rollouts only: sync ones run the current weights
                stats["policy_staleness_mean"] = sum(staleness) / len(staleness)
                stats["policy_staleness_max"] = max(staleness)
            payload = [(result.trajectories, stats)]
        if self.num_processes > 1:
            broadcast_object_list(payload)
        trajectories, stats = payload[0]
        return trajectories, {key: float(value) for key, value in stats.items() if isinstance(value, (int, float))}

    def close(self) -> None:
        """Close the engine (its pool, and the Ray workers) if it was built."""
        self._pending = self._ready = None
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def __enter__(self) -> Rollouts:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
