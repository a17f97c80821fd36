"""The four Gym Cards games of RL4VLM as pure state machines: deal from a seeded RNG, apply one action, score.

A game owns its action set (the texts an answer's ``"action"`` may hold, which are also CoSo's causal labels),
its deal, its per-step reward and its success check. Rewards follow RL4VLM's environments:

- NumberLine (positions 0..max_position, start != target): +1 when the move reaches the target (the episode
  ends), -1 when it does not bring the current number closer, 0 otherwise; 2 x max_position steps at most.
- EZPoints (two cards, target 12) and Points24 (four cards, target 24; face cards count 10, the ace 1): the
  answer is written one unit per step; a number that is not an unused card is invalid (-1, a blank is written
  instead); "=" ends the episode with +10 when the formula equals the target and uses every card, else -1; a
  formula longer than its limit ends the episode with -1.
- Blackjack (infinite deck, dealer draws to 17, no naturals, doubling or splitting): "hit" or "stand"; +1 for a
  win, -1 for a loss, 0 for a draw, given when the hand ends.

Where RL4VLM is silent, this module chooses (docs/domains.md): an unparseable answer costs -1 and leaves the
state as it was (the step still counts); Points24 deals only hands that reach 24, so every task is solvable;
a formula holds at most 5 units (EZPoints) or 15 (Points24) before "=".
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, ClassVar

from coso.errors import ConfigError
from coso.registry import Registry

SUITS = ("hearts", "spades", "diamonds", "clubs")
RANK_NAMES = {1: "A", 11: "J", 12: "Q", 13: "K"}
INVALID_ANSWER_REWARD = -1.0  # an answer whose action cannot be read (this project's choice)


def rank_name(rank: int) -> str:
    """How a card's rank is written: A, 2..10, J, Q, K."""
    return RANK_NAMES.get(rank, str(rank))


def card_value(rank: int) -> int:
    """A card's number in the formula games: the ace 1, face cards 10 (RL4VLM's treat_face_cards_as_10)."""
    return min(rank, 10)


@dataclass(frozen=True)
class Card:
    """A playing card: rank 1 (ace) to 13 (king) and a suit."""

    rank: int
    suit: str

    @property
    def name(self) -> str:
        """E.g. ``"Q of hearts"``."""
        return f"{rank_name(self.rank)} of {self.suit}"


@dataclass
class Outcome:
    """What one action did: the game's reward, whether the episode ended, and whether the task is solved."""

    reward: float
    done: bool
    success: bool = False
    reason: str = ""  # why an action was refused, or how the episode ended


class Game:
    """A Gym Cards game: its actions, deal, transition, horizon, the text of a state, and its instruction."""

    name: ClassVar[str] = "game"
    actions: ClassVar[tuple[str, ...]] = ()
    instruction: ClassVar[str] = ""

    def deal(self, rng: random.Random) -> object:
        """A fresh state drawn from ``rng``."""
        raise NotImplementedError

    def apply(self, state: Any, action: str) -> Outcome:
        """Carry out ``action`` (one of ``actions``) on ``state`` in place."""
        raise NotImplementedError

    def max_steps(self) -> int:
        """The episode's horizon in steps."""
        raise NotImplementedError

    def describe(self, state: Any) -> str:
        """The text observation: what the rendered image shows."""
        raise NotImplementedError

    def timeout(self, state: Any) -> Outcome:
        """How an episode that reaches the horizon ends."""
        return Outcome(0.0, True, False, "horizon")


GAMES: Registry[str, Callable[..., Game]] = Registry("Gym Cards game", ConfigError)


# ---------------------------------------------------------------------------------------------- NumberLine


@dataclass
class NumberLineState:
    """The current and target numbers on a line from 0 to ``max_position``."""

    current: int
    target: int
    max_position: int


@GAMES.register("numberline")
class NumberLine(Game):
    """Move the current number to the target, one step of +1 or -1 at a time."""

    name = "numberline"
    actions = ("+", "-")
    instruction = "Move the current number to the target number with + or -."

    def __init__(self, max_position: int = 5) -> None:
        if max_position < 1:
            raise ConfigError(f"env.gym_cards.max_position={max_position} must be >= 1")
        self.max_position = max_position

    def deal(self, rng: random.Random) -> NumberLineState:
        """Start and target drawn uniformly from 0..max_position, different from each other."""
        current = rng.randint(0, self.max_position)
        target = rng.choice([n for n in range(self.max_position + 1) if n != current])
        return NumberLineState(current, target, self.max_position)

    def apply(self, state: NumberLineState, action: str) -> Outcome:
        """Move (within the line); +1 on reaching the target, -1 when not closer."""
        before = abs(state.current - state.target)
        step = 1 if action == "+" else -1
        state.current = min(self.max_position, max(0, state.current + step))
        after = abs(state.current - state.target)
        if after == 0:
            return Outcome(1.0, True, True, "reached the target")
        return Outcome(-1.0 if after >= before else 0.0, False)

    def max_steps(self) -> int:
        """RL4VLM's 2 x max_position."""
        return 2 * self.max_position

    def describe(self, state: NumberLineState) -> str:
        """E.g. ``"target 3, current 1"``."""
        return f"target {state.target}, current {state.current}"


# ---------------------------------------------------------------------------------------------- formulas


def _parse_formula(units: list[str]) -> Fraction:
    """The exact value of a formula of number, operator and parenthesis units; ValueError when malformed."""
    position = 0

    def peek() -> str | None:
        return units[position] if position < len(units) else None

    def take() -> str:
        nonlocal position
        position += 1
        return units[position - 1]

    def expression() -> Fraction:
        value = term()
        while peek() in ("+", "-"):
            value = value + term() if take() == "+" else value - term()
        return value

    def term() -> Fraction:
        value = factor()
        while peek() in ("*", "/"):
            operator, right = take(), factor()
            if operator == "/" and right == 0:
                raise ValueError("division by zero")
            value = value * right if operator == "*" else value / right
        return value

    def factor() -> Fraction:
        unit = peek()
        if unit == "(":
            take()
            value = expression()
            if peek() != ")":
                raise ValueError("unclosed parenthesis")
            take()
            return value
        if unit is not None and unit.isdigit():
            return Fraction(int(take()))
        raise ValueError(f"unexpected {unit!r}")

    value = expression()
    if position != len(units):
        raise ValueError(f"unexpected {units[position]!r}")
    return value


def evaluate_formula(units: list[str]) -> Fraction | None:
    """The formula's exact value, or None when it is not a well-formed formula."""
    try:
        return _parse_formula(units)
    except (ValueError, ZeroDivisionError, RecursionError):
        return None


@dataclass
class FormulaState:
    """The dealt cards, their numbers, the formula written so far and the numbers it used."""

    cards: list[Card]
    formula: list[str] = field(default_factory=list)
    used: list[int] = field(default_factory=list)

    @property
    def numbers(self) -> list[int]:
        """The cards' numbers in the formula (face cards 10)."""
        return [card_value(card.rank) for card in self.cards]


class FormulaGame(Game):
    """Write a formula over the cards' numbers that equals ``target``, one unit per step, closed by "="."""

    target: ClassVar[int] = 0
    operators: ClassVar[tuple[str, ...]] = ()
    max_units: ClassVar[int] = 0

    def apply(self, state: FormulaState, action: str) -> Outcome:
        """Append a unit (a number must be an unused card), or evaluate the formula on "="."""
        if action == "=":
            value = evaluate_formula(state.formula)
            solved = value == self.target and sorted(state.used) == sorted(state.numbers)
            return Outcome(10.0 if solved else -1.0, True, solved, "solved" if solved else f"formula = {value}")
        if action.isdigit():
            number = int(action)
            if (state.used + [number]).count(number) > state.numbers.count(number):
                state.formula.append(" ")
                return Outcome(-1.0, False, False, f"no unused card {number}")
            state.used.append(number)
        state.formula.append(action)
        if len(state.formula) > self.max_units:
            return Outcome(-1.0, True, False, "the formula is too long")
        return Outcome(0.0, False)

    def max_steps(self) -> int:
        """The formula's units and the closing "="."""
        return self.max_units + 1

    def timeout(self, state: FormulaState) -> Outcome:
        """Out of steps before "=": RL4VLM's time-limit penalty."""
        return Outcome(-1.0, True, False, "horizon")

    def describe(self, state: FormulaState) -> str:
        """E.g. ``"cards 5, Q (10); formula 5 +"``."""
        cards = ", ".join(rank_name(c.rank) + (f" ({card_value(c.rank)})" if c.rank > 10 else "") for c in state.cards)
        formula = " ".join(state.formula) if state.formula else "empty"
        return f"cards {cards}; formula {formula}"


NUMBER_ACTIONS = tuple(str(n) for n in range(1, 11))


@GAMES.register("ezpoints")
class EZPoints(FormulaGame):
    """Two cards that make 12 by + or *."""

    name = "ezpoints"
    target = 12
    operators = ("+", "*")
    max_units = 5
    actions = NUMBER_ACTIONS + ("+", "*", "=")
    instruction = "Write a formula with both cards' numbers, + and * that equals 12, one unit at a time, then =."

    def deal(self, rng: random.Random) -> FormulaState:
        """A first card of rank 2..K, then a card that reaches 12 by * (half the time when it can) or by +."""
        first = rng.randint(2, 13)
        value = card_value(first)
        second = 12 // value if value in (2, 3, 4, 6) and rng.random() < 0.5 else 12 - value
        cards = [Card(first, rng.choice(SUITS)), Card(second, rng.choice(SUITS))]
        if rng.random() < 0.5:
            cards.reverse()
        return FormulaState(cards)


def solve_24(numbers: list[int], target: int = 24,
             operators: tuple[str, ...] = ("+", "-", "*", "/")) -> list[str] | None:
    """A formula's units over all ``numbers`` with ``operators`` that equals ``target`` (sub-expressions in
    parentheses), or None; deterministic, so an expert asking at every step continues the same formula."""
    found = _solve(tuple(numbers), target, tuple(operators))
    return list(found) if found is not None else None


@functools.lru_cache(maxsize=4096)
def _solve(numbers: tuple[int, ...], target: int, operators: tuple[str, ...]) -> tuple[str, ...] | None:
    def combine(items: list[tuple[Fraction, list[str]]]) -> list[str] | None:
        if len(items) == 1:
            return items[0][1] if items[0][0] == target else None
        for i, j in itertools.permutations(range(len(items)), 2):
            (a, left), (b, right) = items[i], items[j]
            rest = [items[k] for k in range(len(items)) if k not in (i, j)]
            candidates = [(a + b, "+"), (a - b, "-"), (a * b, "*")] + ([(a / b, "/")] if b != 0 else [])
            for value, operator in (c for c in candidates if c[1] in operators):
                units = left + [operator] + right
                wrapped = units if not rest else ["("] + units + [")"]
                found = combine(rest + [(value, wrapped)])
                if found is not None:
                    return found
        return None

    found = combine([(Fraction(n), [str(n)]) for n in numbers])
    return tuple(found) if found is not None else None


@GAMES.register("points24")
class Points24(FormulaGame):
    """Four cards that make 24 with + - * / and parentheses."""

    name = "points24"
    target = 24
    operators = ("+", "-", "*", "/", "(", ")")
    max_units = 15
    actions = NUMBER_ACTIONS + ("+", "-", "*", "/", "(", ")", "=")
    instruction = ("Write a formula with all four cards' numbers, + - * / ( ) that equals 24, one unit at a time, "
                   "then =.")

    def deal(self, rng: random.Random) -> FormulaState:
        """Four random cards, drawn again until their numbers reach 24 (every task is solvable)."""
        while True:
            cards = [Card(rng.randint(1, 13), rng.choice(SUITS)) for _ in range(4)]
            if solve_24([card_value(card.rank) for card in cards], self.target) is not None:
                return FormulaState(cards)


# ---------------------------------------------------------------------------------------------- Blackjack


def hand_total(ranks: list[int]) -> tuple[int, bool]:
    """A hand's best total and whether an ace counts 11 in it (a soft hand)."""
    total = sum(card_value(rank) for rank in ranks)
    if 1 in ranks and total + 10 <= 21:
        return total + 10, True
    return total, False


@dataclass
class BlackjackState:
    """The player's cards, the dealer's cards (the first one face up), and the RNG that deals the next."""

    player: list[Card]
    dealer: list[Card]
    rng: random.Random = field(repr=False)

    def draw(self) -> Card:
        """A card from an infinite deck."""
        return Card(self.rng.randint(1, 13), self.rng.choice(SUITS))


@GAMES.register("blackjack")
class Blackjack(Game):
    """Beat the dealer without going over 21: "hit" for a card, "stand" to let the dealer play."""

    name = "blackjack"
    actions = ("stand", "hit")
    instruction = "Win at blackjack: hit to take a card, stand to end your turn."

    def deal(self, rng: random.Random) -> BlackjackState:
        """Two cards each from an infinite deck; the dealer's second card stays hidden."""
        state = BlackjackState([], [], random.Random(rng.getrandbits(64)))
        state.player = [state.draw(), state.draw()]
        state.dealer = [state.draw(), state.draw()]
        return state

    def apply(self, state: BlackjackState, action: str) -> Outcome:
        """A hit draws (a bust loses); a stand lets the dealer draw to 17 and compares."""
        if action == "hit":
            state.player.append(state.draw())
            if hand_total([c.rank for c in state.player])[0] > 21:
                return Outcome(-1.0, True, False, "bust")
            return Outcome(0.0, False)
        return self._stand(state)

    def _stand(self, state: BlackjackState) -> Outcome:
        player = hand_total([c.rank for c in state.player])[0]
        if player > 21:
            return Outcome(-1.0, True, False, "bust")
        while hand_total([c.rank for c in state.dealer])[0] < 17:
            state.dealer.append(state.draw())
        dealer = hand_total([c.rank for c in state.dealer])[0]
        if dealer > 21 or player > dealer:
            return Outcome(1.0, True, True, "win")
        return Outcome(0.0 if player == dealer else -1.0, True, False, "draw" if player == dealer else "loss")

    def max_steps(self) -> int:
        """Eleven cards exceed 21 in any hand, so ten steps always end a hand."""
        return 10

    def timeout(self, state: BlackjackState) -> Outcome:
        """A hand still open at the horizon stands."""
        return self._stand(state)

    def describe(self, state: BlackjackState) -> str:
        """E.g. ``"dealer 9; player 10, 6 (16)"``."""
        total, soft = hand_total([c.rank for c in state.player])
        cards = ", ".join(rank_name(c.rank) for c in state.player)
        return f"dealer {rank_name(state.dealer[0].rank)}; player {cards} ({'soft ' if soft else ''}{total})"
