"""Discounted Monte-Carlo returns, the regression target of every DigiRL critic."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def monte_carlo_returns(rewards: Sequence[float] | np.ndarray | torch.Tensor, gamma: float) -> np.ndarray:
    """G_t = r_t + gamma * G_{t+1} over one trajectory (the last step bootstraps nothing)."""
    values = rewards.detach().cpu().numpy() if isinstance(rewards, torch.Tensor) else np.asarray(rewards)
    returns = np.zeros(len(values), dtype=np.float32)
    running = 0.0
    for index in range(len(values) - 1, -1, -1):
        running = float(values[index]) + gamma * running
        returns[index] = running
    return returns
