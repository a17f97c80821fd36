"""Epsilon-greedy exploration around any agent: per step, a random valid action instead of the agent's.

AFSFT's online rollouts (algorithm.afsft.epsilon): the random action is one the AutoUI grammar accepts and the
phone executes (a tap anywhere, a vertical swipe, Back, Home or Enter), drawn without the screen's content, so
it works on real devices too. The draws come from the wrapper's own seeded generator (a resumed run explores
as an unbroken one does); ``coso.algorithms.afsft.epsilon_greedy`` makes the choice.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol

from coso.actions import Action, ActionType, format_action
from coso.algorithms.afsft import epsilon_greedy
from coso.env.base import Observation
from coso.env.tasks import Task


class Agent(Protocol):
    """What the wrapper wraps: coso.rollout.Agent (an agent writes one action text per observation)."""

    def act(self, observations: Sequence[Observation], tasks: Sequence[Task]) -> list[str]:
        """One action text per observation, in order."""


def random_valid_action(rng: random.Random, point_decimals: int) -> str:
    """A random executable action as AutoUI text: a tap (half the time), a vertical swipe, Back, Home or Enter."""
    roll = rng.random()
    if roll < 0.5:
        action = Action.tap(rng.uniform(0.02, 0.98), rng.uniform(0.04, 0.95))
    elif roll < 0.7:
        x, y = rng.uniform(0.2, 0.8), rng.uniform(0.25, 0.75)
        action = Action.swipe((x, y), (x, y - 0.2 if rng.random() < 0.5 else y + 0.2))
    elif roll < 0.8:
        action = Action(ActionType.GoBack)
    elif roll < 0.9:
        action = Action(ActionType.GoHome)
    else:
        action = Action(ActionType.Enter)
    return format_action(action, decimals=point_decimals)


class EpsilonGreedyAgent:
    """Wraps an agent: each action is replaced by a random valid one with probability ``epsilon``."""

    def __init__(self, agent: Agent, epsilon: float, seed: int, point_decimals: int) -> None:
        self.agent = agent
        self.epsilon = float(epsilon)
        self.rng = random.Random(seed)
        self.point_decimals = point_decimals
        self.explored = 0  # actions replaced so far
        self.acted = 0

    def act(self, observations: Sequence[Observation], tasks: Sequence[Task]) -> list[str]:
        """The wrapped agent's actions, each replaced by a random valid one with probability epsilon."""
        sampled = self.agent.act(observations, tasks)
        uniforms = [self.rng.random() for _ in sampled]
        alternatives = [random_valid_action(self.rng, self.point_decimals) for _ in sampled]
        chosen, explored = epsilon_greedy(sampled, alternatives, self.epsilon, uniforms)
        self.explored += sum(explored)
        self.acted += len(chosen)
        return chosen
