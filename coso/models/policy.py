"""What the trainer, the agents and the algorithms need of a policy, and loading a saved one of any kind.

Two policies implement it: the built-in AutoUI policy (``coso.models.autoui``) and a local Hugging Face VLM
(``coso.models.hf_vlm``). A saved policy directory says which it is by its config file's name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from coso.models.autoui import AutoUIPolicy, TokenStats
from coso.models.constrained import GrammarConstraint
from coso.models.hf_vlm import HFVLMPolicy


@runtime_checkable
class Policy(Protocol):
    """Writes action texts from (prompts, stacked screen features) and scores them token by token."""

    tokenizer: Any  # the policy's tokenizer: the causal model and the built-in critics read its ids
    config: Any

    @property
    def device(self) -> torch.device:
        """Where the weights live."""

    @property
    def null_token_id(self) -> int:
        """The ``<null>`` token id (CoSo's counterfactual masking)."""

    def generate(self, prompts: Sequence[str], image_features: torch.Tensor, *, do_sample: bool = True,
                 temperature: float = 1.0, max_new_tokens: int = 128, generator: torch.Generator | None = None,
                 constraint: GrammarConstraint | None = None) -> list[str]:
        """One action text per observation (sampled, or greedy when ``do_sample`` is False)."""

    def token_stats(self, prompts: Sequence[str], image_features: torch.Tensor,
                    actions: Sequence[str]) -> TokenStats:
        """Teacher-forced per-token log pi, entropies and mask of ``actions`` (differentiable)."""

    def __call__(self, prompts: Sequence[str], image_features: torch.Tensor, actions: Sequence[str]) -> TokenStats:
        """``token_stats`` through the module call (what DDP / accelerate wrap)."""

    def parameters(self, recurse: bool = True) -> Iterator[torch.nn.Parameter]:
        """The weights (frozen ones included; the optimiser skips those without gradients)."""

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Write the policy so that ``load_policy`` reads it back."""


POLICY_CLASSES: tuple[type, ...] = (HFVLMPolicy, AutoUIPolicy)  # by the config file each writes (CONFIG_NAME)


def load_policy(directory: str | os.PathLike) -> Policy:
    """A policy written by ``save_pretrained``, of whichever kind its config file names (AutoUI when none does,
    whose loader then says what is missing)."""
    return (saved_policy_class(directory) or AutoUIPolicy).from_pretrained(directory)


def saved_policy_class(directory: str | os.PathLike) -> type | None:
    """The policy class whose config file ``directory`` holds, or None."""
    path = Path(directory)
    return next((cls for cls in POLICY_CLASSES if (path / cls.CONFIG_NAME).is_file()), None)
