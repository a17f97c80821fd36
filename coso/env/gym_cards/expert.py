"""Scripted Gym Cards experts for demonstrations: each reads the game's state and answers in RL4VLM's format.

NumberLine steps toward the target; EZPoints and Points24 write a formula found by exhaustive search over
the cards (``solve_24``), one unit per step, then "="; Blackjack plays the hit/stand basic strategy of an
infinite deck where the dealer stands on all 17s. Noise (``noise``, a probability per step) replaces the
expert's action by a uniformly drawn action of the game, standing in for imperfect demonstrations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from coso.env.base import NoisyExpert, Observation
from coso.env.gym_cards.grammar import format_answer
from coso.env.gym_cards.rules import (
    BlackjackState,
    FormulaState,
    NumberLineState,
    card_value,
    hand_total,
    rank_name,
    solve_24,
)
from coso.errors import ConfigError
from coso.registry import Registry

# game name -> (state -> (action, thoughts))
PLANNERS: Registry[str, Callable[[Any], tuple[str, str]]] = Registry("Gym Cards expert", ConfigError)


@PLANNERS.register("numberline")
def _number_line(state: NumberLineState) -> tuple[str, str]:
    if state.current < state.target:
        return "+", f"current {state.current} is below target {state.target}"
    return "-", f"current {state.current} is above target {state.target}"


def _formula_step(state: FormulaState, target: int, operators: tuple[str, ...]) -> tuple[str, str]:
    """The next unit of a solution (found from the cards on every call, so the expert needs no memory)."""
    solution = solve_24(state.numbers, target, operators)
    written = [unit for unit in state.formula if unit != " "]
    if solution is None or written != solution[: len(written)]:
        return "=", "no solution continues this formula"
    if len(written) == len(solution):
        return "=", f"{' '.join(solution)} makes {target}"
    return solution[len(written)], f"write {' '.join(solution)}"


@PLANNERS.register("ezpoints")
def _ez_points(state: FormulaState) -> tuple[str, str]:
    return _formula_step(state, 12, ("+", "*"))


@PLANNERS.register("points24")
def _points_24(state: FormulaState) -> tuple[str, str]:
    return _formula_step(state, 24, ("+", "-", "*", "/"))


def basic_strategy(player_total: int, soft: bool, dealer_up: int) -> str:
    """Hit or stand by the basic strategy (no doubling or splitting); ``dealer_up`` is 1 (ace) to 10."""
    if soft:
        if player_total >= 19 or (player_total == 18 and 2 <= dealer_up <= 8):
            return "stand"
        return "hit"
    if player_total >= 17:
        return "stand"
    if player_total >= 13:
        return "stand" if 2 <= dealer_up <= 6 else "hit"
    if player_total == 12:
        return "stand" if 4 <= dealer_up <= 6 else "hit"
    return "hit"


@PLANNERS.register("blackjack")
def _blackjack(state: BlackjackState) -> tuple[str, str]:
    total, soft = hand_total([card.rank for card in state.player])
    up = card_value(state.dealer[0].rank)
    action = basic_strategy(total, soft, up)
    return action, f"{'soft ' if soft else ''}{total} against {rank_name(state.dealer[0].rank)}: {action}"


class CardsExpert(NoisyExpert):
    """The scripted expert of one game, optionally noisy; an Agent (``act``) over Gym Cards observations."""

    def __init__(self, game: str, actions: Sequence[str], noise: float = 0.0, seed: int = 0) -> None:
        super().__init__(noise, seed)
        self.plan = PLANNERS.get(game, "(coso.env.gym_cards.expert)")
        self.actions = tuple(actions)

    def act_one(self, observation: Observation) -> str:
        """The expert's answer (a random action with probability ``noise``)."""
        if observation.state is None:
            raise ConfigError("the Gym Cards expert needs the game state (Observation.state); "
                              "it runs only on coso's in-process Gym Cards environments")
        return format_answer(*self.choose(observation.state))

    def choose(self, state: object) -> tuple[str, str]:
        """The expert's action and thoughts for a game state (a random action with probability ``noise``)."""
        action, thoughts = self.plan(state)
        if self.noise and self.rng.random() < self.noise:
            action, thoughts = self.rng.choice(self.actions), "explore"
        return action, thoughts
