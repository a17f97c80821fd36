"""DigiRL's value models: the step-level double critic and the trajectory-level (instruction) critic.

Both read a text encoding of the observation prompt concatenated with the stacked screen features
``[B, num_screens * D]`` and put MLP heads on it that give 2-class logits; class 1 means "this state (or
this task's first state) leads to success", trained with cross-entropy on ``1[MC return > 0]``. The step
critic has two heads (a double critic) and its value is the minimum of the two success probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, TypeVar

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from coso.algorithms.digirl import critic_success_probability, double_critic_value
from coso.errors import ConfigError
from coso.models.serialization import SavedModel
from coso.models.text_encoder import (
    TextEncoder,
    TextEncoderSpec,
    build_text_encoder,
    restore_text_encoder,
)

TEXT_ENCODER_DIR = "text_encoder"

CriticT = TypeVar("CriticT", bound="Critic")


@dataclass(frozen=True)
class CriticConfig:
    """A critic: its text encoder, the screen-feature width and the MLP head width."""

    text_encoder: TextEncoderSpec = field(default_factory=TextEncoderSpec)
    image_feature_dim: int = 256  # D, one screen
    num_screens: int = 2
    head_hidden: int = 256
    head_dropout: float = 0.0
    freeze_text_encoder: bool = False
    init_seed: int = 0

    def __post_init__(self) -> None:
        if min(self.image_feature_dim, self.num_screens, self.head_hidden) < 1:
            raise ConfigError(
                f"critic: image_feature_dim, num_screens and head_hidden must be >= 1, got "
                f"{self.image_feature_dim}, {self.num_screens}, {self.head_hidden}"
            )


def value_head(input_dim: int, hidden: int, dropout: float) -> nn.Sequential:
    """DigiRL's critic head: a 3-layer ReLU MLP to 2 logits (failure, success)."""
    return nn.Sequential(
        nn.Linear(input_dim, hidden), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden, 2),
    )


class Critic(SavedModel):
    """Shared body of the critics: text encoder + stacked screen features -> ``num_heads`` 2-class heads."""

    CONFIG_NAME: ClassVar[str] = "critic_config.json"
    CONFIG_CLASS = CriticConfig
    num_heads: ClassVar[int] = 1

    def __init__(self, config: CriticConfig, text_encoder: TextEncoder) -> None:
        super().__init__()
        self.config = config
        self.text_encoder = text_encoder
        text_encoder.requires_grad_(not config.freeze_text_encoder)
        input_dim = text_encoder.output_dim + config.num_screens * config.image_feature_dim
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.init_seed)
            self.heads = nn.ModuleList(
                [value_head(input_dim, config.head_hidden, config.head_dropout) for _ in range(self.num_heads)]
            )

    @classmethod
    def from_config(cls: type[CriticT], config: CriticConfig | None = None,
                    tokenizer: PreTrainedTokenizerBase | None = None) -> CriticT:
        """A fresh critic; the built-in text encoder uses ``tokenizer`` (required for it; pass the policy's)."""
        config = config or CriticConfig()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.init_seed)
            encoder = build_text_encoder(config.text_encoder, tokenizer)
        return cls(config, encoder)

    @property
    def device(self) -> torch.device:
        """Where the head weights live."""
        return next(self.heads.parameters()).device

    def features(self, prompts: Sequence[str], image_features: torch.Tensor) -> torch.Tensor:
        """``[text encoding ; stacked screen features]``, the heads' input ``[B, text_dim + num_screens * D]``."""
        expected = self.config.num_screens * self.config.image_feature_dim
        if image_features.dim() != 2 or image_features.shape[1] != expected:
            raise ConfigError(
                f"{type(self).__name__}: image_features has shape {tuple(image_features.shape)}, expected "
                f"[B, {expected}] ({self.config.num_screens} screens x image_feature_dim="
                f"{self.config.image_feature_dim}); set the critic's image_feature_dim to the image encoder's"
            )
        if image_features.shape[0] != len(prompts):
            raise ValueError(
                f"{type(self).__name__}: {len(prompts)} prompts but {image_features.shape[0]} feature rows"
            )
        text = self.text_encoder.encode(prompts)
        return torch.cat([text, image_features.to(device=text.device, dtype=text.dtype)], dim=-1)

    def head_logits(self, prompts: Sequence[str], image_features: torch.Tensor) -> list[torch.Tensor]:
        """Each head's 2-class logits ``[B, 2]``."""
        inputs = self.features(prompts, image_features)
        return [head(inputs) for head in self.heads]

    def save_architecture(self, directory: Path) -> None:
        """The text encoder's tokenizer/config (``save_pretrained`` adds config and weights)."""
        self.text_encoder.save_architecture(directory / TEXT_ENCODER_DIR)

    @classmethod
    def from_saved_config(cls: type[CriticT], config: CriticConfig, directory: Path) -> CriticT:
        """A critic with fresh weights over the saved text encoder."""
        return cls(config, restore_text_encoder(config.text_encoder, directory / TEXT_ENCODER_DIR))


class StepCritic(Critic):
    """DigiRL's step-level double critic V(s): two heads over (prompt encoding, stacked screens)."""

    CONFIG_NAME: ClassVar[str] = "step_critic_config.json"
    num_heads: ClassVar[int] = 2

    def forward(self, prompts: Sequence[str], image_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two heads' 2-class logits, each ``[B, 2]``."""
        first, second = self.head_logits(prompts, image_features)
        return first, second

    def value(self, prompts: Sequence[str], image_features: torch.Tensor) -> torch.Tensor:
        """The pessimistic success probability ``min(P1(success), P2(success))``, ``[B]``."""
        first, second = self(prompts, image_features)
        return double_critic_value(first, second)


class TrajectoryCritic(Critic):
    """DigiRL's trajectory-level (instruction) critic V(c) on an episode's first observation."""

    CONFIG_NAME: ClassVar[str] = "trajectory_critic_config.json"
    num_heads: ClassVar[int] = 1

    def forward(self, prompts: Sequence[str], image_features: torch.Tensor) -> torch.Tensor:
        """2-class logits ``[B, 2]``."""
        return self.head_logits(prompts, image_features)[0]

    def value(self, prompts: Sequence[str], image_features: torch.Tensor) -> torch.Tensor:
        """The predicted success probability of the task from its first observation, ``[B]``."""
        return critic_success_probability(self(prompts, image_features))
