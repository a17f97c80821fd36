"""CoSo's entropy terms and soft actor loss on hand-computed cases, with their gradients."""

from __future__ import annotations

import math

import pytest
import torch

from coso.algorithms.coso import causal_entropy, soft_actor_loss, token_entropy, uniform_weights
from coso.algorithms.digirl import actor_loss
from coso.errors import ConfigError


def test_token_entropy_of_uniform_and_one_hot_distributions() -> None:
    logits = torch.zeros(1, 2, 4)
    logits[0, 1] = torch.tensor([0.0, -math.inf, -math.inf, -math.inf])
    logits.requires_grad_(True)
    entropy = token_entropy(logits)
    assert torch.allclose(entropy, torch.tensor([[math.log(4), 0.0]]))
    entropy.sum().backward()
    assert bool(torch.isfinite(logits.grad[0, 0]).all()) and not bool(torch.isnan(logits.grad).any())


def test_token_entropy_matches_the_definition_on_random_logits() -> None:
    logits = torch.randn(3, 5, 11, generator=torch.Generator().manual_seed(0))
    probs = logits.softmax(-1)
    assert torch.allclose(token_entropy(logits), -(probs * probs.log()).sum(-1), atol=1e-6)


def test_causal_entropy_token_mean_and_sum_hand_computed() -> None:
    entropies = torch.tensor([[1.0, 2.0, 3.0], [4.0, 4.0, 4.0]], requires_grad=True)
    weights = torch.tensor([[1.0, 0.0, 0.5], [0.5, 0.5, 0.5]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    token_mean = causal_entropy(entropies, weights, mask)
    assert torch.allclose(token_mean, torch.tensor([1.0 / 2, 6.0 / 3]))
    assert torch.allclose(causal_entropy(entropies, weights, mask, reduction="sum"), torch.tensor([1.0, 6.0]))
    token_mean.sum().backward()
    assert torch.allclose(entropies.grad, torch.tensor([[0.5, 0.0, 0.0], [0.5 / 3] * 3]))


def test_naive_entropy_is_uniform_weights_and_padding_does_not_matter() -> None:
    entropies = torch.tensor([[1.0, 3.0, math.nan]])  # a NaN behind the mask must not leak
    mask = torch.tensor([[1, 1, 0]])
    assert uniform_weights(mask).tolist() == [[1.0, 1.0, 0.0]]
    assert causal_entropy(entropies, uniform_weights(mask), mask).tolist() == [2.0]
    assert causal_entropy(torch.zeros(2, 0), torch.zeros(2, 0), torch.zeros(2, 0)).tolist() == [0.0, 0.0]


def test_causal_weights_are_constants_for_the_gradient() -> None:
    weights = torch.tensor([[0.5, 1.0]], requires_grad=True)
    entropies = torch.ones(1, 2, requires_grad=True)
    causal_entropy(entropies, weights, torch.ones(1, 2)).sum().backward()
    assert weights.grad is None and entropies.grad.tolist() == [[0.25, 0.5]]


def test_soft_actor_loss_subtracts_alpha_times_the_mean_entropy_of_every_sample() -> None:
    logprobs = torch.log(torch.tensor([[0.5, 0.5], [0.25, 0.5]])).requires_grad_(True)
    mask = torch.ones(2, 2)
    policy_loss = actor_loss(logprobs, mask, torch.tensor([1.0, 0.0]))  # the second sample is filtered out
    entropies = torch.tensor([1.0, 3.0], requires_grad=True)
    loss = soft_actor_loss(policy_loss, entropies, alpha=0.5)
    assert math.isclose(loss.item(), -math.log(0.25) / 2 - 0.5 * 2.0, rel_tol=1e-6)
    loss.backward()
    assert entropies.grad.tolist() == [-0.25, -0.25]  # the filtered sample still gets its entropy bonus
    assert soft_actor_loss(policy_loss, torch.ones(2), alpha=0.0).item() == policy_loss.item()
    assert soft_actor_loss(policy_loss, torch.zeros(0), alpha=1.0).item() == policy_loss.item()


def test_bad_entropy_options_are_named() -> None:
    with pytest.raises(ConfigError, match="alpha"):
        soft_actor_loss(torch.tensor(0.0), torch.ones(2), alpha=-1.0)
    with pytest.raises(ConfigError, match="alpha"):
        soft_actor_loss(torch.tensor(0.0), torch.ones(2), alpha=math.inf)
    with pytest.raises(ConfigError, match="reduction"):
        causal_entropy(torch.ones(1, 2), torch.ones(1, 2), torch.ones(1, 2), reduction="mean")
    with pytest.raises(ValueError, match="tokenisation"):
        causal_entropy(torch.ones(1, 2), torch.ones(1, 3), torch.ones(1, 2))
