"""A Ray rollout worker's body: the phones of its slots, and a policy copy that runs whole episodes (async mode).

The class is plain Python; coso.distributed.ray_engine turns it into a Ray actor (``ray.remote``) so this module
imports without Ray. A worker answers two kinds of request:

- slot calls (``build`` / ``reset`` / ``step``): the trainer's ``RayEnvPool`` drives one phone per slot, so
  the trainer's policy writes every action (sync mode, the local engine's exact trajectories);
- ``collect``: the worker runs a batch of episodes on its own pool with its own copy of the policy, at the
  weight version the request names (async mode), and returns the trajectories tagged with that version.

A slot call for a phone the worker does not have (the actor was restarted after a crash and lost its phones)
raises ``WorkerLostError``, which the trainer's pool reads as a lost worker and re-queues the episode.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from coso.config import RunConfig
from coso.data.trajectory import Trajectory
from coso.env.base import Environment, Observation, PhoneEnv, StepResult
from coso.env.pool import EnvPool, ScreenshotGuard
from coso.env.tasks import Task
from coso.errors import DeviceError


class WorkerLostError(DeviceError):
    """A Ray rollout worker died, was restarted, or stopped answering; its running episodes are re-queued."""


def async_sampling_seed(run_seed: int, env_steps: int, chunk: int) -> int:
    """The sampling seed of one worker batch of an async rollout: the policy's seed (coso.seeding.sampling_seed's
    run seed + env steps) spread so that every batch of the same rollout draws its own stream."""
    return (run_seed + env_steps) * 4096 + chunk + 1


class RolloutWorker:
    """One Ray actor's phones (slot calls) and its policy copy (``collect``)."""

    def __init__(self, config: RunConfig, worker_index: int, num_slots: int) -> None:
        from coso.env.factory import build_env_factory

        self.config = config
        self.worker_index = worker_index
        self.num_slots = num_slots
        self.factory = build_env_factory(config.env, config.seed)
        self.envs: dict[int, Environment] = {}
        self.corrupted_screenshots = 0
        self._lock = threading.Lock()
        self._collect_lock = threading.Lock()  # one batch at a time on the worker's pool (a re-queued one waits)
        self.policy: Any = None
        self.version = -1
        self.encoder: Any = None
        self.pool: EnvPool | None = None

    # ---------------------------------------------------------------------------------------- slot calls

    def pid(self) -> int:
        """The actor's process id (a restarted actor has a new one)."""
        return os.getpid()

    def build(self, slot: int) -> None:
        """A fresh phone in ``slot`` (the previous one, if any, closed), its screenshots checked as EnvPool does."""
        env = self.factory(slot)
        if isinstance(env, PhoneEnv):  # a phone: guard its device's screenshots as EnvPool does
            env.device = ScreenshotGuard(env.device, self._on_corrupted)
        with self._lock:
            previous, self.envs[slot] = self.envs.get(slot), env
        if previous is not None:
            _close_quietly(previous)

    def reset(self, slot: int, task: Task, seed: int) -> Observation:
        """Start an episode on the slot's phone."""
        return self._env(slot).reset(task, seed)

    def step(self, slot: int, text: str) -> StepResult:
        """One action on the slot's phone."""
        return self._env(slot).step(text)

    def close_slot(self, slot: int) -> None:
        """Close the slot's phone, if it has one."""
        with self._lock:
            env = self.envs.pop(slot, None)
        if env is not None:
            _close_quietly(env)

    def counters(self) -> dict[str, int]:
        """What this worker saw that the trainer cannot: corrupted screenshots re-taken here."""
        return {"corrupted_screenshots": self.corrupted_screenshots}

    # ---------------------------------------------------------------------------------------- async collect

    def warm(self) -> None:
        """Load what ``collect`` needs (torch and the policy's modules, the image encoder, the phones) before the
        first request, so the first async rollout does not wait for imports."""
        import torch  # noqa: F401 - the imports are the point: seconds, once

        import coso.agents.autoui  # noqa: F401 - what unpickling the policy and acting with it import
        import coso.models.autoui  # noqa: F401
        from coso.env.factory import build_encoder, build_pool

        if self.encoder is None:
            self.encoder = build_encoder(self.config.env)
        if self.pool is None:
            self.pool = build_pool(_with_num_envs(self.config.env, self.num_slots), self.config.seed)

    def collect(self, weights: list[Any], version: int, tasks: Sequence[Task], seeds: Sequence[int],
                sampling_seed: int, temperature: float) -> tuple[list[Trajectory], dict[str, int]]:
        """Run ``tasks`` (one episode seed each) on this worker's own pool with its policy at ``version``.

        ``weights`` is ``[skeleton, state]``: object-store references to the policy as first published (built
        once per worker) and to the state dict of ``version`` (loaded when it changes). Returns the
        trajectories, each tagged with ``policy_version``, and the pool's counters during the request.
        """
        with self._collect_lock:
            return self._collect(weights, version, tasks, seeds, sampling_seed, temperature)

    def _collect(self, weights: list[Any], version: int, tasks: Sequence[Task], seeds: Sequence[int],
                 sampling_seed: int, temperature: float) -> tuple[list[Trajectory], dict[str, int]]:
        import ray
        import torch

        from coso.agents.autoui import AutoUIAgent
        from coso.env.factory import domain_of
        from coso.rollout import collect_trajectories

        skeleton, state = weights
        if self.policy is None:  # on the GPU Ray gave this worker (rollout.gpus_per_worker), else the CPU
            self.policy = ray.get(skeleton).to("cuda" if torch.cuda.is_available() else "cpu")
        if version != self.version:
            self.policy.load_state_dict(ray.get(state))
            self.version = version
        self.warm()
        self.policy.eval()
        agent_config = self.config.agent
        agent = AutoUIAgent(self.policy, temperature=temperature, max_new_tokens=agent_config.max_new_tokens,
                            generator=torch.Generator().manual_seed(sampling_seed),
                            constrained=agent_config.constrained_decoding and domain_of(self.config.env).autoui_actions,
                            point_decimals=self.config.env.point_decimals,
                            require_typed_text=agent_config.require_typed_text)
        assert self.pool is not None  # built above
        result = collect_trajectories(self.pool, agent, list(tasks), self.encoder, seeds=list(seeds),
                                      gamma=self.config.algorithm.gamma, progress=False)
        for trajectory in result.trajectories:
            trajectory.metadata["policy_version"] = version
            trajectory.metadata["rollout_worker"] = self.worker_index
        return result.trajectories, dict(result.stats.pool)

    # ---------------------------------------------------------------------------------------- internals

    def _env(self, slot: int) -> Environment:
        env = self.envs.get(slot)
        if env is None:
            raise WorkerLostError(f"rollout worker {self.worker_index} (pid {os.getpid()}) has no phone in slot "
                                  f"{slot}: it was restarted and lost its phones")
        return env

    def _on_corrupted(self, problem: str) -> None:
        self.corrupted_screenshots += 1


def _with_num_envs(env: Any, num_envs: int) -> Any:
    """A copy of an env config with ``num_envs`` phones."""
    import dataclasses

    return dataclasses.replace(env, num_envs=num_envs)


def _close_quietly(env: Environment) -> None:
    try:
        env.close()
    except Exception:  # a dying device may fail to close; nothing depends on it
        pass
