"""Filtered behaviour cloning: negative log-likelihood of the actions of the trajectories a filter kept."""

from __future__ import annotations

from collections.abc import Callable

import torch

from coso.errors import ConfigError


def masked_mean(values: torch.Tensor, selected: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over the ``selected`` positions (0 when none); unselected entries are selected away,
    never multiplied, so -inf or NaN there stays harmless."""
    return torch.where(selected, values, torch.zeros_like(values)).sum() / selected.sum().clamp(min=1)


def _sequence_sum_nll(nll: torch.Tensor, mask: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Mean over kept utterances of their summed token NLL (the scale of DigiRL's actor loss with A = 1)."""
    per_sample = torch.where(mask, nll, torch.zeros_like(nll)).sum(dim=-1)
    return masked_mean(per_sample, keep)


def _token_mean_nll(nll: torch.Tensor, mask: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Mean over every kept token (long and short utterances weigh by their token counts)."""
    return masked_mean(nll, mask & keep[:, None])


BCReduction = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
BC_REDUCTIONS: dict[str, BCReduction] = {
    "sequence_sum": _sequence_sum_nll,
    "token_mean": _token_mean_nll,
}


def filtered_bc_loss(
    token_logprobs: torch.Tensor,
    mask: torch.Tensor,
    keep: torch.Tensor,
    *,
    reduction: str = "sequence_sum",
) -> torch.Tensor:
    """NLL of the kept rows' tokens [B, T] (keep [B] bool), reduced by BC_REDUCTIONS[reduction]; 0 if none kept.

    Masked-out positions are selected away (never multiplied), so padding holding -inf log-probs stays harmless.
    """
    if reduction not in BC_REDUCTIONS:
        raise ConfigError(f"unknown filtered BC reduction {reduction!r}; choose one of {sorted(BC_REDUCTIONS)}")
    if token_logprobs.shape != mask.shape:
        raise ValueError(
            f"token_logprobs {tuple(token_logprobs.shape)} and mask {tuple(mask.shape)} must have the same shape"
        )
    keep = keep.detach().reshape(-1)
    if token_logprobs.dim() != 2 or keep.numel() != token_logprobs.shape[0]:
        raise ValueError(
            f"filtered_bc_loss: token_logprobs must be [B, T] with one keep flag per row, "
            f"got {tuple(token_logprobs.shape)} and {keep.numel()} flags"
        )
    return BC_REDUCTIONS[reduction](-token_logprobs, mask.bool(), keep.bool())
