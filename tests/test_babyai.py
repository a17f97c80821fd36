"""BabyAI (coso.env.babyai): the levels through minigrid, the action-word grammar, minigrid's bot as the expert,
the rewards and the invalid-action rule, and the domain layer the pool, the rollout and the causal model see."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from minigrid.core.world_object import Ball, Door

from coso.config import BabyAILevel, RunConfig
from coso.env.babyai.env import LEVELS, BabyAIEnv, babyai_task, describe_view
from coso.env.babyai.expert import BabyAIExpert
from coso.env.babyai.grammar import ACTIONS, BabyAIGrammar, format_answer, parse_answer
from coso.env.domains import DOMAINS, domain_of
from coso.errors import ConfigError
from coso.models.causal import action_type_labels

LEVEL_NAMES = tuple(LEVELS)
# the expert's success is measured on 200 seeds per level (docs/domains.md); the suite replays a part of them
EXPERT_SEEDS = {"gotolocal": 100, "pickuploc": 100, "opendoor": 100, "open": 40, "putnextlocal": 100}


def play(env: BabyAIEnv, expert: BabyAIExpert, seed: int):
    """One expert episode; its last StepResult and the number of steps."""
    observation = env.reset(babyai_task(env.level), seed)
    steps = 0
    while True:
        result = env.step(expert.act_one(observation))
        steps += 1
        observation = result.observation
        if result.done:
            return result, steps


# ------------------------------------------------------------------------------------------------- levels


def test_every_level_is_a_registered_minigrid_level_and_the_domain_is_registered() -> None:
    assert set(LEVELS) == set(BabyAILevel.values())
    registered = set(gymnasium.registry)
    for level in (LEVELS.get(name) for name in LEVELS):
        assert level.env_id in registered, level.env_id
    assert {LEVELS.get(name).family for name in LEVELS} >= {"goto", "pickup", "open", "putnext"}
    config = RunConfig()
    config.env.domain = "babyai"
    assert domain_of(config.env).name == "babyai" and {"phone", "gym_cards", "babyai"} <= set(DOMAINS)


def test_a_seed_is_a_layout_and_a_mission() -> None:
    env = BabyAIEnv(LEVELS.get("gotolocal"))
    task = babyai_task(env.level)
    first = env.reset(task, 7)
    again = env.reset(task, 7)
    assert first.prompt == again.prompt and np.array_equal(np.asarray(first.screenshot), np.asarray(again.screenshot))
    missions = {env.reset(task, seed).task for seed in range(30)}
    assert len(missions) > 5 and all(mission.startswith("go to ") for mission in missions)


def test_minigrid_rejection_sampling_stays_off_stdout(capsys) -> None:
    env = BabyAIEnv(LEVELS.get("gotolocal"))
    env.reset(babyai_task(env.level), 8)  # minigrid rejects a layout of seed 8 and prints why
    assert capsys.readouterr().out == ""


def test_a_task_of_another_level_is_refused() -> None:
    env = BabyAIEnv(LEVELS.get("gotolocal"))
    with pytest.raises(ConfigError, match="env.babyai.level"):
        env.reset(babyai_task(LEVELS.get("open")), 0)
    with pytest.raises(ConfigError, match="env.babyai.reward"):
        BabyAIEnv(LEVELS.get("open"), reward="shaped")


# ------------------------------------------------------------------------------------------------- expert


@pytest.mark.parametrize("name", LEVEL_NAMES)
def test_the_expert_solves_at_least_95_percent(name: str) -> None:
    env, expert = BabyAIEnv(LEVELS.get(name)), BabyAIExpert()
    episodes = EXPERT_SEEDS[name]
    solved = 0
    for seed in range(episodes):
        result, steps = play(env, expert, 10_000 + seed)
        solved += int(result.success)
        assert steps <= env.horizon
        if result.success:
            assert 0 < result.info["game_reward"] <= 1 and result.reward == 1.0
    assert solved / episodes >= 0.95, solved / episodes


def test_a_noisy_expert_is_worse_and_seeded_and_the_bot_replans_after_its_mistakes() -> None:
    env = BabyAIEnv(LEVELS.get("gotolocal"))
    observation = env.reset(babyai_task(env.level), 0)
    answers = [BabyAIExpert(noise=1.0, seed=3).act_one(observation) for _ in range(2)]
    assert answers[0] == answers[1] and answers[0] in ACTIONS
    clean = [play(env, BabyAIExpert(), seed)[1] for seed in range(40)]
    noisy_results = [play(env, BabyAIExpert(noise=0.3, seed=1), seed) for seed in range(40)]
    assert sum(steps for _, steps in noisy_results) > sum(clean)
    assert sum(result.success for result, _ in noisy_results) >= 36  # advising mode undoes the random actions


def test_the_expert_refuses_observations_without_the_level_state() -> None:
    env = BabyAIEnv(LEVELS.get("gotolocal"))
    observation = env.reset(babyai_task(env.level), 0)
    from dataclasses import replace

    with pytest.raises(ConfigError, match="env.domain=babyai"):
        BabyAIExpert().act_one(replace(observation, state=None))


# ------------------------------------------------------------------------------------------------- grammar


def test_answers_round_trip_and_loose_spellings_are_read() -> None:
    for action in ACTIONS:
        assert parse_answer(format_answer(action)).action == action
        assert parse_answer(f"  {action.upper()}.\n").action == action
    assert parse_answer("Turn  Left").action == "left" and parse_answer("pick up").action == "pickup"
    assert parse_answer("move forward!").action == "forward"
    for bad in ["", "go", "left right", "forwards", '{"action": "left"}', None, 3, "x" * 9000]:
        answer = parse_answer(bad)
        assert answer.action is None and answer.reason and answer.index is None
    with pytest.raises(ValueError):
        format_answer("jump")


def test_causal_labels_are_the_seven_actions_and_an_invalid_class() -> None:
    grammar = BabyAIGrammar()
    assert grammar.action_classes == ACTIONS + ("<invalid>",) and grammar.unparseable_class == 7
    assert ACTIONS == ("left", "right", "forward", "pickup", "drop", "toggle", "done")  # minigrid's Actions order
    labels = action_type_labels(["forward", "toggle", "garbage", "DONE"], grammar)
    assert labels.labels.tolist() == [2, 5, 7, 6] and labels.valid.tolist() == [True, True, False, True]
    config = RunConfig()
    config.env.domain = "babyai"
    assert domain_of(config.env).grammar(config.env).action_classes[-1] == "<invalid>"


TEXT = st.one_of(
    st.text(max_size=60),
    st.builds(lambda a, pre, post: pre + a + post, st.sampled_from(ACTIONS + ("turn left", "pick up", "jump")),
              st.sampled_from(["", " ", "\n", "x", "the "]), st.sampled_from(["", ".", "!", " now", "\t"])),
)


@pytest.mark.parametrize("name", LEVEL_NAMES)
@settings(max_examples=25, deadline=None)
@given(texts=st.lists(TEXT, min_size=1, max_size=25), seed=st.integers(0, 2 ** 64 - 1),
       mode=st.sampled_from(["penalize", "terminate"]), reward=st.sampled_from(["success", "game"]))
def test_fuzzed_answers_never_make_a_step_raise(name: str, texts: list[str], seed: int, mode: str,
                                                reward: str) -> None:
    env = BabyAIEnv(LEVELS.get(name), reward=reward, invalid_action=mode, invalid_action_penalty=0.5)
    env.reset(babyai_task(env.level), seed)
    for text in texts:
        result = env.step(text)
        assert result.parsed.valid == (parse_answer(text).action is not None) and np.isfinite(result.reward)
        assert result.observation.screenshot.size == (224, 224)
        if not result.parsed.valid:
            assert result.info["invalid_reason"]
            assert result.done if mode == "terminate" else result.reward == -0.5
        if result.done:
            break


# ------------------------------------------------------------------------------------------------- the env


def test_the_environment_observes_the_rendered_view_the_mission_and_a_text_of_the_view() -> None:
    env = BabyAIEnv(LEVELS.get("pickuploc"))
    observation = env.reset(babyai_task(env.level), 5)
    image = np.asarray(observation.screenshot)
    assert observation.screenshot.mode == "RGB" and image.shape == (224, 224, 3) and image.std() > 0
    expected = env.level_env.get_frame(highlight=True, tile_size=32, agent_pov=True)
    assert np.array_equal(image, expected)  # minigrid's own rendering of the partial view
    mission = env.level_env.mission
    assert observation.task == mission and observation.prompt.startswith(f"Goal: {mission} Observation: carrying ")
    assert observation.prompt.endswith("Previous action: None</s>")
    assert describe_view(env.level_env) in observation.prompt
    result = env.step("left")
    assert "Previous action: left</s>" in result.observation.prompt and result.observation.step == 1


def test_the_view_text_names_what_is_in_view_with_its_offsets() -> None:
    env = BabyAIEnv(LEVELS.get("gotolocal"))
    env.reset(babyai_task(env.level), 3)
    level = env.level_env
    for x in range(1, level.width - 1):  # an empty room, so the placed objects are the only things in view
        for y in range(1, level.height - 1):
            level.grid.set(x, y, None)
    level.agent_pos, level.agent_dir = (3, 5), 3  # facing up (north)
    level.grid.set(3, 4, Ball("red"))  # in front
    level.grid.set(2, 2, Ball("blue"))  # 3 ahead, 1 left
    level.grid.set(5, 3, Door("yellow", is_locked=True))  # 2 ahead, 2 right
    text = describe_view(level)
    assert text.startswith("carrying nothing; facing red ball; seeing red ball 1 ahead, ")
    assert "blue ball 3 ahead 1 left" in text and "yellow door (locked) 2 ahead 2 right" in text
    assert "wall" not in text


def test_success_reward_is_one_on_the_completing_step_and_game_reward_is_minigrids() -> None:
    for mode in ("success", "game"):
        env, expert = BabyAIEnv(LEVELS.get("gotolocal"), reward=mode), BabyAIExpert()
        rewards = []
        observation = env.reset(babyai_task(env.level), 11)
        while True:
            result = env.step(expert.act_one(observation))
            rewards.append(result.reward)
            observation = result.observation
            if result.done:
                break
        assert result.success and rewards[:-1] == [0.0] * (len(rewards) - 1)
        minigrid_reward = 1 - 0.9 * len(rewards) / env.level_env.max_steps
        assert result.info["game_reward"] == pytest.approx(minigrid_reward)
        assert rewards[-1] == (1.0 if mode == "success" else pytest.approx(minigrid_reward))


def test_an_invalid_answer_changes_nothing_under_penalize_and_ends_the_episode_under_terminate() -> None:
    env = BabyAIEnv(LEVELS.get("gotolocal"), invalid_action="penalize", invalid_action_penalty=0.25)
    env.reset(babyai_task(env.level), 2)
    before = (tuple(env.level_env.agent_pos), env.level_env.agent_dir, env.level_env.step_count, env.state())
    result = env.step("please go left")
    after = (tuple(env.level_env.agent_pos), env.level_env.agent_dir, env.level_env.step_count, env.state())
    assert before == after and result.reward == -0.25 and not result.done and env.steps == 1
    assert result.info["invalid_reason"] and result.observation.previous_action is None
    env = BabyAIEnv(LEVELS.get("gotolocal"), invalid_action="terminate")
    env.reset(babyai_task(env.level), 2)
    result = env.step("?")
    assert result.done and not result.success and result.reward == 0.0


def test_the_horizon_is_the_levels_limit_or_the_configured_cap() -> None:
    env = BabyAIEnv(LEVELS.get("gotolocal"), max_steps=3)
    env.reset(babyai_task(env.level), 0)
    assert env.level_env.max_steps == 64 and env.horizon == 3
    results = [env.step("wait") for _ in range(3)]  # invalid answers count towards the horizon too
    assert [r.done for r in results] == [False, False, True] and results[-1].info["timeout"]
    assert not results[-1].success
    with pytest.raises(RuntimeError):
        env.step("left")
    assert BabyAIEnv(LEVELS.get("putnextlocal")).reset(babyai_task(LEVELS.get("putnextlocal")), 0) is not None
    with pytest.raises(ConfigError, match="max_steps"):
        BabyAIEnv(LEVELS.get("gotolocal"), max_steps=-1)


def test_the_corpus_holds_prompts_and_every_action_word() -> None:
    config = RunConfig()
    config.env.domain = "babyai"
    config.env.babyai.level = "putnextlocal"
    texts = domain_of(config.env).corpus(config.env)
    assert set(ACTIONS) <= set(texts)
    assert any(text.startswith("Goal: put ") for text in texts)
