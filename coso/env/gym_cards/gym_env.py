"""The Gym Cards games as gymnasium environments: discrete actions, RGB observations, RL4VLM's rewards.

``GymCardsEnv(game)`` follows gymnasium's API (``reset(seed=...) -> (image, info)``, ``step(index) -> (image,
reward, terminated, truncated, info)``); the action index is the position in the game's ``actions`` and
``info["text"]`` is the text observation. It plays the same rules, deals and renderings as ``CardsEnv``: a
seed deals the same hand in both. ``make_gym_cards(name)`` builds one by game name (gymnasium is imported only
here, so the phone does not need it).
"""

from __future__ import annotations

import random
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from coso.env.gym_cards.env import RENDERERS, build_game
from coso.env.gym_cards.render import IMAGE_SIZE
from coso.env.gym_cards.rules import Game


class GymCardsEnv(gymnasium.Env):
    """One Gym Cards game with gymnasium's interface."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, game: Game, render_mode: str | None = "rgb_array") -> None:
        self.game = game
        self.render_mode = render_mode
        self.action_space = spaces.Discrete(len(game.actions))
        self.observation_space = spaces.Box(0, 255, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
        self._render = RENDERERS.get(game.name)
        self.state: object | None = None
        self.steps = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Deal from ``seed`` (from gymnasium's seeded generator when None)."""
        super().reset(seed=seed)
        deal_seed = seed if seed is not None else int(self.np_random.integers(2 ** 63))
        self.state = self.game.deal(random.Random(deal_seed))
        self.steps = 0
        return self._image(), self._info()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Apply the game's ``action``-th action; the horizon truncates (with the game's timeout outcome)."""
        if self.state is None:
            raise RuntimeError("GymCardsEnv.step called before reset()")
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        outcome = self.game.apply(self.state, self.game.actions[int(action)])
        self.steps += 1
        reward, success, truncated = outcome.reward, outcome.success, False
        if not outcome.done and self.steps >= self.game.max_steps():
            ending = self.game.timeout(self.state)
            reward, success, truncated = reward + ending.reward, ending.success, True
        return self._image(), float(reward), outcome.done, truncated, self._info(success=success)

    def render(self) -> np.ndarray:
        """The current table as an RGB array."""
        return self._image()

    def _image(self) -> np.ndarray:
        return np.asarray(self._render(self.state), dtype=np.uint8)

    def _info(self, success: bool = False) -> dict:
        return {"text": self.game.describe(self.state), "success": success}


def make_gym_cards(name: str, **kwargs: Any) -> GymCardsEnv:
    """The gymnasium environment of game ``name`` (numberline, ezpoints, points24, blackjack)."""
    max_position = kwargs.pop("max_position", 5)
    return GymCardsEnv(build_game(name, max_position), **kwargs)
