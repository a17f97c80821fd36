"""Rollout workers on Ray, on a private Ray cluster of this machine (loopback only), with simulated phones.

Sync Ray rollouts equal local ones for the same seeds (the policy's sampling and the demonstrator's noise
included); a worker killed mid-rollout loses no episode; async rollouts carry their policy version and
staleness, never beyond rollout.max_staleness, and the buffer rejects staler ones. The module's fixture shuts
the cluster down and checks that no Ray process of it is left.
"""

from __future__ import annotations

import threading
import time

import psutil
import pytest

from coso.config import RunConfig, check_run_config
from coso.data.buffer import ReplayBuffer
from coso.distributed import LocalEngine, RayEngine
from coso.env.sim.expert import ExpertPolicy, NoiseConfig
from coso.env.factory import build_encoder
from coso.env.task_generator import generate_tasks
from coso.errors import ConfigError
from coso.rollout import RolloutResult
from coso.training.components import build_models
from coso.training.rollouts import Rollouts, policy_agent

ray = pytest.importorskip("ray", reason='rollout.engine=ray needs pip install -e ".[distributed]"')

pytestmark = pytest.mark.slow
TINY_MODEL = {"d_model": 64, "d_ff": 128, "num_layers": 2, "num_decoder_layers": 2, "num_heads": 2}
RAY_PROCESS_NAMES = ("raylet", "gcs_server")


def _ray_processes() -> list[psutil.Process]:
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if any(name in " ".join(process.cmdline()) for name in RAY_PROCESS_NAMES):
                found.append(process)
        except psutil.Error:
            continue
    return found


@pytest.fixture(scope="module", autouse=True)
def cluster():
    """A private Ray cluster for the module, shut down at its end with no process left behind."""
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    deadline = time.monotonic() + 30
    while _ray_processes() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _ray_processes(), "Ray processes outlived ray.shutdown()"


def ray_config(mode: str = "sync", latency: float = 0.0) -> RunConfig:
    config = RunConfig()
    config.env.num_envs = 4
    config.env.sim.faults.action_latency_s = latency
    config.rollout.engine = "ray"
    config.rollout.mode = mode
    config.rollout.num_workers = 2
    config.agent.model = dict(TINY_MODEL)
    config.agent.max_new_tokens = 40
    check_run_config(config)
    return config


@pytest.fixture(scope="module")
def policy():
    return build_models(ray_config()).policy


def _key(result: RolloutResult) -> list[tuple]:
    return [(t.task, t.seed, t.success, t.env_failed,
             [(x.action, x.reward, x.done, x.image_features.tobytes(), x.next_image_features.tobytes())
              for x in t.transitions]) for t in result.trajectories]


def test_sync_ray_rollouts_equal_local_rollouts_for_the_same_seeds(policy) -> None:
    config = ray_config()
    encoder = build_encoder(config.env)
    tasks = generate_tasks(7, seed=3, task_set="mixed")
    seeds = list(range(100, 107))
    local, distributed = LocalEngine(config, encoder), RayEngine(config, encoder)
    try:
        for make_agent in (lambda: ExpertPolicy(NoiseConfig.from_level(0.4), seed=5),
                           lambda: policy_agent(policy, config, temperature=1.0, env_steps=3)):
            expected = local.collect(make_agent(), tasks, seeds, gamma=0.9)
            got = distributed.collect(make_agent(), tasks, seeds, gamma=0.9)
            assert _key(got) == _key(expected)
            assert got.stats.env_steps == expected.stats.env_steps > len(tasks) - 1
            assert got.stats.pool["workers_lost"] == 0
        assert len(set(ray.get([actor.pid.remote() for actor in distributed.workers.actors]))) == 2
    finally:
        local.close()
        distributed.close()


def test_a_worker_killed_mid_rollout_loses_no_episode() -> None:
    config = ray_config(latency=0.15)
    encoder = build_encoder(config.env)
    tasks = generate_tasks(8, seed=4, task_set="webshop")
    seeds = list(range(200, 208))
    local, distributed = LocalEngine(config, encoder), RayEngine(config, encoder)
    try:
        expected = local.collect(ExpertPolicy(), tasks, seeds, gamma=0.9)
        victim = distributed.workers.actors[0]
        killer = threading.Timer(1.5, lambda: ray.kill(victim, no_restart=False))
        killer.start()
        got = distributed.collect(ExpertPolicy(), tasks, seeds, gamma=0.9)
        killer.join()
        assert got.stats.pool["workers_lost"] >= 1 and got.stats.pool["episodes_requeued"] >= 1
        assert not any(t.env_failed for t in got.trajectories)
        assert _key(got) == _key(expected)  # every episode, re-run on the restarted worker with its seed
        assert any(t.metadata.get("requeued") for t in got.trajectories)
    finally:
        local.close()
        distributed.close()


def test_async_rollouts_carry_their_version_and_respect_the_staleness_bound(policy) -> None:
    config = ray_config(mode="async")
    tasks = generate_tasks(6, seed=5, task_set="mixed")
    with Rollouts(config, build_encoder(config.env)) as rollouts:
        assert rollouts.asynchronous

        def agent():
            return policy_agent(policy, config, temperature=1.0, env_steps=0)

        first, stats = rollouts.online(0, policy, agent, tasks, list(range(300, 306)), env_steps=0)
        assert [t.metadata["policy_version"] for t in first] == [0] * 6
        assert stats["policy_staleness_max"] == 0 and len(first) == 6
        rollouts.prefetch(1, policy, tasks, list(range(306, 312)), env_steps=6)  # then the trainer updates
        second, stats = rollouts.online(1, policy, agent, tasks, list(range(306, 312)), env_steps=6)
        assert [t.seed for t in second] == list(range(306, 312))
        assert {t.metadata["policy_version"] for t in second} == {0}
        assert {t.metadata["policy_staleness"] for t in second} == {1} == {stats["policy_staleness_max"]}
        assert all(t.metadata["policy_staleness"] <= config.rollout.max_staleness for t in first + second)
        assert {t.metadata["rollout_worker"] for t in second} == {0, 1}
    buffer = ReplayBuffer(1000)
    assert buffer.add_fresh(second, max_staleness=1) == 0 and len(buffer) == 6
    assert buffer.add_fresh(second, max_staleness=0) == 6 and len(buffer) == 6  # staler than allowed


def test_async_needs_a_staleness_of_at_least_one() -> None:
    config = ray_config(mode="async")
    config.rollout.max_staleness = 0
    with pytest.raises(ConfigError, match="rollout.max_staleness"):
        check_run_config(config)


def test_an_async_batch_whose_worker_dies_goes_to_another_worker(policy) -> None:
    config = ray_config(mode="async", latency=0.3)
    config.agent.constrained_decoding = True  # valid actions: episodes run for seconds, not one step
    tasks = generate_tasks(4, seed=6, task_set="webshop")
    with Rollouts(config, build_encoder(config.env)) as rollouts:
        engine = rollouts.engine
        engine.publish(policy, 0)
        pending = engine.submit(tasks, list(range(400, 404)), version=0, env_steps=0, temperature=1.0)
        time.sleep(1.0)  # the workers are running their batches
        ray.kill(engine.workers.actors[0], no_restart=False)
        result = engine.take(pending, current_version=0)
        assert [t.seed for t in result.trajectories] == list(range(400, 404))
        assert result.stats.pool["workers_lost"] == 1 and result.stats.pool["episodes_requeued"] == 2
        assert {t.metadata["rollout_worker"] for t in result.trajectories} == {1}  # worker 0's batch went to 1
