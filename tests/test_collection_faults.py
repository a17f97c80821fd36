"""Faults are counted: failed collection episodes reach metrics and summary, too little data stops the run,
and env.sim.faults is a typed config section (documented keys work without Hydra's `+`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from coso.cli import CONFIG_DIR
from coso.config import RunConfig
from coso.data.trajectory import Trajectory, Transition
from coso.env.sim import FaultConfig, SimConfig
from coso.errors import ConfigError, InsufficientDataError, TrainingError
from coso.training.collection import CollectionReport, check_collection
from tiny_run import TINY


def _transition() -> Transition:
    features = np.zeros(4, dtype=np.float32)
    return Transition(task="t", prompt="p", action="a", reward=0.0, done=False, image_features=features,
                      next_prompt="p", next_image_features=features)


def _trajectory(steps: int, failed: bool) -> Trajectory:
    return Trajectory([_transition() for _ in range(steps)], task="t", env_failed=failed)


def test_report_counts_failed_and_empty_episodes() -> None:
    trajectories = [_trajectory(3, False), _trajectory(2, True), _trajectory(0, True), _trajectory(0, False)]
    report = CollectionReport.of("offline_data", 5, trajectories)
    assert report.summary() == {"requested": 5, "episodes": 4, "env_failures": 2, "usable_episodes": 1,
                                "transitions": 5}
    metrics = report.metrics()
    assert metrics["offline_data/env_failures"] == 2.0 and metrics["offline_data/usable_fraction"] == 0.2


def test_too_few_usable_episodes_stop_with_a_clear_error() -> None:
    eight_failed = CollectionReport.of("offline_data", 8, [_trajectory(1, True)] * 7 + [_trajectory(1, False)])
    with pytest.raises(InsufficientDataError, match=r"offline_data: only 1 of 8 requested episodes are usable "
                                                    r"\(7 ended by a failed environment"):
        check_collection(eight_failed, 0.5)
    assert issubclass(InsufficientDataError, TrainingError)
    assert check_collection(eight_failed, 0.1) is eight_failed  # 1/8 >= 0.1
    with pytest.raises(InsufficientDataError):  # nothing usable is never enough, whatever the fraction
        check_collection(CollectionReport.of("sft_data", 4, [_trajectory(2, True)] * 4), 0.0)
    assert check_collection(CollectionReport.of("sft_data", 0, []), 0.5).episodes == 0
    with pytest.raises(ConfigError, match="min_usable_fraction"):
        check_collection(eight_failed, 1.5)


def _compose(overrides: list[str]) -> tuple[RunConfig, dict]:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        cfg = compose(config_name="digirl_offline", overrides=overrides)
    return OmegaConf.to_object(cfg), OmegaConf.to_container(cfg, resolve=True)


def test_sim_faults_keys_are_typed_and_need_no_plus() -> None:
    config, resolved = _compose(["env.sim.faults.error_prob=0.25", "env.sim.faults.hang_seconds=1",
                                 "env.sim.faults.corrupt_modes=[black]", "env.sim.width=540", "env.sim.height=960"])
    sim = SimConfig.from_mapping(config.env.sim)
    assert sim.faults == FaultConfig(error_prob=0.25, hang_seconds=1.0, corrupt_modes=("black",))
    assert (sim.width, sim.height) == (540, 960)
    assert resolved["env"]["sim"]["faults"]["error_prob"] == 0.25
    assert SimConfig.from_mapping(resolved["env"]["sim"]) == sim  # the plain dict a resolved config holds
    with pytest.raises(Exception, match="error_probability"):  # a mistyped key is still refused by Hydra
        _compose(["env.sim.faults.error_probability=0.25"])


def test_typed_defaults_equal_the_simulator_defaults() -> None:
    assert SimConfig.from_mapping(RunConfig().env.sim) == SimConfig()


def test_a_collection_with_failing_devices_is_counted_and_stops_the_run(tmp_path: Path) -> None:
    overrides = TINY + [f"save_path={tmp_path}", "train.eval_initial=false", "train.sft_steps=0",
                        "train.offline_episodes=6", "env.num_envs=2", "env.max_restarts=1000",
                        "env.sim.faults.error_prob=0.3", "train.min_usable_fraction=0.9"]
    config, resolved = _compose(overrides)
    from coso.training.loop import TrainingRun  # heavy import: only this test builds a run

    run = TrainingRun(config, resolved)
    with pytest.raises(InsufficientDataError, match="offline_data: only"):
        run.run()
    report = run.collections["offline_data"]
    assert report.requested == 6 and report.env_failures >= 1
    assert not (tmp_path / "offline_data").exists()  # not cached: the next attempt collects again
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    logged = [line for line in lines if "offline_data/env_failures" in line]
    assert logged and logged[-1]["offline_data/env_failures"] == report.env_failures
    assert run.summary()["data_collection"]["offline_data"]["env_failures"] == report.env_failures
