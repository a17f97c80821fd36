"""AFSFT's Q head: a linear map from the policy's hidden states to PopArt-normalised Q values over the vocabulary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from coso.algorithms.afsft import (
    POPART_MAX_STD,
    POPART_MIN_STD,
    POPART_RATE,
    PopArtStatistics,
    popart_preserve,
    popart_update_statistics,
)
from coso.errors import ConfigError
from coso.models.serialization import SavedModel


@dataclass(frozen=True)
class QHeadConfig:
    """What a saved Q head is built from."""

    hidden_size: int
    vocab_size: int
    popart_rate: float = POPART_RATE
    min_std: float = POPART_MIN_STD
    max_std: float = POPART_MAX_STD


class QHead(SavedModel):
    """Q(s, .) over the vocabulary beside the LM head: n = W h + b, Q = sigma * n + mu (PopArt, scalar stats).

    The statistics are buffers shared by every vocabulary entry (all Q(s, a) estimate the same return), so a
    checkpoint of the module holds them; ``update_statistics`` moves them and rescales W, b so that Q is unchanged.
    The ``td_updates`` buffer counts the TD updates the head has had (the filter's beta schedule reads it).
    """

    CONFIG_NAME: ClassVar[str] = "q_head_config.json"
    CONFIG_CLASS = QHeadConfig
    popart_mean: torch.Tensor  # buffers, registered in __init__
    popart_second_moment: torch.Tensor
    td_updates: torch.Tensor

    def __init__(
        self,
        hidden_size: int,
        vocab_size: int,
        *,
        popart_rate: float = POPART_RATE,
        min_std: float = POPART_MIN_STD,
        max_std: float = POPART_MAX_STD,
    ) -> None:
        super().__init__()
        if hidden_size < 1 or vocab_size < 1:
            raise ConfigError(f"QHead needs hidden_size and vocab_size >= 1, got {hidden_size} and {vocab_size}")
        if not 0.0 < popart_rate <= 1.0:
            raise ConfigError(f"the PopArt rate must lie in (0, 1], got {popart_rate}")
        if not 0.0 < min_std <= max_std:
            raise ConfigError(f"PopArt needs 0 < min_std <= max_std, got {min_std} and {max_std}")
        self.linear = nn.Linear(hidden_size, vocab_size)
        self.popart_rate = float(popart_rate)
        self.min_std = float(min_std)
        self.max_std = float(max_std)
        self.register_buffer("popart_mean", torch.zeros(()))
        self.register_buffer("popart_second_moment", torch.ones(()))
        self.register_buffer("td_updates", torch.zeros((), dtype=torch.long))

    @property
    def config(self) -> QHeadConfig:
        """The head's sizes and PopArt settings."""
        return QHeadConfig(self.linear.in_features, self.linear.out_features, self.popart_rate, self.min_std,
                           self.max_std)

    def save_architecture(self, directory: Path) -> None:
        """Nothing besides the config and the weights (PopArt statistics and update count are buffers)."""

    @classmethod
    def from_saved_config(cls, config: QHeadConfig, directory: Path) -> QHead:
        """A head with fresh weights of the saved sizes and PopArt settings."""
        return cls(config.hidden_size, config.vocab_size, popart_rate=config.popart_rate, min_std=config.min_std,
                   max_std=config.max_std)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """Normalised Q [..., V] of hidden states [..., H]: the TD loss regresses these."""
        return self.linear(hidden.to(self.linear.weight.dtype))

    @property
    def statistics(self) -> PopArtStatistics:
        """The current PopArt moments."""
        return PopArtStatistics(mean=self.popart_mean, second_moment=self.popart_second_moment)

    def std(self) -> torch.Tensor:
        """PopArt's scale sigma."""
        return self.statistics.std(self.min_std, self.max_std)

    def unnormalise(self, normalised: torch.Tensor) -> torch.Tensor:
        """Q = sigma * n + mu."""
        return normalised.float() * self.std() + self.popart_mean

    def normalise(self, values: torch.Tensor) -> torch.Tensor:
        """n = (Q - mu) / sigma: a TD target on the head's scale."""
        return (values.float() - self.popart_mean) / self.std()

    def q_values(self, hidden: torch.Tensor) -> torch.Tensor:
        """Unnormalised Q [..., V] (for V(s), the filter and the target)."""
        return self.unnormalise(self(hidden))

    @torch.no_grad()
    def update_statistics(
        self, targets: torch.Tensor, mask: torch.Tensor | None = None, *, followers: Sequence[QHead] = ()
    ) -> None:
        """ART then POP: move mu, nu towards the targets, rescale W, b here and in followers (the target copy)."""
        for head in followers:
            if not (torch.equal(head.popart_mean, self.popart_mean)
                    and torch.equal(head.popart_second_moment, self.popart_second_moment)):
                raise ValueError("a follower head must share the PopArt statistics (copy them, e.g. by polyak_update_)")
        old_mean, old_std = self.popart_mean.clone(), self.std()
        new_stats = popart_update_statistics(self.statistics, targets, mask, rate=self.popart_rate)
        new_std = new_stats.std(self.min_std, self.max_std)
        for head in (self, *followers):
            weight, bias = popart_preserve(
                head.linear.weight, head.linear.bias, old_mean, old_std, new_stats.mean, new_std
            )
            head.linear.weight.copy_(weight)
            head.linear.bias.copy_(bias)
            head.popart_mean.copy_(new_stats.mean)
            head.popart_second_moment.copy_(new_stats.second_moment)
