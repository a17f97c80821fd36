"""The environment pool against the simulator's fault injection: crashes, hangs and corrupted screenshots.

Every faulty rollout is compared with a fault-free rollout of the same tasks and seeds: episodes whose
environment survived must be identical to it, failed ones a prefix of it, and the counters must add up.
"""

from __future__ import annotations

import time

import pytest
from PIL import Image

from coso.env.base import PhoneEnv
from coso.env.sim.expert import ExpertPolicy
from coso.env.features import PixelProjectionEncoder
from coso.env.sim.judge import RuleJudge
from coso.env.pool import EnvPool, screenshot_problem
from coso.env.sim import FaultConfig, SimConfig, SimPhone
from coso.env.task_generator import generate_tasks
from coso.env.tasks import Task
from coso.errors import ConfigError, DeviceError, TooManyRestartsError
from coso.rollout import RolloutResult, collect_trajectories

NUM_ENVS = 4
SEED = 0


def sim_factory(faults: FaultConfig = FaultConfig(), faulty_slots: set[int] | None = None):
    """Simulated phones with ``faults`` (on every slot, or only on ``faulty_slots``)."""

    def make(slot: int) -> PhoneEnv:
        slot_faults = faults if faulty_slots is None or slot in faulty_slots else FaultConfig()
        phone = SimPhone(SimConfig(faults=slot_faults))
        return PhoneEnv(phone, RuleJudge(phone))

    return make


def rollout(pool: EnvPool, tasks: list[Task]) -> RolloutResult:
    return collect_trajectories(
        pool, ExpertPolicy(), tasks, PixelProjectionEncoder(), seeds=SEED, gamma=0.5, progress=False
    )


@pytest.fixture(scope="module")
def tasks() -> list[Task]:
    return generate_tasks(8, seed=0, task_set="mixed")


@pytest.fixture(scope="module")
def reference(tasks: list[Task]) -> RolloutResult:
    with EnvPool(sim_factory(), NUM_ENVS, step_timeout_s=30, reset_timeout_s=30) as pool:
        result = rollout(pool, tasks)
    assert not any(t.env_failed for t in result.trajectories)
    return result


def _actions(trajectory) -> list[str]:
    return [transition.action for transition in trajectory.transitions]


def check_against_reference(result: RolloutResult, reference: RolloutResult) -> int:
    """Survivors equal the fault-free run, failures are a prefix of it; returns the number of failures."""
    failed = 0
    for got, expected in zip(result.trajectories, reference.trajectories, strict=True):
        assert got.task == expected.task and got.seed == expected.seed
        if got.env_failed:
            failed += 1
            assert not got.success
            assert _actions(got) == _actions(expected)[: len(got)]
            assert got.metadata["failed_step"] == len(got)
            assert all(not t.done for t in got.transitions)
        else:
            assert _actions(got) == _actions(expected)
            assert [t.reward for t in got.transitions] == [t.reward for t in expected.transitions]
            assert got.success == expected.success
            for a, b in zip(got.transitions, expected.transitions):
                assert (a.image_features == b.image_features).all()
    return failed


def check_counters(result: RolloutResult, failed: int) -> None:
    pool = result.stats.pool
    assert pool["failures"] == failed == result.stats.env_failures
    assert pool["restarts"] == failed
    assert pool["steps"] == sum(len(t) for t in result.trajectories) == result.stats.env_steps
    started = sum(1 for t in result.trajectories if not (t.env_failed and t.metadata["env_error"] == "reset failed"))
    assert pool["resets"] == started


def test_device_exceptions_fail_only_their_own_episodes(tasks, reference) -> None:
    with EnvPool(sim_factory(FaultConfig(error_prob=0.05)), NUM_ENVS, 5.0, 5.0, max_restarts=3) as pool:
        result = rollout(pool, tasks)
    failed = check_against_reference(result, reference)
    assert failed >= 2  # the seeded faults do strike (and other episodes finish)
    assert failed < len(tasks)
    check_counters(result, failed)
    assert result.stats.pool["timeouts"] == 0
    assert all("DeviceError" in t.metadata["env_error"] or t.metadata["env_error"] == "reset failed"
               for t in result.trajectories if t.env_failed)


def test_hung_devices_time_out_without_blocking_the_pool(tasks, reference) -> None:
    hang_seconds = 20.0
    faults = FaultConfig(hang_prob=0.03, hang_seconds=hang_seconds)
    started = time.monotonic()
    with EnvPool(sim_factory(faults), NUM_ENVS, step_timeout_s=0.3, reset_timeout_s=0.3, max_restarts=3) as pool:
        result = rollout(pool, tasks)
    wall = time.monotonic() - started
    failed = check_against_reference(result, reference)
    assert failed >= 1
    check_counters(result, failed)
    assert result.stats.pool["timeouts"] == failed
    assert wall < hang_seconds / 2, "the pool waited for a hung device"


def test_corrupted_screenshots_are_retaken(tasks, reference) -> None:
    with EnvPool(sim_factory(FaultConfig(corrupt_prob=0.3)), NUM_ENVS, 5.0, 5.0) as pool:
        result = rollout(pool, tasks)
    assert check_against_reference(result, reference) == 0
    assert result.stats.pool["corrupted_screenshots"] >= 5
    assert result.stats.pool["failures"] == 0


def test_screenshots_that_stay_corrupted_fail_the_device(tasks) -> None:
    faults = FaultConfig(corrupt_prob=1.0, corrupt_modes=("wrong_size",))
    with EnvPool(sim_factory(faults, faulty_slots={1}), 2, 5.0, 5.0, max_restarts=3, screenshot_retries=2) as pool:
        observations = pool.reset(tasks[:2], [0, 1])
        assert observations[0] is not None and observations[1] is None
        counters = pool.counters()
    assert counters["corrupted_screenshots"] == 3  # the first try and two retries
    assert counters["failures"] == 1 and counters["restarts"] == 1


def test_a_slot_that_always_fails_raises_too_many_restarts(tasks) -> None:
    faults = FaultConfig(error_prob=1.0)
    with EnvPool(sim_factory(faults, faulty_slots={0}), 2, 5.0, 5.0, max_restarts=2) as pool:
        with pytest.raises(TooManyRestartsError, match="environment 0 failed 3 times in a row"):
            rollout(pool, tasks)
        assert pool.counters()["failures"] == 3 and pool.counters()["restarts"] == 2


def test_a_factory_that_cannot_build_counts_as_a_failure(tasks) -> None:
    def broken(slot: int) -> PhoneEnv:
        raise DeviceError("emulator would not boot")

    with EnvPool(broken, 1, 5.0, 5.0, max_restarts=1) as pool:
        assert pool.reset(tasks[:1], [0]) == [None]
        with pytest.raises(TooManyRestartsError, match="emulator would not boot"):
            pool.reset(tasks[:1], [0])


def test_step_and_reset_bookkeeping(tasks) -> None:
    with EnvPool(sim_factory(), 3, 5.0, 5.0) as pool:
        observations = pool.reset(tasks[:2], [0, 1])
        assert len(observations) == 3 and observations[2] is None
        assert pool.running == [True, True, False]
        expert = ExpertPolicy()
        text = expert.act([observations[0]], [tasks[0]])[0]
        results = pool.step([text, None])
        assert results[1] is None and results[0] is not None and results[0].parsed.valid
        assert pool.counters()["steps"] == 1
        with pytest.raises(ValueError, match="environment 2 has no episode running"):
            pool.step([None, None, text])
        with pytest.raises(ValueError, match="seeds"):
            pool.reset(tasks[:2], [0])
    with pytest.raises(RuntimeError, match="closed"):
        pool.reset(tasks[:1], [0])
    with pytest.raises(ConfigError, match="num_envs"):
        EnvPool(sim_factory(), 0)


def test_screenshot_problem_names_blank_and_wrong_size_images() -> None:
    assert screenshot_problem(Image.new("RGB", (270, 480), (0, 0, 0)), (270, 480)).startswith("blank")
    half_size = Image.new("RGB", (135, 240), (9, 9, 9))
    assert screenshot_problem(half_size, (270, 480)).startswith("size 135x240 is smaller")
    assert screenshot_problem(SimPhone(SimConfig(width=270, height=540)).screenshot(), (270, 480)) == ""
    assert "not an image" in screenshot_problem(None, (270, 480))
    assert screenshot_problem(SimPhone().screenshot(), (270, 480)) == ""
