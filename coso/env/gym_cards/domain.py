"""The Gym Cards domain: one game per run (``env.gym_cards.game``), registered in ``coso.env.domains``."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from coso.config import EnvConfig
from coso.env.domains import Domain, EnvFactory, register_domain
from coso.env.gym_cards.env import CardsEnv, build_game, cards_prompt, cards_task
from coso.env.gym_cards.expert import CardsExpert
from coso.env.gym_cards.grammar import CardsGrammar, format_answer
from coso.env.tasks import Task

if TYPE_CHECKING:
    from coso.config import RunConfig

CORPUS_EPISODES = 200  # expert episodes whose prompts and answers teach the in-process tokenizer the domain


def _game(env: EnvConfig):
    return build_game(str(env.gym_cards.game), env.gym_cards.max_position)


def _grammar(env: EnvConfig) -> CardsGrammar:
    game = _game(env)
    return CardsGrammar(game.name, game.actions)


def _env_factory(env: EnvConfig, seed: int) -> EnvFactory:
    def make(slot: int) -> CardsEnv:
        return CardsEnv(_game(env), reward=str(env.gym_cards.reward), invalid_action=str(env.invalid_action),
                        invalid_action_penalty=env.invalid_action_penalty)

    return make


def _expert(env: EnvConfig, noise: float, seed: int) -> CardsExpert:
    game = _game(env)
    return CardsExpert(game.name, game.actions, noise, seed)


def _tasks(config: RunConfig) -> tuple[list[Task], list[Task]]:
    """The game's one task for training; the evaluation repeats it (each episode seed deals a new hand)."""
    task = cards_task(_game(config.env))
    return [task], [task] * config.train.eval_episodes


def _corpus(env: EnvConfig) -> list[str]:
    """Prompts and answers of noisy expert episodes (played on the rules, nothing rendered), and every action."""
    game = _game(env)
    expert = CardsExpert(game.name, game.actions, noise=0.3, seed=0)
    rng = random.Random(0)
    texts = [format_answer(action, "") for action in game.actions]
    for _ in range(CORPUS_EPISODES):
        state = game.deal(random.Random(rng.getrandbits(32)))
        previous: str | None = None
        for _ in range(game.max_steps()):
            texts.append(cards_prompt(game.instruction, game.describe(state), previous))
            action, thoughts = expert.choose(state)
            texts.append(format_answer(action, thoughts))
            previous = action
            if game.apply(state, action).done:
                break
    return texts


GYM_CARDS = register_domain(Domain(
    name="gym_cards",
    grammar=_grammar,
    env_factory=_env_factory,
    expert=_expert,
    tasks=_tasks,
    collect_tasks=lambda config: _tasks(config)[0],
    corpus=_corpus,
))
