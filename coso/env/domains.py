"""Domains: what an agent acts in, each as one record of the pieces the rest of coso composes.

A domain gives its environment (``Environment``: reset on a task with a seed -> image + text observation,
step on an action text -> reward, done, success; the reward/judge and the invalid-action rule live in it),
its action grammar (the action classes the causal model predicts, and the class of a text), its scripted
expert for demonstrations, its task source (training and evaluation tasks), and the texts that teach the
in-process tokenizer its prompts and actions. ``env.domain`` picks one from ``DOMAINS``; the pool, the
rollout, the buffer, the trainer, the algorithms and the causal model see only these pieces.
Adding a domain: docs/domains.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from coso.actions import ActionGrammar
from coso.config import EnvConfig
from coso.env.base import Environment, Observation
from coso.env.tasks import Task
from coso.errors import ConfigError
from coso.registry import Registry

if TYPE_CHECKING:
    from coso.config import RunConfig

EnvFactory = Callable[[int], Environment]  # pool slot -> a fresh environment


class Actor(Protocol):
    """An agent in the rollout's sense (``coso.rollout.Agent``): one action text per observation."""

    def act(self, observations: Sequence[Observation], tasks: Sequence[Task]) -> list[str]:
        """One action text per observation, in order."""


@dataclass(frozen=True)
class Domain:
    """The pieces of one domain, each a function of the run's config."""

    name: str
    grammar: Callable[[EnvConfig], ActionGrammar]
    env_factory: Callable[[EnvConfig, int], EnvFactory]  # (env config, run seed) -> one environment per slot
    expert: Callable[[EnvConfig, float, int], Actor]  # (env config, noise level, seed) -> the demonstrator
    tasks: Callable[[RunConfig], tuple[list[Task], list[Task]]]  # (training tasks, evaluation tasks)
    collect_tasks: Callable[[RunConfig], list[Task]]  # the collect run kind's tasks without a task_file
    corpus: Callable[[EnvConfig], list[str]]  # prompts and actions for the tokenizer ([] keeps the default)
    # whether agent.constrained_decoding (coso.models.constrained, the AutoUI grammar) applies; elsewhere the
    # setting has no effect, so one scale file serves every domain
    autoui_actions: bool = False


DOMAINS: Registry[str, Domain] = Registry("domain", ConfigError)


def register_domain(domain: Domain) -> Domain:
    """Put ``domain`` in ``DOMAINS`` under its name (at import of the module that defines it)."""
    DOMAINS.register(domain.name)(domain)
    return domain


def domain_of(env: EnvConfig) -> Domain:
    """The domain ``env.domain`` names; a ConfigError listing the registered ones otherwise."""
    import coso.env.factory  # noqa: F401  (registers the built-in domains)

    return DOMAINS.get(str(env.domain), "(env.domain)")
