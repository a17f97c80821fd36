"""Gym Cards (coso.env.gym_cards): RL4VLM's rules and rewards, the answer grammar, the experts, gymnasium, and
the domain layer the pool, the rollout and the causal model see."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coso.config import RunConfig
from coso.env.domains import DOMAINS, domain_of
from coso.env.gym_cards.env import CardsEnv, build_game, cards_task
from coso.env.gym_cards.expert import PLANNERS, CardsExpert, basic_strategy
from coso.env.gym_cards.grammar import CardsGrammar, format_answer, parse_answer
from coso.env.gym_cards.rules import (
    GAMES,
    Blackjack,
    BlackjackState,
    Card,
    FormulaState,
    NumberLineState,
    card_value,
    evaluate_formula,
    hand_total,
    solve_24,
)
from coso.models.causal import action_type_labels

GAME_NAMES = ("numberline", "ezpoints", "points24", "blackjack")


def play(env: CardsEnv, expert: CardsExpert, seed: int):
    """One expert episode; its last StepResult and the number of steps."""
    observation = env.reset(cards_task(env.game), seed)
    steps = 0
    while True:
        result = env.step(expert.act_one(observation))
        steps += 1
        observation = result.observation
        if result.done:
            return result, steps


# ------------------------------------------------------------------------------------------------- rules


def test_every_game_is_registered_with_an_expert_and_the_domain_is_registered() -> None:
    assert set(GAMES) == set(GAME_NAMES) == set(PLANNERS)
    domain_of(RunConfig().env)  # importing the factory registers the built-in domains
    assert {"phone", "gym_cards"} <= set(DOMAINS)


def test_number_line_rewards_follow_rl4vlm() -> None:
    game = build_game("numberline")
    state = NumberLineState(current=2, target=4, max_position=5)
    assert game.apply(state, "-").reward == -1.0 and state.current == 1  # away from the target
    assert game.apply(state, "+").reward == 0.0  # closer, not there
    assert game.apply(state, "+").reward == 0.0
    reached = game.apply(state, "+")
    assert (reached.reward, reached.done, reached.success) == (1.0, True, True)
    edge = NumberLineState(current=0, target=3, max_position=5)
    assert game.apply(edge, "-").reward == -1.0 and edge.current == 0  # the line ends at 0: not closer
    assert game.max_steps() == 10


def test_number_line_deals_start_and_target_apart_and_a_seed_is_a_deal() -> None:
    game = build_game("numberline")
    deals = [game.deal(random.Random(seed)) for seed in range(300)]
    assert all(d.current != d.target and 0 <= d.current <= 5 and 0 <= d.target <= 5 for d in deals)
    assert game.deal(random.Random(7)) == game.deal(random.Random(7))
    assert len({(d.current, d.target) for d in deals}) == 30  # every ordered pair of distinct positions


def test_formula_rewards_follow_rl4vlm() -> None:
    game = build_game("ezpoints")
    state = FormulaState([Card(5, "hearts"), Card(7, "spades")])
    assert game.apply(state, "9").reward == -1.0 and state.formula == [" "]  # no such card: a blank is written
    state = FormulaState([Card(5, "hearts"), Card(7, "spades")])
    for unit in ("5", "+", "7"):
        assert game.apply(state, unit).reward == 0.0
    assert game.apply(state, "5").reward == -1.0  # the 5 is used already
    state.formula = ["5", "+", "7"]
    solved = game.apply(state, "=")
    assert (solved.reward, solved.done, solved.success) == (10.0, True, True)
    half = FormulaState([Card(12, "hearts"), Card(2, "clubs")])  # a queen counts 10
    for unit in ("10", "+"):
        game.apply(half, unit)
    wrong = game.apply(half, "=")
    assert (wrong.reward, wrong.done, wrong.success) == (-1.0, True, False)
    long = FormulaState([Card(5, "hearts"), Card(7, "spades")])
    outcomes = [game.apply(long, unit) for unit in ("(", "(", "(", "(", "(", "(")]
    assert outcomes[-1].done and outcomes[-1].reward == -1.0 and not any(o.done for o in outcomes[:-1])


def test_points24_needs_every_card_and_evaluates_exactly() -> None:
    game = build_game("points24")
    state = FormulaState([Card(3, "hearts"), Card(8, "spades"), Card(3, "clubs"), Card(8, "diamonds")])
    for unit in ["8", "/", "(", "3", "-", "8", "/", "3", ")"]:
        assert not game.apply(state, unit).done
    assert game.apply(state, "=").success  # 8 / (3 - 8/3) = 24 needs fractions
    assert evaluate_formula(["1", "/", "(", "1", "-", "1", ")"]) is None  # division by zero
    assert evaluate_formula(["(", "2"]) is None and evaluate_formula(["2", "2"]) is None
    unused = FormulaState([Card(6, "hearts"), Card(4, "spades"), Card(1, "clubs"), Card(1, "diamonds")])
    for unit in ["6", "*", "4"]:
        game.apply(unused, unit)
    assert not game.apply(unused, "=").success  # 24, but two cards unused


def test_points24_deals_only_solvable_hands() -> None:
    game = build_game("points24")
    for seed in range(40):
        state = game.deal(random.Random(seed))
        solution = solve_24(state.numbers)
        assert solution is not None and evaluate_formula(solution) == 24
        assert sorted(int(u) for u in solution if u.isdigit()) == sorted(state.numbers)
    assert solve_24([1, 1, 1, 1]) is None


def test_blackjack_totals_and_outcomes() -> None:
    assert hand_total([1, 6]) == (17, True) and hand_total([1, 6, 10]) == (17, False)
    assert hand_total([1, 1, 9]) == (21, True) and hand_total([13, 12]) == (20, False)
    game = Blackjack()
    state = BlackjackState([Card(10, "hearts"), Card(9, "spades")], [Card(10, "clubs"), Card(8, "hearts")],
                           random.Random(0))
    win = game.apply(state, "stand")
    assert (win.reward, win.success) == (1.0, True)
    push = game.apply(BlackjackState([Card(10, "h"), Card(8, "s")], [Card(10, "c"), Card(8, "h")],
                                     random.Random(0)), "stand")
    assert (push.reward, push.success, push.reason) == (0.0, False, "draw")
    bust_state = BlackjackState([Card(10, "h"), Card(9, "s"), Card(5, "d")], [Card(10, "c"), Card(7, "h")],
                                random.Random(0))
    assert game._stand(bust_state).reward == -1.0  # 24 against 17: the player is over
    assert basic_strategy(16, False, 10) == "hit" and basic_strategy(16, False, 6) == "stand"
    assert basic_strategy(12, False, 3) == "hit" and basic_strategy(18, True, 9) == "hit"


# ------------------------------------------------------------------------------------------------- experts


@pytest.mark.parametrize("name, episodes", [("numberline", 200), ("ezpoints", 200), ("points24", 60)])
def test_the_expert_solves_at_least_95_percent(name: str, episodes: int) -> None:
    game = build_game(name)
    env, expert = CardsEnv(game), CardsExpert(name, game.actions)
    solved = 0
    for seed in range(episodes):
        result, steps = play(env, expert, 10_000 + seed)
        solved += int(result.success)
        assert steps <= game.max_steps()
    assert solved / episodes >= 0.95


def test_blackjack_basic_strategy_wins_about_42_percent() -> None:
    """The hit/stand basic strategy wins ~42-43% of hands (measured on the rules, 20,000 hands)."""
    game = Blackjack()
    planner = PLANNERS.get("blackjack")
    wins = hands = 0
    for seed in range(20_000):
        state = game.deal(random.Random(seed))
        while True:
            outcome = game.apply(state, planner(state)[0])
            if outcome.done:
                break
        wins += int(outcome.success)
        hands += 1
    assert 0.41 <= wins / hands <= 0.45, wins / hands


def test_blackjack_expert_through_the_environment_matches_the_rules() -> None:
    game = build_game("blackjack")
    env, expert = CardsEnv(game), CardsExpert("blackjack", game.actions)
    for seed in range(30):
        result, _ = play(env, expert, seed)
        state = game.deal(random.Random(seed))
        while not (outcome := game.apply(state, PLANNERS.get("blackjack")(state)[0])).done:
            pass
        assert result.success == outcome.success and result.info["game_reward"] == outcome.reward


def test_a_noisy_expert_is_worse_and_seeded() -> None:
    game = build_game("numberline")
    env = CardsEnv(game)
    answers = [CardsExpert("numberline", game.actions, noise=1.0, seed=3).act_one(env.reset(cards_task(game), 0))
               for _ in range(2)]
    assert answers[0] == answers[1]
    noisy = CardsExpert("numberline", game.actions, noise=0.8, seed=1)
    assert sum(play(env, noisy, seed)[1] for seed in range(50)) > sum(
        play(env, CardsExpert("numberline", game.actions), seed)[1] for seed in range(50))


# ------------------------------------------------------------------------------------------------- grammar


def test_answers_round_trip_and_loose_json_is_read() -> None:
    for name in GAME_NAMES:
        actions = build_game(name).actions
        for action in actions:
            assert parse_answer(format_answer(action, 'a "quoted" thought'), actions).action == action
    assert parse_answer('thoughts: go right. "action" : " + " trailing', ("+", "-")).action == "+"
    assert parse_answer('{"action": "HIT"}', ("stand", "hit")).action == "hit"
    assert parse_answer('{"action": "x", "action": "+"}', ("+", "-")).action is None  # the first one counts
    for bad in ["", "+", '{"action": +}', '{"action": "', '{"action": "up"}', None, 3, "x" * 9000]:
        answer = parse_answer(bad, ("+", "-"))
        assert answer.action is None and answer.reason


def test_causal_labels_are_the_games_actions() -> None:
    grammar = CardsGrammar("ezpoints", build_game("ezpoints").actions)
    assert grammar.action_classes[:-1] == build_game("ezpoints").actions
    texts = [format_answer("7"), format_answer("="), "garbage"]
    labels = action_type_labels(texts, grammar)
    assert labels.labels.tolist() == [6, 12, grammar.unparseable_class] and labels.valid.tolist() == [True, True,
                                                                                                     False]
    config = RunConfig()
    config.env.domain = "gym_cards"
    config.env.gym_cards.game = "blackjack"
    assert domain_of(config.env).grammar(config.env).action_classes == ("stand", "hit", "<invalid>")


TEXT = st.one_of(
    st.text(max_size=200),
    st.builds(lambda a, pre, post: pre + format_answer(a, pre) + post,
              st.sampled_from(build_game("points24").actions + ("hit", "stand", "-", "?")),
              st.text(max_size=30), st.text(max_size=30)),
    st.builds(lambda value: '{"thoughts": "", "action": ' + value + "}", st.text(max_size=20)),
)


@pytest.mark.parametrize("name", GAME_NAMES)
@settings(max_examples=40, deadline=None)
@given(texts=st.lists(TEXT, min_size=1, max_size=20), seed=st.integers(0, 2 ** 32 - 1),
       mode=st.sampled_from(["penalize", "terminate"]), reward=st.sampled_from(["success", "game"]))
def test_fuzzed_answers_never_make_a_step_raise(name: str, texts: list[str], seed: int, mode: str,
                                                reward: str) -> None:
    game = build_game(name)
    env = CardsEnv(game, reward=reward, invalid_action=mode, invalid_action_penalty=0.5)
    env.reset(cards_task(game), seed)
    for index, text in enumerate(texts):
        result = env.step(text)
        assert result.parsed.valid == (parse_answer(text, game.actions).action is not None)
        assert index + 1 <= game.max_steps() and np.isfinite(result.reward)
        if not result.parsed.valid:
            assert result.info["invalid_reason"]
            assert result.reward == (-1.0 if reward == "game" else (0.0 if mode == "terminate" else -0.5)) or \
                result.done
        if result.done:
            break


# ------------------------------------------------------------------------------------------------- the env


def test_the_environment_observes_image_text_and_prompt() -> None:
    game = build_game("ezpoints")
    env = CardsEnv(game)
    observation = env.reset(cards_task(game), 5)
    state = game.deal(random.Random(5))
    assert observation.screenshot.size == (224, 224) and observation.screenshot.mode == "RGB"
    assert game.describe(state) in observation.prompt and observation.prompt.endswith("</s>")
    assert observation.state == state and observation.state is not env.state  # a copy: the expert cannot cheat
    first = game.actions.index(str(state.numbers[0]))
    result = env.step(format_answer(game.actions[first]))
    assert "Previous action: " + game.actions[first] in result.observation.prompt
    assert np.asarray(result.observation.screenshot).std() > 0


def test_success_reward_is_one_on_the_solving_step_and_game_reward_is_rl4vlm() -> None:
    game = build_game("numberline")
    for mode, expected in (("success", [0.0, 0.0, 1.0]), ("game", [-1.0, 0.0, 1.0])):
        env = CardsEnv(game, reward=mode)
        env.reset(cards_task(game), 0)
        env.state.current, env.state.target = 2, 3
        results = [env.step(format_answer(action)) for action in ("-", "+", "+")]
        assert [r.reward for r in results] == expected
        assert [r.info["game_reward"] for r in results] == [-1.0, 0.0, 1.0]
        assert [r.success for r in results] == [False, False, True] and results[-1].done


def test_gymnasium_api() -> None:
    pytest.importorskip("gymnasium")
    from gymnasium.utils.env_checker import check_env

    from coso.env.gym_cards.gym_env import make_gym_cards

    for name in GAME_NAMES:
        env = make_gym_cards(name)
        check_env(env, skip_render_check=True)
        image, info = env.reset(seed=11)
        cards = CardsEnv(build_game(name))
        assert info["text"] in cards.reset(cards_task(cards.game), 11).prompt  # the same deal for a seed
        assert image.shape == (224, 224, 3) and image.dtype == np.uint8
        _, reward, terminated, truncated, _ = env.step(0)
        assert isinstance(reward, float) and isinstance(terminated, bool) and isinstance(truncated, bool)


def test_card_values_follow_rl4vlm() -> None:
    assert [card_value(r) for r in (1, 9, 10, 11, 12, 13)] == [1, 9, 10, 10, 10, 10]
