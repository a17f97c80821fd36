"""The BabyAI domain: one level per run (``env.babyai.level``), registered in ``coso.env.domains``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from coso.config import EnvConfig
from coso.env.babyai.env import LEVELS, BabyAIEnv, Level, babyai_task
from coso.env.babyai.expert import BabyAIExpert
from coso.env.babyai.grammar import ACTIONS, BabyAIGrammar, format_answer
from coso.env.domains import Domain, EnvFactory, register_domain
from coso.env.tasks import Task

if TYPE_CHECKING:
    from coso.config import RunConfig

CORPUS_EPISODES = 30  # noisy expert episodes whose prompts and answers teach the in-process tokenizer the domain
CORPUS_STEPS = 40  # at most this many steps of each
CORPUS_SEED = 2 ** 40  # far from the run seed streams (coso.seeding), so the corpus never shares their layouts


def _level(env: EnvConfig) -> Level:
    return LEVELS.get(str(env.babyai.level), "(env.babyai.level)")


def _make_env(env: EnvConfig) -> BabyAIEnv:
    return BabyAIEnv(_level(env), reward=str(env.babyai.reward), invalid_action=str(env.invalid_action),
                     invalid_action_penalty=env.invalid_action_penalty, max_steps=env.babyai.max_steps)


def _env_factory(env: EnvConfig, seed: int) -> EnvFactory:
    def make(slot: int) -> BabyAIEnv:
        return _make_env(env)

    return make


def _tasks(config: RunConfig) -> tuple[list[Task], list[Task]]:
    """The level's one task for training; the evaluation repeats it (each episode seed draws a new mission)."""
    task = babyai_task(_level(config.env))
    return [task], [task] * config.train.eval_episodes


def _corpus(env: EnvConfig) -> list[str]:
    """Prompts and answers of noisy expert episodes on the level, and every action word."""
    texts = [format_answer(action) for action in ACTIONS]
    babyai = _make_env(env)
    expert = BabyAIExpert(noise=0.3, seed=0)
    task = babyai_task(babyai.level)
    try:
        for episode in range(CORPUS_EPISODES):
            observation = babyai.reset(task, CORPUS_SEED + episode)
            for _ in range(CORPUS_STEPS):
                texts.append(observation.prompt)
                answer = expert.act_one(observation)
                texts.append(answer)
                result = babyai.step(answer)
                if result.done:
                    break
                observation = result.observation
    finally:
        babyai.close()
    return texts


BABYAI = register_domain(Domain(
    name="babyai",
    grammar=lambda env: BabyAIGrammar(),
    env_factory=_env_factory,
    expert=lambda env, noise, seed: BabyAIExpert(noise, seed),
    tasks=_tasks,
    collect_tasks=lambda config: _tasks(config)[0],
    corpus=_corpus,
))
