"""DigiRL's pure functions on hand-computed cases: step advantages, trajectory filters, actor and critic losses."""

from __future__ import annotations

import math

import pytest
import torch

from coso.algorithms import monte_carlo_returns
from coso.algorithms.digirl import (
    DIGIRL_PROB_CLAMP,
    NO_PROB_CLAMP,
    actor_loss,
    critic_success_probability,
    double_critic_value,
    offline_trajectory_filter,
    online_trajectory_filter,
    step_advantage,
    step_critic_loss,
    steps_of_kept_trajectories,
    top_fraction_mask,
    trajectory_critic_loss,
)
from coso.errors import ConfigError, TrainingError


def _t(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


# ---------------------------------------------------------------------------------------------------------------
# Step advantage


def test_reference_advantage_of_a_successful_three_step_trajectory() -> None:
    rewards = _t([0.0, 0.0, 1.0])
    returns = torch.from_numpy(monte_carlo_returns(rewards, gamma=0.5))
    assert returns.tolist() == [0.25, 0.5, 1.0]
    # raw = V(s') - V(s) - 0.05 + r + G = [0.5-0.9-0.05+0.25, 0.2-0.5-0.05+0.5, 0-0.2-0.05+1+1]
    values_s, values_next = _t([0.9, 0.5, 0.2]), _t([0.5, 0.2, 0.0])
    advantages = step_advantage(values_s, values_next, rewards, returns)
    assert advantages.tolist() == [0.0, 1.0, 1.0]  # raw = [-0.2, 0.15, 1.75]


def test_reference_advantage_of_a_failed_trajectory_keeps_only_the_improving_step() -> None:
    rewards = returns = _t([0.0, 0.0, 0.0])
    values_s, values_next = _t([0.3, 0.6, 0.4]), _t([0.6, 0.4, 0.0])
    assert step_advantage(values_s, values_next, rewards, returns).tolist() == [1.0, 0.0, 0.0]


def test_double_critic_values_take_the_minimum_over_heads() -> None:
    rewards = returns = _t([0.0, 0.0])
    heads_s = torch.tensor([[0.3, 0.1], [0.2, 0.2]])
    heads_next = torch.tensor([[0.9, 0.12], [0.3, 0.9]])
    # min: s = [0.1, 0.2], s' = [0.12, 0.3]; raw = [-0.03, 0.05]; the first head alone would keep both
    assert step_advantage(heads_s, heads_next, rewards, returns).tolist() == [0.0, 1.0]
    assert step_advantage(heads_s[:, 0], heads_next[:, 0], rewards, returns).tolist() == [1.0, 1.0]
    logits1 = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    logits2 = torch.tensor([[0.0, -1.0], [0.0, 2.0]])
    value = double_critic_value(logits1, logits2)
    assert torch.allclose(value, torch.tensor([1 / (1 + math.e), 1 / (1 + math.e**2)]))
    assert torch.allclose(critic_success_probability(torch.zeros(3, 2)), torch.full((3,), 0.5))


def test_doubly_robust_form_uses_the_one_over_horizon_threshold() -> None:
    rewards = returns = _t([0.0, 0.0, 0.0])
    # V(s') + r - V(s) = [0.08, 0.12, -0.3]: the reference keeps 0.08 - 0.05 > 0, the 1/H = 0.1 threshold does not
    values_s, values_next = _t([0.2, 0.2, 0.5]), _t([0.28, 0.32, 0.2])
    assert step_advantage(values_s, values_next, rewards, returns).tolist() == [1.0, 1.0, 0.0]
    doubly_robust = step_advantage(values_s, values_next, rewards, returns, form="doubly_robust", horizon=10)
    assert doubly_robust.tolist() == [0.0, 1.0, 0.0]


def test_doubly_robust_form_on_a_success_trusts_the_discounted_reward() -> None:
    rewards = _t([0.0, 0.0, 1.0])
    returns = torch.from_numpy(monte_carlo_returns(rewards, gamma=0.5))  # lambda^(H-h) r_H = [0.25, 0.5, 1]
    values_s, values_next = _t([0.9, 0.9, 0.9]), _t([0.1, 0.05, 0.0])
    # 0.25 + 0.75 * (0.1 - 0.9) = -0.35; 0.5 + 0.5 * (0.05 - 0.9) = 0.075 < 1/H; 1 + 0 * (...) = 1
    advantages = step_advantage(values_s, values_next, rewards, returns, form="doubly_robust", horizon=10)
    assert advantages.tolist() == [0.0, 0.0, 1.0]


def test_step_advantage_rejects_bad_options_and_shapes() -> None:
    ones = torch.ones(3)
    with pytest.raises(ConfigError, match="unknown step advantage form"):
        step_advantage(ones, ones, ones, ones, form="gae")
    with pytest.raises(ConfigError, match="horizon"):
        step_advantage(ones, ones, ones, ones, form="doubly_robust")
    with pytest.raises(ValueError, match="batch size"):
        step_advantage(ones, torch.ones(2), ones, ones)


def test_step_advantage_is_detached_and_empty_batch_is_empty() -> None:
    values = torch.rand(4, requires_grad=True)
    advantages = step_advantage(values, values, torch.zeros(4), torch.zeros(4))
    assert not advantages.requires_grad
    empty = torch.zeros(0)
    assert step_advantage(empty, empty, empty, empty).shape == (0,)


# ---------------------------------------------------------------------------------------------------------------
# Trajectory filters


def test_offline_filter_on_ten_trajectories_keeps_exactly_the_best_one() -> None:
    rewards = _t([0, 1, 0, 0, 0.5, 0, 0, 0, 0, 0])
    keep = offline_trajectory_filter(rewards)
    assert keep.dtype == torch.bool and keep.tolist() == [i == 1 for i in range(10)]


def test_online_filter_ranks_by_reward_minus_value() -> None:
    rewards = _t([1, 1, 0, 0, 1, 0, 0, 0, 0, 0])
    values = _t([0.9, 0.2, 0.0, 0.5, 0.6, 0.1, 0.0, 0.0, 0.3, 0.0])
    # surprise = [0.1, 0.8, 0, -0.5, 0.4, -0.1, 0, 0, -0.3, 0]
    assert online_trajectory_filter(rewards, values).nonzero().flatten().tolist() == [1]
    assert online_trajectory_filter(rewards, values, top_fraction=0.3).nonzero().flatten().tolist() == [0, 1, 4]
    heads = torch.stack([values, values + 0.05], dim=1)  # [N, 2] heads: min is taken
    assert torch.equal(online_trajectory_filter(rewards, heads, top_fraction=0.3), online_trajectory_filter(
        rewards, values, top_fraction=0.3))


def test_filter_ties_go_to_the_lower_index_and_at_least_one_is_kept() -> None:
    assert top_fraction_mask(_t([0, 0, 0, 0]), 0.5).tolist() == [True, True, False, False]
    assert top_fraction_mask(_t([0, 2, 2, 1]), 0.25).tolist() == [False, True, False, False]
    assert offline_trajectory_filter(_t([0, 0, 1]), top_fraction=0.1).tolist() == [False, False, True]
    assert offline_trajectory_filter(_t([3.0]), top_fraction=0.1).tolist() == [True]
    # floor(0.1 * 16) = 1, as the reference's int(); floor(0.25 * 10) = 2
    assert int(offline_trajectory_filter(torch.arange(16.0)).sum()) == 1
    assert offline_trajectory_filter(torch.arange(10.0), top_fraction=0.25).nonzero().flatten().tolist() == [8, 9]
    assert offline_trajectory_filter(torch.zeros(0)).shape == (0,)


def test_filters_reject_bad_fractions_and_non_finite_scores() -> None:
    for fraction in (0.0, -0.1, 1.5, float("nan")):
        with pytest.raises(ConfigError, match="top_fraction"):
            offline_trajectory_filter(_t([1, 0]), top_fraction=fraction)
    with pytest.raises(TrainingError, match="non-finite"):
        online_trajectory_filter(_t([1, 0]), _t([float("nan"), 0]))
    with pytest.raises(ValueError):
        online_trajectory_filter(_t([1, 0]), _t([0, 0, 0]))


def test_steps_of_kept_trajectories_expands_the_mask() -> None:
    keep = torch.tensor([False, True, False])
    assert steps_of_kept_trajectories(keep, torch.tensor([0, 0, 1, 1, 1, 2])).tolist() == [
        False, False, True, True, True, False]


# ---------------------------------------------------------------------------------------------------------------
# Actor loss


def test_actor_loss_hand_computed_and_gradients_only_where_advantage_is_nonzero() -> None:
    probs = torch.tensor([[0.5, 0.25, 0.5], [0.5, 0.5, 0.5]])
    logprobs = probs.log().requires_grad_(True)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    loss = actor_loss(logprobs, mask, torch.tensor([1.0, 0.0]))
    assert math.isclose(loss.item(), -(math.log(0.5) + math.log(0.25)) / 2, rel_tol=1e-6)
    loss.backward()
    assert logprobs.grad.tolist() == [[-0.5, -0.5, 0.0], [0.0, 0.0, 0.0]]


def test_actor_loss_probability_clamp_is_digirls_and_can_be_disabled() -> None:
    probs = torch.tensor([[0.999, 0.0001, 0.5]])
    logprobs = probs.log().requires_grad_(True)
    mask = torch.ones(1, 3)
    clamped = actor_loss(logprobs, mask, torch.ones(1))
    assert DIGIRL_PROB_CLAMP == (0.001, 0.99)
    assert math.isclose(clamped.item(), -(math.log(0.99) + math.log(0.001) + math.log(0.5)), rel_tol=1e-5)
    clamped.backward()
    assert logprobs.grad.tolist() == [[0.0, 0.0, -1.0]]  # clamped tokens get no gradient
    free = actor_loss(probs.log(), mask, torch.ones(1), prob_clamp=NO_PROB_CLAMP)
    assert math.isclose(free.item(), -float(probs.log().sum()), rel_tol=1e-6)
    with pytest.raises(ConfigError, match="prob_clamp"):
        actor_loss(probs.log(), mask, torch.ones(1), prob_clamp=(0.5, 0.1))


def test_actor_loss_padding_does_not_change_the_loss_and_empty_batch_is_zero() -> None:
    logprobs = torch.log(torch.tensor([[0.2, 0.3], [0.4, 0.6]]))
    mask = torch.ones(2, 2)
    advantages = torch.tensor([1.0, 1.0])
    padded = torch.cat([logprobs, torch.full((2, 3), -math.inf)], dim=1)
    padded_mask = torch.cat([mask, torch.zeros(2, 3)], dim=1)
    assert torch.equal(actor_loss(logprobs, mask, advantages), actor_loss(padded, padded_mask, advantages))
    empty = torch.zeros(0, 4, requires_grad=True)
    loss = actor_loss(empty, torch.zeros(0, 4), torch.zeros(0))
    loss.backward()
    assert loss.item() == 0.0
    with pytest.raises(ValueError, match="advantages"):
        actor_loss(logprobs, mask, torch.ones(3))


# ---------------------------------------------------------------------------------------------------------------
# Critic losses


def test_step_critic_loss_applies_the_target_to_both_states_by_default() -> None:
    logits = [torch.zeros(3, 2, requires_grad=True) for _ in range(4)]
    returns = _t([0.0, 0.25, 1.0])
    loss = step_critic_loss(*logits, returns)
    assert math.isclose(loss.item(), 4 * math.log(2), rel_tol=1e-6)
    loss.backward()
    # d CE / d logits = (softmax - onehot) / B: targets [0, 1, 1]
    expected = torch.tensor([[-0.5, 0.5], [0.5, -0.5], [0.5, -0.5]]) / 3
    for tensor in logits:
        assert torch.allclose(tensor.grad, expected)


def test_step_critic_loss_can_leave_the_next_state_out() -> None:
    logits = [torch.zeros(2, 2, requires_grad=True) for _ in range(4)]
    loss = step_critic_loss(*logits, _t([0.0, 1.0]), include_next=False)
    assert math.isclose(loss.item(), 2 * math.log(2), rel_tol=1e-6)
    loss.backward()
    assert logits[2].grad is None and logits[3].grad is None
    with pytest.raises(ValueError, match=r"\[B, 2\]"):
        step_critic_loss(torch.zeros(2, 3), *logits[1:], _t([0.0, 1.0]))


def test_trajectory_critic_loss_is_cross_entropy_on_success() -> None:
    logits = torch.tensor([[0.0, 10.0], [0.0, 10.0]], requires_grad=True)
    loss = trajectory_critic_loss(logits, _t([1.0, 0.0]))
    expected = (math.log1p(math.exp(-10.0)) + math.log1p(math.exp(10.0))) / 2
    assert math.isclose(loss.item(), expected, rel_tol=1e-5)
    loss.backward()
    assert logits.grad is not None and bool(torch.isfinite(logits.grad).all())
    assert trajectory_critic_loss(torch.zeros(0, 2), torch.zeros(0)).item() == 0.0
