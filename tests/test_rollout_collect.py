"""Rollouts on the simulated phone: transitions, features, returns, screenshots, recordings and determinism."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pytest
from PIL import Image, ImageChops

from coso.actions import build_prompt
from coso.env.base import Observation, PhoneEnv
from coso.env.sim.expert import ExpertPolicy, NoiseConfig
from coso.env.features import PixelProjectionEncoder
from coso.env.sim.judge import RuleJudge
from coso.env.pool import EnvPool
from coso.env.recording import EpisodeRecorder
from coso.env.sim import SimConfig, SimPhone
from coso.env.task_generator import generate_tasks
from coso.env.tasks import Task
from coso.errors import UserInputError
from coso.rollout import Agent, RolloutResult, collect_trajectories

GAMMA = 0.5


def sim_env(slot: int) -> PhoneEnv:
    phone = SimPhone(SimConfig())
    return PhoneEnv(phone, RuleJudge(phone))


class GarbleEveryThirdStep:
    """An agent that follows the expert but writes unparseable text at step 2 of episodes with odd seeds."""

    def __init__(self) -> None:
        self.expert = ExpertPolicy()

    def act(self, observations: Sequence[Observation], tasks: Sequence[Task]) -> list[str]:
        texts = self.expert.act(observations, tasks)
        return [
            "Action Plan: [] ; I am not sure" if obs.step == 2 and obs.state.seed % 2 else text
            for obs, text in zip(observations, texts)
        ]


@pytest.fixture(scope="module")
def tasks() -> list[Task]:
    return generate_tasks(6, seed=3, task_set="mixed")


def run(tasks: list[Task], agent: Agent, num_envs: int = 3, **kwargs) -> RolloutResult:
    with EnvPool(sim_env, num_envs, step_timeout_s=30, reset_timeout_s=30) as pool:
        return collect_trajectories(
            pool, agent, tasks, PixelProjectionEncoder(), seeds=kwargs.pop("seeds", 100), gamma=GAMMA,
            progress=False, **kwargs,
        )


@pytest.fixture(scope="module")
def expert_rollout(tasks) -> RolloutResult:
    return run(tasks, ExpertPolicy())


def test_expert_rollout_builds_consistent_transitions(tasks, expert_rollout) -> None:
    result = expert_rollout
    assert [t.task for t in result.trajectories] == [task.text for task in tasks]
    assert [t.seed for t in result.trajectories] == [100 + i for i in range(len(tasks))]
    assert result.stats.episodes == len(tasks)
    assert result.stats.success_rate == 1.0  # the noiseless expert solves generated tasks
    for trajectory in result.trajectories:
        transitions = trajectory.transitions
        assert transitions and transitions[-1].done and not any(t.done for t in transitions[:-1])
        assert transitions[-1].reward == 1.0 and trajectory.success and not trajectory.env_failed
        assert transitions[0].prompt == build_prompt(trajectory.task, None)
        previous_action = None
        for step, transition in enumerate(transitions):
            assert transition.step == step and transition.valid_action
            assert transition.prompt == build_prompt(trajectory.task, previous_action)
            assert transition.next_prompt == build_prompt(trajectory.task, transition.action)
            previous_action = transition.action
            assert transition.image_features.shape == (512,) and transition.image_features.dtype == np.float32
            current, following = transition.image_features[256:], transition.next_image_features[256:]
            np.testing.assert_array_equal(transition.next_image_features[:256], current)
            assert not np.array_equal(current, following) or transition.action.find("TASK_COMPLETE") >= 0
        np.testing.assert_array_equal(transitions[0].image_features[:256], transitions[0].image_features[256:])
        for before, after in zip(transitions, transitions[1:]):
            np.testing.assert_array_equal(before.next_image_features, after.image_features)
            assert before.next_prompt == after.prompt
        expected_returns = [GAMMA ** (len(transitions) - 1 - k) for k in range(len(transitions))]
        np.testing.assert_allclose([t.mc_return for t in transitions], expected_returns, rtol=1e-6)
    stats = result.stats
    assert stats.env_steps == sum(len(t) for t in result.trajectories) == stats.pool["steps"]
    assert stats.env_failures == 0 and stats.invalid_actions == 0 and stats.wall_seconds > 0
    assert stats.as_dict()["rollout/success_rate"] == 1.0 and "rollout/pool/steps" in stats.as_dict()


def test_rollouts_are_deterministic_and_independent_of_pool_size(tasks, expert_rollout) -> None:
    noisy = ExpertPolicy(NoiseConfig.from_level(0.5), seed=7)
    first, second, serial = run(tasks, noisy), run(tasks, noisy), run(tasks, noisy, num_envs=1)
    for other in (second, serial):
        for a, b in zip(first.trajectories, other.trajectories, strict=True):
            assert [t.action for t in a.transitions] == [t.action for t in b.transitions]
            assert [t.reward for t in a.transitions] == [t.reward for t in b.transitions]
            for x, y in zip(a.transitions, b.transitions):
                np.testing.assert_array_equal(x.image_features, y.image_features)
                np.testing.assert_array_equal(x.next_image_features, y.next_image_features)
    assert first.stats.success_rate < 1.0  # the noise is visible in the outcome
    assert [len(t) for t in first.trajectories] != [len(t) for t in expert_rollout.trajectories]


def test_invalid_text_ends_the_episode_and_is_marked(tasks) -> None:
    result = run(tasks, GarbleEveryThirdStep(), seeds=[11, 12, 13, 14, 15, 16])
    garbled = [t for t in result.trajectories if t.seed % 2 and len(t) == 3 and not t.transitions[-1].valid_action]
    assert garbled, "some odd-seed episode should have reached step 2"
    for trajectory in garbled:
        last = trajectory.transitions[-1]
        assert last.done and last.reward == 0.0 and not trajectory.success
        assert all(t.valid_action for t in trajectory.transitions[:-1])
        assert all(t.mc_return == 0.0 for t in trajectory.transitions)
    assert result.stats.invalid_actions == len(garbled)


def test_screenshots_and_recordings_are_written(tmp_path: Path, tasks) -> None:
    shots, videos = tmp_path / "shots", tmp_path / "videos"
    result = run(tasks[:2], ExpertPolicy(), num_envs=2, screenshot_dir=shots, recorder=EpisodeRecorder(videos))
    for trajectory in result.trajectories:
        for transition in trajectory.transitions:
            assert not Path(transition.screenshot_path).is_absolute()
            assert (shots / transition.screenshot_path).is_file()
            assert (shots / transition.next_screenshot_path).is_file()
        for before, after in zip(trajectory.transitions, trajectory.transitions[1:]):
            assert before.next_screenshot_path == after.screenshot_path
    # The saved first screen is exactly what the phone showed.
    phone = SimPhone(SimConfig())
    phone.reset(100)
    saved = Image.open(shots / result.trajectories[0].transitions[0].screenshot_path).convert("RGB")
    assert ImageChops.difference(saved, phone.screenshot()).getbbox() is None
    gifs = sorted(videos.glob("*.gif"))
    assert [p.name for p in gifs] == ["episode_00000.gif", "episode_00001.gif"]
    with Image.open(gifs[0]) as gif:
        assert gif.n_frames == len(result.trajectories[0]) + 1


def test_bad_arguments_are_user_errors(tasks) -> None:
    with EnvPool(sim_env, 1) as pool:
        with pytest.raises(UserInputError, match="2 seeds for 3 tasks"):
            collect_trajectories(pool, ExpertPolicy(), tasks[:3], PixelProjectionEncoder(), seeds=[1, 2], gamma=0.5)
        with pytest.raises(UserInputError, match="gamma"):
            collect_trajectories(pool, ExpertPolicy(), tasks[:1], PixelProjectionEncoder(), seeds=0, gamma=1.5)
