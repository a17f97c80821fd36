"""Trajectory records: the unit the rollout produces and the buffer, datasets and trainers consume."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from coso.algorithms.returns import monte_carlo_returns


@dataclass
class Transition:
    """One step: the observation the agent saw, the text it wrote, and what followed."""

    task: str
    prompt: str  # the AutoUI prompt of the observation
    action: str  # the raw model output text
    reward: float
    done: bool
    image_features: np.ndarray  # float32 [2 * D]: previous and current screen, stacked as DigiRL does
    next_prompt: str
    next_image_features: np.ndarray  # float32 [2 * D]
    mc_return: float = 0.0
    step: int = 0
    valid_action: bool = True  # False when the text did not parse
    task_set: str = "general"
    screenshot_path: str = ""  # optional, relative to the dataset directory
    next_screenshot_path: str = ""


@dataclass
class Trajectory:
    """One episode's transitions with its task and outcome."""

    transitions: list[Transition]
    task: str
    task_set: str = "general"
    success: bool = False
    env_failed: bool = False  # the environment crashed or hung: the episode is marked failed
    seed: int = 0
    metadata: dict[str, object] = field(default_factory=dict)

    @property
    def reward(self) -> float:
        """Total reward of the episode (1.0 for a success under the default judge)."""
        return float(sum(t.reward for t in self.transitions))

    def __len__(self) -> int:
        return len(self.transitions)

    def fill_mc_returns(self, gamma: float) -> Trajectory:
        """Write each transition's discounted Monte-Carlo return (in place) and return self."""
        returns = monte_carlo_returns([t.reward for t in self.transitions], gamma)
        for transition, value in zip(self.transitions, returns):
            transition.mc_return = float(value)
        return self
