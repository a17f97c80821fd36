"""Gym Cards as a coso environment: answers in, rendered table and its text out, one game per environment.

``CardsEnv`` runs a game episode by episode: ``reset(task, seed)`` deals from ``random.Random(seed)`` (so a seed
is a deal), ``step(text)`` parses the answer with the game's grammar and applies it. The training reward is
the success indicator (1 on the step that solves the task, else 0), because DigiRL's critics read rewards as
success (``coso.algorithms.digirl``); ``reward="game"`` gives RL4VLM's game rewards instead (``rules``). Either
way ``info["game_reward"]`` holds the game's reward. An unparseable answer follows ``env.invalid_action``:
"terminate" ends the episode, "penalize" leaves the state as it was and goes on (the game reward is -1, the
training reward ``-invalid_action_penalty``).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from coso.env.base import Observation, StepResult
from coso.env.gym_cards.grammar import CardsGrammar
from coso.env.gym_cards.render import render_blackjack, render_formula, render_number_line
from coso.env.gym_cards.rules import GAMES, INVALID_ANSWER_REWARD, Game, Outcome
from coso.env.tasks import Goal, Task
from coso.errors import ConfigError
from coso.registry import Registry

RENDERERS: Registry[str, Callable[[Any], Image.Image]] = Registry("Gym Cards renderer", ConfigError)
RENDERERS.register("numberline")(render_number_line)
RENDERERS.register("ezpoints")(render_formula)
RENDERERS.register("points24")(render_formula)
RENDERERS.register("blackjack")(render_blackjack)
REWARD_MODES = ("success", "game")


@dataclass(frozen=True)
class CardsGoal(Goal):
    """Play one episode of a Gym Cards game (the deal comes from the episode seed)."""

    kind = "gym_cards"
    game: str


def build_game(name: str, max_position: int = 5) -> Game:
    """The registered game ``name`` (NumberLine takes the line's length)."""
    factory = GAMES.get(name, "(env.gym_cards.game)")
    return factory(max_position) if name == "numberline" else factory()


def cards_task(game: Game) -> Task:
    """The one task of a game: its instruction; the seed of each episode draws the deal."""
    return Task(game.instruction, CardsGoal(game.name), game.name)


def cards_prompt(instruction: str, state_text: str, previous: str | None) -> str:
    """The policy's prompt: the goal, the text observation and the previous action."""
    return f"Goal: {instruction} Observation: {state_text}. Previous action: {previous or 'None'}</s>"


class CardsEnv:
    """One Gym Cards game played through text answers; the rendered table is the screenshot."""

    def __init__(self, game: Game, *, reward: str = "success", invalid_action: str = "penalize",
                 invalid_action_penalty: float = 0.0) -> None:
        if reward not in REWARD_MODES:
            raise ConfigError(f"env.gym_cards.reward={reward!r} is not one of {REWARD_MODES}")
        self.game = game
        self.grammar = CardsGrammar(game.name, game.actions)
        self.render = RENDERERS.get(game.name)
        self.reward_mode = reward
        self.invalid_action = str(invalid_action)
        self.invalid_action_penalty = float(invalid_action_penalty)
        self.task: Task | None = None
        self.state: object | None = None
        self.steps = 0
        self.done = True
        self._previous: str | None = None

    def reset(self, task: Task, seed: int) -> Observation:
        """Deal a new hand (or line) from ``seed``."""
        goal = task.goal
        if not isinstance(goal, CardsGoal) or goal.game != self.game.name:
            raise ConfigError(f"task {task.text!r} is not a {self.game.name} task (env.gym_cards.game)")
        self.task = task
        self.state = self.game.deal(random.Random(seed))
        self.steps = 0
        self.done = False
        self._previous = None
        return self._observe()

    def step(self, action_text: str) -> StepResult:
        """Parse one answer, apply it, and score the game."""
        if self.task is None or self.done:
            raise RuntimeError("CardsEnv.step called before reset() or after the episode ended")
        answer = self.grammar.parse(action_text)
        self.steps += 1
        terminate = self.invalid_action == "terminate"
        if answer.action is None:
            outcome = Outcome(INVALID_ANSWER_REWARD, terminate, False, answer.reason)
        else:
            outcome = self.game.apply(self.state, answer.action)
            self._previous = answer.action
        timeout = not outcome.done and self.steps >= self.game.max_steps()
        if timeout:
            ending = self.game.timeout(self.state)
            outcome = Outcome(outcome.reward + ending.reward, True, ending.success, ending.reason)
        if self.reward_mode == "game":
            training_reward = outcome.reward
        elif outcome.success:
            training_reward = 1.0
        else:
            training_reward = -self.invalid_action_penalty if answer.action is None and not terminate else 0.0
        self.done = outcome.done
        info = {"game_reward": outcome.reward, "timeout": timeout and not outcome.success, "outcome": outcome.reason}
        if answer.action is None:
            info["invalid_reason"] = answer.reason
        return StepResult(self._observe(), training_reward, self.done, outcome.success, answer, info)

    def _observe(self) -> Observation:
        assert self.task is not None
        state_text = self.game.describe(self.state)
        return Observation(self.task.text, self.render(self.state), self._previous, self.steps,
                           copy.deepcopy(self.state), text_prompt=cards_prompt(self.task.text, state_text,
                                                                               self._previous))

    def close(self) -> None:
        """Nothing to release."""
