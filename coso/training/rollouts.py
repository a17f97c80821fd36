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
from coso.env.factory import build_pool, domain_of
from coso.env.features import ImageEncoder
from coso.env.recording import EpisodeRecorder, NullRecorder
from coso.env.tasks import Task
from coso.errors import ConfigError
from coso.models.policy import Policy
from coso.rollout import Agent, collect_trajectories
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


class Rollouts:
    """A run's environment pool, built on first use (main process only), and rollouts shared with every process."""

    def __init__(self, config: RunConfig, encoder: ImageEncoder, accelerator: Accelerator | None = None) -> None:
        self.config = config
        self.encoder = encoder
        self.is_main = accelerator is None or accelerator.is_main_process
        self.num_processes = 1 if accelerator is None else accelerator.num_processes
        self._pool = None

    @property
    def pool(self):
        """The environment pool, built on first use."""
        if self._pool is None:
            self._pool = build_pool(self.config.env, self.config.seed)
        return self._pool

    def __call__(self, agent_factory: Callable[[], Agent], tasks: Sequence[Task], seeds: Sequence[int],
                 recorder=None) -> tuple[list[Trajectory], dict[str, float]]:
        """Run the tasks on the main process (one episode seed each) and share the trajectories and the
        numeric statistics with every process."""
        payload: list[Any] = [None]
        if self.is_main:
            result = collect_trajectories(self.pool, agent_factory(), tasks, self.encoder, seeds=seeds,
                                          gamma=self.config.algorithm.gamma, recorder=recorder,
                                          progress=self.config.logging.progress)
            payload = [(result.trajectories, result.stats.as_dict(prefix=""))]
        if self.num_processes > 1:
            broadcast_object_list(payload)
        trajectories, stats = payload[0]
        return trajectories, {key: float(value) for key, value in stats.items() if isinstance(value, (int, float))}

    def close(self) -> None:
        """Close the pool if it was built."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> Rollouts:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
