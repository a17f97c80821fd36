"""The scripted expert: it solves every goal family through PhoneEnv, writes valid AutoUI text, and its
noise is seeded and configurable."""

from __future__ import annotations

import pytest
from PIL import Image

from coso.actions import ActionType, parse_action
from coso.env.base import Observation, PhoneEnv
from coso.env.sim.expert import ExpertPolicy, NoiseConfig, plan_step
from coso.env.sim.judge import RuleJudge
from coso.env.sim import SimConfig, SimPhone
from coso.env.tasks import (
    AlarmGoal,
    AppSettingsGoal,
    ChromeTabGoal,
    InstallAppGoal,
    MapsGoal,
    NotificationsGoal,
    OpenAppGoal,
    SettingsPageGoal,
    Task,
    ToggleSettingGoal,
    WebSearchGoal,
    WebShopGoal,
    YouTubeGoal,
)
from coso.errors import ConfigError

TASKS = [
    Task("Go to newegg.com", WebShopGoal(site="newegg.com"), "webshop"),
    Task('Go to costco.com, search for "bose soundlink mini"', WebShopGoal(site="costco.com", query="bose soundlink mini"), "webshop"),
    Task('Go to ebay.com, search for "razer naga", and select the first entry',
         WebShopGoal(site="ebay.com", query="razer naga", select_first=True), "webshop"),
    Task("What's the weather like in Paris?", WebSearchGoal(query="weather in paris", keywords=("weather", "paris")), "general"),
    Task("Open the camera", OpenAppGoal(app="camera"), "general"),
    Task("Install the Starbucks app", InstallAppGoal(app="starbucks"), "general"),
    Task("Check the settings for the Netflix app", AppSettingsGoal(app="netflix"), "general"),
    Task("Open the display settings", SettingsPageGoal(page="display"), "general"),
    Task("Turn off wifi", ToggleSettingGoal(setting="wifi", state=False), "general"),
    Task("Toggle notifications for the Google Maps app", ToggleSettingGoal(setting="notifications", app="google maps"), "general"),
    Task("Play the new Drake video on YouTube", YouTubeGoal(query="drake"), "general"),
    Task("Search for coffee shops on Maps", MapsGoal(query="coffee shops"), "general"),
    Task("How do I get to the nearest IKEA?", MapsGoal(query="nearest ikea", directions=True), "general"),
    Task("Set an alarm for 6pm", AlarmGoal(hour=18, minute=0), "general"),
    Task("Open a new incognito tab in Chrome", ChromeTabGoal(incognito=True), "general"),
    Task("Show me my notifications", NotificationsGoal(), "general"),
]


def run_episode(env: PhoneEnv, expert: ExpertPolicy, task: Task, seed: int) -> tuple[bool, list[str]]:
    observation = env.reset(task, seed)
    texts: list[str] = []
    while True:
        text = expert.act([observation], [task])[0]
        texts.append(text)
        result = env.step(text)
        observation = result.observation
        if result.done:
            return result.success, texts


@pytest.mark.parametrize("difficulty", ["medium", "hard"])
def test_noise_free_expert_solves_every_goal_family_within_the_horizon(difficulty: str) -> None:
    phone = SimPhone(SimConfig(difficulty=difficulty))
    env = PhoneEnv(phone, RuleJudge(phone))
    expert = ExpertPolicy(NoiseConfig(), seed=0)
    for seed in range(3):
        for task in TASKS:
            success, texts = run_episode(env, expert, task, seed)
            assert success, (difficulty, seed, task.text, texts[-3:])
            assert len(texts) <= env.config.max_steps(task.task_set)


def test_action_texts_parse_and_plans_end_with_task_complete() -> None:
    phone = SimPhone(SimConfig(difficulty="hard"), seed=3)
    env = PhoneEnv(phone, RuleJudge(phone))
    _, texts = run_episode(env, ExpertPolicy(), TASKS[2], 3)
    types = []
    for text in texts:
        parsed = parse_action(text)
        assert parsed.valid, text
        assert parsed.plan[-1] == "STATUS_TASK_COMPLETE" and parsed.plan[0] == parsed.action.type.autoui_name
        types.append(parsed.action.type)
    assert {ActionType.DualPoint, ActionType.Type, ActionType.Enter} <= set(types)


def test_expert_says_complete_when_the_state_shows_the_goal_done() -> None:
    phone = SimPhone()
    phone.swipe(0.5, 0.01, 0.5, 0.6)
    assert plan_step(phone.state, NotificationsGoal()).action.type == ActionType.TaskComplete
    observation = Observation("Show me my notifications", phone.screenshot(), None, 0, phone.state)
    text = ExpertPolicy().act([observation], [TASKS[-1]])[0]
    assert parse_action(text).action.type == ActionType.TaskComplete


def test_expert_needs_the_simulator_state() -> None:
    observation = Observation("Open the camera", Image.new("RGB", (270, 480)), None, 0, None)
    with pytest.raises(ConfigError, match="simulated phone"):
        ExpertPolicy().act([observation], [TASKS[4]])


def test_batched_act_matches_single_calls_and_checks_lengths() -> None:
    phones = [SimPhone(SimConfig(difficulty="hard"), seed=seed) for seed in range(3)]
    observations = [Observation(task.text, p.screenshot(), None, 0, p.state) for p, task in zip(phones, TASKS)]
    expert = ExpertPolicy(NoiseConfig.from_level(0.5), seed=9)
    batch = expert.act(observations, TASKS[:3])
    assert batch == [expert.act([o], [t])[0] for o, t in zip(observations, TASKS[:3])]
    with pytest.raises(ValueError, match="observations"):
        expert.act(observations, TASKS[:2])


def test_noise_config_validation_and_levels() -> None:
    assert NoiseConfig.from_level(0.0).is_zero
    level = NoiseConfig.from_level(0.4)
    assert (level.random_action_prob, level.typo_prob, level.premature_complete_prob) == pytest.approx((0.2, 0.2, 0.04))
    with pytest.raises(ConfigError, match="noise level"):
        NoiseConfig.from_level(1.5)
    with pytest.raises(ConfigError, match="typo_prob"):
        NoiseConfig(typo_prob=-0.1)


def test_noise_is_seeded_and_makes_the_expert_worse() -> None:
    phone = SimPhone(SimConfig(difficulty="medium"))
    env = PhoneEnv(phone, RuleJudge(phone))

    def collect(noise: float, seed: int) -> tuple[int, list[list[str]]]:
        expert = ExpertPolicy(NoiseConfig.from_level(noise), seed=seed)
        wins, runs = 0, []
        for index, task in enumerate(TASKS * 2):
            success, texts = run_episode(env, expert, task, index)
            wins += success
            runs.append(texts)
        return wins, runs

    clean_wins, clean = collect(0.0, 0)
    noisy_wins, noisy = collect(0.8, 1)
    assert collect(0.8, 1)[1] == noisy  # same seed: same trajectories
    assert collect(0.8, 2)[1] != noisy
    assert clean_wins == len(TASKS) * 2 and noisy_wins < clean_wins
    typed = [parse_action(t).action.typed_text for run in noisy for t in run if '"TYPE"' in t]
    wanted = {"newegg.com", "costco.com", "bose soundlink mini", "ebay.com", "razer naga", "weather in paris",
              "starbucks", "netflix", "drake", "coffee shops", "nearest ikea"}
    assert any(text not in wanted for text in typed)  # typos or stray text
