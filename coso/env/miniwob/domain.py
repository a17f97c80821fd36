"""The MiniWoB++ domain: one task per run (``env.miniwob.task``), registered in ``coso.env.domains``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from coso.config import EnvConfig
from coso.env.domains import Domain, EnvFactory, register_domain
from coso.env.miniwob.env import MiniWoBEnv, miniwob_prompt, miniwob_task
from coso.env.miniwob.expert import MiniWoBExpert
from coso.env.miniwob.grammar import SCREEN_HEIGHT, SCREEN_WIDTH, WebGrammar, format_click, format_type
from coso.env.tasks import Task

if TYPE_CHECKING:
    from coso.config import RunConfig

CORPUS_EPISODES = 16  # expert episodes (seeds 0..15, one browser) whose prompts and actions teach the tokenizer
CORPUS_SEED_OFFSET = 10**9  # far from the run's seed streams, so no evaluation page is in the corpus


def _task(env: EnvConfig) -> str:
    """miniwob's name of the configured task (the config word has "_" for "-": click_tab_2 is click-tab-2)."""
    return str(env.miniwob.task).replace("_", "-")


def build_miniwob_env(env: EnvConfig) -> MiniWoBEnv:
    """One environment of the configured task (a fresh headless Chromium)."""
    section = env.miniwob
    return MiniWoBEnv(_task(env), reward=str(section.reward), max_steps=section.max_steps,
                      time_limit_s=section.time_limit_s, invalid_action=str(env.invalid_action),
                      invalid_action_penalty=env.invalid_action_penalty,
                      invalid_timeout_after=env.invalid_timeout_after,
                      invalid_timeout_penalty=env.invalid_timeout_penalty,
                      chrome_binary=section.chrome_binary, chromedriver=section.chromedriver)


def _env_factory(env: EnvConfig, seed: int) -> EnvFactory:
    def make(slot: int) -> MiniWoBEnv:
        return build_miniwob_env(env)

    return make


def _expert(env: EnvConfig, noise: float, seed: int) -> MiniWoBExpert:
    return MiniWoBExpert(_task(env), noise, seed)


def _tasks(config: RunConfig) -> tuple[list[Task], list[Task]]:
    """The page's one task for training; the evaluation repeats it (each episode seed draws a new page)."""
    task = miniwob_task(_task(config.env))
    return [task], [task] * config.train.eval_episodes


def _corpus(env: EnvConfig) -> list[str]:
    """Every click and a few typed texts, and the prompts and actions of expert episodes in one browser."""
    texts = [format_click(x, x * SCREEN_HEIGHT // SCREEN_WIDTH) for x in range(SCREEN_WIDTH)]
    texts += [format_click(y * SCREEN_WIDTH // SCREEN_HEIGHT, y) for y in range(SCREEN_HEIGHT)]
    texts += [format_type(word) for word in ("Submit", "OK", "yes", "no")]
    task = miniwob_task(_task(env))
    expert = MiniWoBExpert(_task(env))
    browser = build_miniwob_env(env)
    try:
        for episode in range(CORPUS_EPISODES):
            observation = browser.reset(task, CORPUS_SEED_OFFSET + episode)
            while True:
                texts.append(observation.prompt)
                action = expert.act_one(observation)
                texts.append(action)
                result = browser.step(action)
                observation = result.observation
                if result.done:
                    break
            texts.append(miniwob_prompt(observation.task, observation.previous_action))
    finally:
        browser.close()
    return texts


MINIWOB = register_domain(Domain(
    name="miniwob",
    grammar=lambda env: WebGrammar(),
    env_factory=_env_factory,
    expert=_expert,
    tasks=_tasks,
    collect_tasks=lambda config: _tasks(config)[0],
    corpus=_corpus,
))
