"""Build environments, tasks, experts, image encoders and pools from a run config (one registry per choice).

The phone domain is defined here (its backends, its task source, its demonstrator); every builder below goes
through ``coso.env.domains.DOMAINS``, so another domain (``coso.env.gym_cards``) plugs in the same way.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path

from coso.actions import AUTOUI_GRAMMAR, ActionGrammar
from coso.config import EnvConfig, RunConfig
from coso.env.babyai import domain as _babyai  # noqa: F401  (registers the babyai domain)
from coso.env.base import EpisodeConfig, PhoneEnv
from coso.env.domains import Actor, Domain, EnvFactory, domain_of, register_domain
from coso.env.features import ImageEncoder, build_image_encoder
from coso.env.gym_cards import domain as _gym_cards  # noqa: F401  (registers the gym_cards domain)
from coso.env.miniwob import domain as _miniwob  # noqa: F401  (registers the miniwob domain; the browser is lazy)
from coso.env.pool import EnvPool
from coso.env.task_generator import generate_tasks, sequential_tasks
from coso.env.task_parser import load_task_file
from coso.env.tasks import Task
from coso.errors import ConfigError
from coso.seeding import EVAL_TASK_SEED, train_task_seed

GENERATED_TRAIN_TASKS = 512


def episode_config(env: EnvConfig) -> EpisodeConfig:
    """The episode rules of an env config."""
    return EpisodeConfig(
        max_steps_general=env.max_steps_general,
        max_steps_webshop=env.max_steps_webshop,
        invalid_action=env.invalid_action,
        invalid_action_penalty=env.invalid_action_penalty,
        invalid_timeout_after=env.invalid_timeout_after,
        invalid_timeout_penalty=env.invalid_timeout_penalty,
    )


def _sim_factory(env: EnvConfig, seed: int) -> EnvFactory:
    from coso.env.sim import SimConfig, SimPhone
    from coso.env.sim.judge import RuleJudge

    sim_config = SimConfig.from_mapping(dataclasses.asdict(env.sim))
    episode = episode_config(env)

    def make(slot: int) -> PhoneEnv:
        phone = SimPhone(sim_config)
        return PhoneEnv(phone, RuleJudge(phone), episode)

    return make


def _android_factory(env: EnvConfig, seed: int) -> EnvFactory:
    from coso.env.android.factory import android_env_factory

    return android_env_factory(env, episode_config(env), seed)


ENV_BACKENDS: dict[str, Callable[[EnvConfig, int], EnvFactory]] = {
    "sim": _sim_factory,
    "android": _android_factory,
}


def _phone_env_factory(env: EnvConfig, seed: int) -> EnvFactory:
    """A function that builds one phone per pool slot, for the configured backend."""
    if env.backend not in ENV_BACKENDS:
        raise ConfigError(f"env.backend={env.backend!r} is not one of {sorted(ENV_BACKENDS)}")
    return ENV_BACKENDS[env.backend](env, seed)


def build_env_factory(env: EnvConfig, seed: int) -> EnvFactory:
    """A function that builds one environment per pool slot, for the configured domain."""
    return domain_of(env).env_factory(env, seed)


def build_grammar(env: EnvConfig) -> ActionGrammar:
    """The configured domain's action grammar (the causal model's action classes)."""
    return domain_of(env).grammar(env)


def build_expert(env: EnvConfig, noise: float, seed: int) -> Actor:
    """The configured domain's scripted demonstrator at ``noise`` (0: the perfect expert)."""
    return domain_of(env).expert(env, noise, seed)


def build_pool(env: EnvConfig, seed: int) -> EnvPool:
    """The environment pool of a run."""
    return EnvPool(build_env_factory(env, seed), env.num_envs, env.step_timeout_s, env.reset_timeout_s,
                   env.max_restarts)


def build_encoder(env: EnvConfig) -> ImageEncoder:
    """The screenshot feature encoder of a run."""
    kwargs: dict[str, object] = {"feature_dim": env.image_feature_dim}
    if env.image_encoder == "screen_pixels":
        kwargs.update(width=env.screen_pixels_width, height=env.screen_pixels_height)
    if env.image_encoder_path:
        kwargs["path"] = env.image_encoder_path
    return build_image_encoder(env.image_encoder, **kwargs)


def _tasks_of_file(path: Path, option: str, skip_bad_lines: bool = False) -> list[Task]:
    """Every task of a task file; a clear error for a missing or empty file."""
    if not path.is_file():
        raise ConfigError(f"{option}={path}: no such file (give a text file with one task per line)")
    loaded = load_task_file(path, skip_unparseable=skip_bad_lines)  # each line's task set follows from its goal
    for failure in loaded.skipped:
        print(f"warning: {path}, line {failure.line_no}: skipped {failure.text!r} ({failure.reason}; "
              "skip_bad_task_lines=true)", file=sys.stderr)
    tasks = list(loaded)
    if not tasks:
        raise ConfigError(f"{option}={path} holds no tasks (blank lines and # comments are skipped)")
    return tasks


def load_tasks(config: RunConfig) -> tuple[list[Task], list[Task]]:
    """(training tasks, evaluation tasks) of the configured domain."""
    return domain_of(config.env).tasks(config)


def _phone_tasks(config: RunConfig) -> tuple[list[Task], list[Task]]:
    """The phone's tasks: training from the task file or the generator; evaluation from eval_task_file, else the
    task file's first lines, else generated tasks of a disjoint seed stream."""
    episodes = config.train.eval_episodes
    if config.task_file:
        train = _tasks_of_file(Path(config.task_file), "task_file", config.skip_bad_task_lines)
        evaluation = sequential_tasks(train, episodes)
    else:
        train = generate_tasks(GENERATED_TRAIN_TASKS, train_task_seed(config.seed), config.env.task_set)
        evaluation = generate_tasks(episodes, EVAL_TASK_SEED, config.env.task_set)  # the same for every run seed
    if config.eval_task_file:
        evaluation = sequential_tasks(
            _tasks_of_file(Path(config.eval_task_file), "eval_task_file", config.skip_bad_task_lines), episodes
        )
    return train, evaluation


def _phone_collect_tasks(config: RunConfig) -> list[Task]:
    """Generated tasks for the collect run kind: ``episodes`` of them (64 by default)."""
    return generate_tasks(config.episodes or 64, train_task_seed(config.seed), config.env.task_set)


def _phone_expert(env: EnvConfig, noise: float, seed: int) -> Actor:
    from coso.env.sim.expert import ExpertPolicy, NoiseConfig

    return ExpertPolicy(NoiseConfig.from_level(noise), seed=seed, point_decimals=env.point_decimals)


PHONE = register_domain(Domain(
    name="phone",
    grammar=lambda env: AUTOUI_GRAMMAR,
    env_factory=_phone_env_factory,
    expert=_phone_expert,
    tasks=_phone_tasks,
    collect_tasks=_phone_collect_tasks,
    corpus=lambda env: [],  # the default corpus is the phone's own
    autoui_actions=True,
))
