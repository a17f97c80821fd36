"""Filtered BC's loss on hand-computed cases: reductions, kept rows only, padding and empty selections."""

from __future__ import annotations

import math

import pytest
import torch

from coso.algorithms.filtered_bc import filtered_bc_loss
from coso.errors import ConfigError

_INF = math.inf


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    logprobs = torch.tensor([[-1.0, -2.0, -_INF], [-3.0, -_INF, -_INF], [-4.0, -4.0, -4.0]], requires_grad=True)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1]])
    keep = torch.tensor([True, False, True])
    return logprobs, mask, keep


def test_sequence_sum_is_the_mean_summed_nll_of_kept_rows() -> None:
    logprobs, mask, keep = _batch()
    loss = filtered_bc_loss(logprobs, mask, keep)
    assert math.isclose(loss.item(), ((1 + 2) + 12) / 2, rel_tol=1e-6)
    loss.backward()
    assert logprobs.grad.tolist() == [[-0.5, -0.5, 0.0], [0.0, 0.0, 0.0], [-0.5, -0.5, -0.5]]


def test_token_mean_averages_over_every_kept_token() -> None:
    logprobs, mask, keep = _batch()
    loss = filtered_bc_loss(logprobs, mask, keep, reduction="token_mean")
    assert math.isclose(loss.item(), (1 + 2 + 12) / 5, rel_tol=1e-6)
    loss.backward()
    assert torch.allclose(logprobs.grad, -torch.tensor([[1, 1, 0], [0, 0, 0], [1, 1, 1]]) / 5)


def test_nothing_kept_gives_a_finite_zero_loss_with_gradient() -> None:
    logprobs, mask, _ = _batch()
    loss = filtered_bc_loss(logprobs, mask, torch.zeros(3, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0.0 and bool(torch.isfinite(logprobs.grad).all())
    assert filtered_bc_loss(torch.zeros(0, 4), torch.zeros(0, 4), torch.zeros(0, dtype=torch.bool)).item() == 0.0


def test_extra_padding_does_not_change_the_loss() -> None:
    logprobs, mask, keep = _batch()
    padded = torch.cat([logprobs.detach(), torch.full((3, 4), -_INF)], dim=1)
    padded_mask = torch.cat([mask, torch.zeros(3, 4, dtype=mask.dtype)], dim=1)
    for reduction in ("sequence_sum", "token_mean"):
        assert torch.equal(
            filtered_bc_loss(logprobs.detach(), mask, keep, reduction=reduction),
            filtered_bc_loss(padded, padded_mask, keep, reduction=reduction),
        )


def test_bad_inputs_are_named() -> None:
    logprobs, mask, keep = _batch()
    with pytest.raises(ConfigError, match="reduction"):
        filtered_bc_loss(logprobs, mask, keep, reduction="mean")
    with pytest.raises(ValueError, match="keep flag"):
        filtered_bc_loss(logprobs, mask, keep[:2])
    with pytest.raises(ValueError, match="same shape"):
        filtered_bc_loss(logprobs, mask[:, :2], keep)
