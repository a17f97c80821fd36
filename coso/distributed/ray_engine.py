"""Rollout workers on Ray: the phones of a run spread over Ray actors, on one machine or a cluster.

``WorkerGroup`` starts ``rollout.num_workers`` actors (coso.distributed.worker.RolloutWorker); the run's
``env.num_envs`` phones are dealt to them round-robin (slot ``i`` lives on worker ``i % num_workers``), so a
wave of fewer tasks than phones still spreads over every worker. Each actor is restarted by Ray after a crash,
at most ``rollout.max_worker_restarts`` times.

Sync mode: ``RayEnvPool`` is an ``EnvPool`` whose environments are proxies of the workers' phones, so
``collect_trajectories`` runs unchanged on the trainer, the trainer's policy writes every action in the same
batches, and the trajectories are exactly the local engine's for the same seeds. A worker lost mid-episode
fails its episodes with ``WorkerLostError``; the pool rebuilds the slot (on the restarted actor) and the engine
runs those episodes again with the same seeds, so none is lost.

Async mode: the trainer publishes its policy weights by version in the object store; ``submit`` hands each
worker a batch of episodes to run with its own policy copy while the trainer updates, and ``take`` gathers
them (a deadline per request; a lost or silent worker's batch goes to another worker). Every trajectory
carries the version that produced it and its staleness when taken.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from coso.config import RunConfig
from coso.data.trajectory import Trajectory
from coso.distributed.worker import RolloutWorker, WorkerLostError, async_sampling_seed
from coso.env.base import Observation, StepResult
from coso.env.features import ImageEncoder
from coso.env.pool import EnvPool
from coso.env.tasks import Task
from coso.errors import ConfigError, TrainingError
from coso.rollout import Agent, RolloutResult, collect_trajectories, rollout_stats

logger = logging.getLogger(__name__)


def import_ray() -> Any:
    """The ray module, or a ConfigError saying how to install it."""
    try:
        import ray
    except ImportError as error:
        raise ConfigError('rollout.engine=ray needs Ray, which is not installed; run pip install -e ".[distributed]"'
                          " (or set rollout.engine=local)") from error
    return ray


def _lost(error: BaseException | None) -> bool:
    """Whether a failure means the worker (not the phone) went away."""
    if error is None:
        return False
    ray = import_ray()
    lost_types = (WorkerLostError, ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError)
    return isinstance(error, lost_types) or isinstance(error.__cause__, lost_types)


class WorkerGroup:
    """The Ray actors of a run and which of them owns each phone slot; joins or starts the Ray cluster."""

    def __init__(self, config: RunConfig) -> None:
        ray = import_ray()
        rollout = config.rollout
        self.config = config
        self.num_workers = int(rollout.num_workers)
        self.num_slots = int(config.env.num_envs)
        if self.num_slots < self.num_workers:
            raise ConfigError(f"rollout.num_workers={self.num_workers} with env.num_envs={self.num_slots}: a worker "
                              f"would own no phone; set env.num_envs >= {self.num_workers} (the phones of all workers)")
        self.started_ray = not ray.is_initialized()
        if self.started_ray:
            if rollout.address:
                ray.init(address=rollout.address, include_dashboard=False, log_to_driver=False)
            else:  # a private cluster on this machine, big enough for the workers (they mostly wait on phones)
                need = math.ceil(self.num_workers * rollout.cpus_per_worker)
                resources = ({rollout.worker_resource: float(self.num_slots)} if rollout.worker_resource else None)
                ray.init(num_cpus=max(os.cpu_count() or 1, need), resources=resources, include_dashboard=False,
                         log_to_driver=False)
        per_worker = [len(self.slots_of(index)) for index in range(self.num_workers)]
        self.actors = [self._start(ray, index, per_worker[index]) for index in range(self.num_workers)]
        self.lost = 0  # lost-worker events seen (slot calls and requests)
        self.requeued = 0  # episodes run again because their worker was lost

    def _start(self, ray: Any, index: int, num_slots: int) -> Any:
        rollout = self.config.rollout
        options: dict[str, Any] = {"max_restarts": int(rollout.max_worker_restarts), "max_task_retries": 0,
                                   "max_concurrency": num_slots + 4, "num_cpus": float(rollout.cpus_per_worker),
                                   "num_gpus": float(rollout.gpus_per_worker)}
        if rollout.worker_resource:
            options["resources"] = {rollout.worker_resource: float(num_slots)}
        return ray.remote(RolloutWorker).options(**options).remote(self.config, index, num_slots)

    def slots_of(self, worker: int) -> list[int]:
        """The global slot indices that ``worker`` owns."""
        return list(range(worker, self.num_slots, self.num_workers))

    def locate(self, slot: int) -> tuple[Any, int, int]:
        """(actor, worker index, the slot's index on that worker) of a global slot."""
        worker = slot % self.num_workers
        return self.actors[worker], worker, slot // self.num_workers

    def wait_ready(self, timeout_s: float) -> list[int]:
        """Every worker's process id once all have started; a ConfigError when they do not in time."""
        ray = import_ray()
        try:
            return ray.get([actor.pid.remote() for actor in self.actors], timeout=timeout_s)
        except ray.exceptions.GetTimeoutError as error:
            raise ConfigError(f"the {self.num_workers} Ray rollout workers did not start within {timeout_s:.0f} s; "
                              "check that the cluster has the CPUs and rollout.worker_resource they ask for "
                              "(`ray status`)") from error

    def close(self) -> None:
        """Stop the workers, and the Ray cluster when this group started it."""
        ray = import_ray()
        for actor in self.actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception as error:  # already gone
                logger.debug("killing a rollout worker failed: %r", error)
        self.actors = []
        if self.started_ray and ray.is_initialized():
            ray.shutdown()


class RemoteEnv:
    """The trainer's handle on one phone of a worker: reset and step run there."""

    def __init__(self, actor: Any, local_slot: int) -> None:
        self.actor = actor
        self.local_slot = local_slot
        self.device = None  # the phone's device lives (and is screenshot-checked) on the worker

    def build(self, wait_s: float = 300.0) -> None:
        """Have the worker build the phone, first waiting (at most ``wait_s``) for a restarting worker to be back."""
        ray = import_ray()
        deadline = time.monotonic() + wait_s
        while True:
            try:
                ray.get(self.actor.pid.remote(), timeout=max(0.1, deadline - time.monotonic()))
                break
            except ray.exceptions.ActorUnavailableError as error:  # restarting: Ray refuses calls until it is up
                if time.monotonic() > deadline:
                    raise WorkerLostError(f"rollout worker still restarting after {wait_s:.0f} s: {error!r}") from error
                time.sleep(0.5)
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError) as error:  # dead for good
                raise WorkerLostError(f"rollout worker gone: {error!r}"[:500]) from error
        self._call("build")

    def reset(self, task: Task, seed: int) -> Observation:
        """Start an episode on the worker's phone."""
        return self._call("reset", task, seed)

    def step(self, text: str) -> StepResult:
        """One action on the worker's phone."""
        return self._call("step", text)

    def close(self) -> None:
        """Ask the worker to close the phone (without waiting: a dead worker has nothing to close)."""
        try:
            self.actor.close_slot.remote(self.local_slot)
        except Exception as error:
            logger.debug("closing a remote phone failed: %r", error)

    def _call(self, method: str, *args: Any) -> Any:
        ray = import_ray()
        try:
            return ray.get(getattr(self.actor, method).remote(self.local_slot, *args))
        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as error:
            raise WorkerLostError(f"rollout worker lost during {method}: {error!r}"[:500]) from error


class RayEnvPool(EnvPool):
    """An ``EnvPool`` of the workers' phones (slot ``i`` on worker ``i % num_workers``), with EnvPool's deadlines,
    rebuilds and restart limit; remembers the episode seeds whose worker was lost (``lost_seeds``)."""

    def __init__(self, workers: WorkerGroup) -> None:
        self.workers = workers
        self._slot_seeds: dict[int, int] = {}
        self.lost_seeds: set[int] = set()
        self.lost_workers: set[int] = set()  # workers lost during the current rollout
        env = workers.config.env
        super().__init__(self._remote_env, env.num_envs, env.step_timeout_s, env.reset_timeout_s, env.max_restarts)

    def _remote_env(self, index: int) -> RemoteEnv:
        actor, _, local_slot = self.workers.locate(index)
        return RemoteEnv(actor, local_slot)

    def _build_job(self, worker, index):  # noqa: ANN001, ANN202 - EnvPool's private hook
        def build() -> None:
            try:
                env = self._remote_env(index)
                env.build(self.build_timeout_s)
                worker.env = env
            except BaseException as error:
                worker.build_error = error
                raise

        return build

    def reset(self, tasks: Sequence[Task], seeds: Sequence[int]) -> list[Observation | None]:
        """EnvPool.reset, remembering which episode seed each slot runs."""
        self._slot_seeds = {index: int(seed) for index, seed in enumerate(seeds)}
        return super().reset(tasks, seeds)

    def counters(self, prefix: str = "") -> dict[str, int]:
        """EnvPool's counters plus the lost workers and the re-queued episodes."""
        values = super().counters(prefix)
        values[f"{prefix}workers_lost"] = self.workers.lost
        values[f"{prefix}episodes_requeued"] = self.workers.requeued
        return values

    def _fail_all(self, failures, during):  # noqa: ANN001, ANN202 - EnvPool's private hook
        """Count lost workers and remember the episodes they held (also those of the worker's other phones that
        timed out while it restarted), then fail the slots as EnvPool does."""
        for slot, error in failures:
            if _lost(error) or _lost(slot.worker.build_error):
                self.workers.lost += 1
                self.lost_workers.add(self.workers.locate(slot.index)[1])
        for slot, _ in failures:
            if self.workers.locate(slot.index)[1] in self.lost_workers and slot.index in self._slot_seeds:
                self.lost_seeds.add(self._slot_seeds[slot.index])
        super()._fail_all(failures, during)


@dataclasses.dataclass
class _Request:
    """One batch of an async rollout on one worker."""

    positions: list[int]  # where its episodes go in the rollout's task order
    tasks: list[Task]
    seeds: list[int]
    chunk: int
    worker: int
    future: Any = None
    submitted: float = 0.0
    attempts: int = 0


@dataclasses.dataclass
class PendingRollout:
    """An async rollout in flight: its requests, the policy version they run, when it was submitted."""

    requests: list[_Request]
    version: int
    size: int
    submitted: float
    env_steps: int
    temperature: float


class RayEngine:
    """Rollouts on Ray workers: ``collect`` (sync: the trainer's agent on the workers' phones, lost episodes run
    again) and ``submit`` / ``take`` (async: the workers' policy copies at a published weight version)."""

    name = "ray"

    def __init__(self, config: RunConfig, encoder: ImageEncoder) -> None:
        self.config = config
        self.encoder = encoder
        self.workers = WorkerGroup(config)
        self.workers.wait_ready(max(config.env.reset_timeout_s, 120.0))
        self.pool = RayEnvPool(self.workers)
        if str(config.rollout.mode) == "async":  # the first async rollout should not wait for imports
            import_ray().get([actor.warm.remote() for actor in self.workers.actors])
        self._skeleton: Any = None
        self._weights: dict[int, Any] = {}
        self._next_worker = 0

    # ------------------------------------------------------------------------------------------ sync

    def collect(self, agent: Agent, tasks: Sequence[Task], seeds: Sequence[int], *, gamma: float, recorder=None,
                progress: bool = False) -> RolloutResult:
        """collect_trajectories on the workers' phones; episodes whose worker was lost run again (same seeds)."""
        started = time.perf_counter()
        before = self.pool.counters()
        self.pool.lost_seeds.clear()
        self.pool.lost_workers.clear()
        trajectories = collect_trajectories(self.pool, agent, tasks, self.encoder, seeds=seeds, gamma=gamma,
                                            recorder=recorder, progress=progress).trajectories
        for _ in range(self.config.rollout.max_worker_restarts + 1):
            lost = [index for index, t in enumerate(trajectories) if t.env_failed and t.seed in self.pool.lost_seeds]
            if not lost:
                break
            self.pool.lost_seeds.clear()
            self.workers.requeued += len(lost)
            again = collect_trajectories(self.pool, agent, [tasks[i] for i in lost], self.encoder,
                                         seeds=[int(seeds[i]) for i in lost], gamma=gamma, progress=False)
            for index, trajectory in zip(lost, again.trajectories):
                trajectory.metadata["episode"] = index
                trajectory.metadata["requeued"] = True
                trajectories[index] = trajectory
        after = self.pool.counters()
        delta = {name: after[name] - before.get(name, 0) for name in after}
        return RolloutResult(trajectories, rollout_stats(trajectories, time.perf_counter() - started, delta))

    # ------------------------------------------------------------------------------------------ async

    def publish(self, policy: Any, version: int) -> None:
        """Put the policy's weights of ``version`` in the object store (the skeleton once, on first publish)."""
        ray = import_ray()
        if version in self._weights:
            return
        if self._skeleton is None:
            import copy

            self._skeleton = ray.put(copy.deepcopy(policy).cpu())
        state = {name: tensor.detach().cpu() for name, tensor in policy.state_dict().items()}
        self._weights[version] = ray.put(state)
        keep = sorted(self._weights)[-(self.config.rollout.max_staleness + 1):]  # a batch re-sent may still need them
        self._weights = {kept: self._weights[kept] for kept in keep}

    def submit(self, tasks: Sequence[Task], seeds: Sequence[int], *, version: int, env_steps: int,
               temperature: float) -> PendingRollout:
        """Hand the tasks to the workers, one batch each (task ``i`` to worker ``i % num_workers``), at weight
        ``version``; each batch samples from its own seed (coso.distributed.worker.async_sampling_seed)."""
        if version not in self._weights:
            raise TrainingError(f"RayEngine.submit: policy version {version} was not published")
        requests = []
        for chunk, worker in enumerate(range(self.workers.num_workers)):
            positions = list(range(chunk, len(tasks), self.workers.num_workers))
            if positions:
                requests.append(_Request(positions, [tasks[i] for i in positions], [int(seeds[i]) for i in positions],
                                         chunk, worker))
        pending = PendingRollout(requests, version, len(tasks), time.perf_counter(), env_steps, temperature)
        for request in requests:
            self._send(request, version, env_steps, temperature)
        return pending

    def take(self, pending: PendingRollout, current_version: int) -> RolloutResult:
        """Wait for every request of ``pending`` (a deadline each; a lost worker's batch goes to another worker)
        and return the trajectories in task order, tagged with their policy version and staleness."""
        ray = import_ray()
        trajectories: list[Trajectory | None] = [None] * pending.size
        pool: dict[str, int] = {}
        timeout = self.config.rollout.request_timeout_s
        lost, requeued = self.workers.lost, self.workers.requeued
        for request in pending.requests:
            while True:
                remaining = max(0.0, request.submitted + timeout - time.monotonic())
                try:
                    done, counters = ray.get(request.future, timeout=remaining)
                    break
                except (ray.exceptions.GetTimeoutError, ray.exceptions.RayActorError,
                        ray.exceptions.ActorUnavailableError) as error:
                    self._requeue(ray, request, error, pending)
            for position, trajectory in zip(request.positions, done):
                trajectory.metadata["episode"] = position
                trajectory.metadata["policy_staleness"] = current_version - pending.version
                trajectories[position] = trajectory
            for name, value in counters.items():
                pool[name] = pool.get(name, 0) + int(value)
        pool["workers_lost"] = self.workers.lost - lost
        pool["episodes_requeued"] = self.workers.requeued - requeued
        collected = [t for t in trajectories if t is not None]
        return RolloutResult(collected, rollout_stats(collected, time.perf_counter() - pending.submitted, pool))

    def _send(self, request: _Request, version: int, env_steps: int, temperature: float) -> None:
        actor = self.workers.actors[request.worker]
        seed = async_sampling_seed(self.config.seed, env_steps, request.chunk)
        request.future = actor.collect.remote([self._skeleton, self._weights[version]], version, request.tasks,
                                              request.seeds, seed, temperature)
        request.submitted = time.monotonic()
        request.attempts += 1

    def _requeue(self, ray: Any, request: _Request, error: BaseException, pending: PendingRollout) -> None:
        """Count the loss, restart a silent worker, and send the batch to the next worker (bounded tries)."""
        self.workers.lost += 1
        if request.attempts > self.config.rollout.max_worker_restarts:
            raise TrainingError(f"an async rollout batch was lost {request.attempts} times (last on worker "
                                f"{request.worker}: {error!r}); rollout.max_worker_restarts="
                                f"{self.config.rollout.max_worker_restarts} is spent") from error
        if isinstance(error, ray.exceptions.GetTimeoutError):  # silent past its deadline: restart it
            ray.kill(self.workers.actors[request.worker], no_restart=False)
        logger.warning("rollout worker %d lost its batch of %d episodes (%r); re-queued", request.worker,
                       len(request.tasks), error)
        self.workers.requeued += len(request.tasks)
        request.worker = (request.worker + 1) % self.workers.num_workers
        self._send(request, pending.version, pending.env_steps, pending.temperature)

    def close(self) -> None:
        """Close the phones and stop the workers (and the Ray cluster this engine started)."""
        try:
            self.pool.close()
        finally:
            self.workers.close()


class LocalEngine:
    """Rollouts in the trainer's process: the run's EnvPool, built on first use (the default engine)."""

    name = "local"

    def __init__(self, config: RunConfig, encoder: ImageEncoder) -> None:
        self.config = config
        self.encoder = encoder
        self._pool: EnvPool | None = None

    @property
    def pool(self) -> EnvPool:
        """The environment pool, built on first use."""
        if self._pool is None:
            from coso.env.factory import build_pool

            self._pool = build_pool(self.config.env, self.config.seed)
        return self._pool

    def collect(self, agent: Agent, tasks: Sequence[Task], seeds: Sequence[int], *, gamma: float, recorder=None,
                progress: bool = False) -> RolloutResult:
        """collect_trajectories on the local pool."""
        return collect_trajectories(self.pool, agent, tasks, self.encoder, seeds=seeds, gamma=gamma,
                                    recorder=recorder, progress=progress)

    def close(self) -> None:
        """Close the pool if it was built."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None


ROLLOUT_ENGINES: dict[str, Callable[[RunConfig, ImageEncoder], Any]] = {"local": LocalEngine, "ray": RayEngine}


def build_engine(config: RunConfig, encoder: ImageEncoder) -> LocalEngine | RayEngine:
    """The rollout engine that ``rollout.engine`` names."""
    name = str(config.rollout.engine)
    if name not in ROLLOUT_ENGINES:
        raise ConfigError(f"rollout.engine={name!r} is not one of {sorted(ROLLOUT_ENGINES)}")
    return ROLLOUT_ENGINES[name](config, encoder)
