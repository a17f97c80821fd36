"""AFSFT's pure functions on hand-computed cases: token MDP, values, TD, Polyak, PopArt, stop-gradients, filter."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from coso.algorithms import (
    REFERENCE_POLYAK_TAU,
    PopArtStatistics,
    advantage_filter,
    afsft_head_outputs,
    afsft_loss,
    epsilon_greedy,
    filter_beta,
    filtered_sft_loss,
    next_state_values,
    polyak_update_,
    popart_preserve,
    popart_update_statistics,
    state_value,
    taken_q_values,
    td_loss,
    td_targets,
    turn_to_token_mdp,
)
from coso.errors import ConfigError, TrainingError
from coso.models.q_head import QHead


def _t(values: list) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def _two_turn_episode(discount: str = "token"):
    """Turn 0 (tokens at 0..2, reward 0) then turn 1 (tokens at 1..2, left-padded, reward 1, done)."""
    mask = torch.tensor([[1, 1, 1, 0], [0, 1, 1, 0]], dtype=torch.bool)
    return turn_to_token_mdp(
        _t([0.0, 1.0]), _t([0.0, 1.0]), mask, torch.tensor([1, -1]), gamma=0.5, discount=discount
    )


# ---------------------------------------------------------------------------------------------------------------
# Turn -> token MDP


def test_turn_reward_and_done_sit_on_the_last_token_and_next_states_chain_across_turns() -> None:
    mdp = _two_turn_episode()
    assert mdp.rewards.tolist() == [[0, 0, 0, 0], [0, 0, 1, 0]]
    assert mdp.dones.tolist() == [[0, 0, 0, 0], [0, 0, 1, 0]]
    assert mdp.last_token.tolist() == [[False, False, True, False], [False, False, True, False]]
    # inside a turn s' is the next token; the last token of turn 0 goes to turn 1's first action token (1)
    assert mdp.next_row.tolist() == [[0, 0, 1, -1], [-1, 1, -1, -1]]
    assert mdp.next_position.tolist() == [[1, 2, 1, -1], [-1, 2, -1, -1]]
    assert mdp.discounts.tolist() == [[0.5, 0.5, 0.5, 0], [0, 0.5, 0.5, 0]]


def test_turn_discount_mode_discounts_only_at_the_turn_boundary() -> None:
    assert _two_turn_episode("turn").discounts.tolist() == [[1, 1, 0.5, 0], [0, 1, 0.5, 0]]


def test_next_turn_from_a_separate_inference_only_batch() -> None:
    mask = torch.tensor([[1, 1, 0, 0]], dtype=torch.bool)
    next_mask = torch.tensor([[0, 0, 0, 0], [0, 0, 1, 1]], dtype=torch.bool)
    mdp = turn_to_token_mdp(_t([0.5]), _t([0.0]), mask, torch.tensor([1]), gamma=0.9, next_action_mask=next_mask)
    assert mdp.next_row.tolist() == [[0, 1, -1, -1]]
    assert mdp.next_position.tolist() == [[1, 2, -1, -1]]
    assert mdp.crosses_turn.tolist() == [[False, True, False, False]]
    values, next_turn_values = _t([[3, 4, 0, 0]]), _t([[0, 0, 0, 0], [0, 0, 7, 8]])
    # token 0 -> token 1 of its own turn (4); token 1 -> first action token of next-turn row 1 (7)
    next_values = next_state_values(values, mdp, next_turn_values)
    assert next_values.tolist() == [[4, 7, 0, 0]]
    assert td_targets(mdp, next_values)[0].tolist() == pytest.approx([0.9 * 4, 0.5 + 0.9 * 7, 0, 0])
    with pytest.raises(ValueError, match="separate batch"):
        next_state_values(values, mdp)


def test_turn_to_token_mdp_rejects_bad_inputs() -> None:
    mask = torch.tensor([[1, 1]], dtype=torch.bool)
    with pytest.raises(ValueError, match="not done"):
        turn_to_token_mdp(_t([0.0]), _t([0.0]), mask, torch.tensor([-1]), gamma=0.9)
    with pytest.raises(ValueError, match="no action token"):
        turn_to_token_mdp(_t([1.0]), _t([1.0]), torch.zeros(1, 2, dtype=torch.bool), torch.tensor([-1]), gamma=0.9)
    with pytest.raises(ConfigError, match="discount mode"):
        turn_to_token_mdp(_t([1.0]), _t([1.0]), mask, torch.tensor([-1]), gamma=0.9, discount="episode")
    with pytest.raises(ConfigError, match="gamma"):
        turn_to_token_mdp(_t([1.0]), _t([1.0]), mask, torch.tensor([-1]), gamma=1.5)


# ---------------------------------------------------------------------------------------------------------------
# Values and TD targets


def test_td_targets_bootstrap_from_the_next_token_and_the_next_turn() -> None:
    mdp = _two_turn_episode()
    values = _t([[1, 2, 3, 9], [4, 5, 6, 9]])
    next_values = next_state_values(values, mdp)
    assert next_values.tolist() == [[2, 3, 5, 0], [0, 6, 0, 0]]
    # y = r + 0.5 (1 - d) V(s'): turn 0 [0.5*2, 0.5*3, 0.5*5]; turn 1 [0.5*6, 1 + 0]
    assert td_targets(mdp, next_values).tolist() == [[1.0, 1.5, 2.5, 0], [0, 3.0, 1.0, 0]]


def test_state_value_is_the_policy_expectation_of_q_or_its_max() -> None:
    q_values = _t([[1.0, 3.0]]).requires_grad_()
    logits = torch.tensor([[0.0, math.log(3.0)]])  # pi = [0.25, 0.75]
    expected = state_value(q_values, logits)
    assert expected.tolist() == pytest.approx([0.25 * 1 + 0.75 * 3])
    assert not expected.requires_grad
    assert state_value(q_values, form="max").tolist() == [3.0]
    with pytest.raises(ConfigError, match="state value form"):
        state_value(q_values, logits, form="softmax")
    with pytest.raises(ValueError, match="logits"):
        state_value(q_values)
    with pytest.raises(TrainingError):
        state_value(_t([[math.nan, 1.0]]), logits)


def test_taken_q_values_gathers_the_dataset_tokens() -> None:
    q_values = _t([[[1, 2, 3], [4, 5, 6]]])
    assert taken_q_values(q_values, torch.tensor([[2, 0]])).tolist() == [[3, 4]]
    with pytest.raises(ValueError):
        taken_q_values(q_values, torch.tensor([[2, 0, 1]]))


def test_td_loss_on_the_popart_scale_and_on_the_raw_scale() -> None:
    q_taken = _t([[0.5, 2.0, 100.0]])
    targets = _t([[3.0, 5.0, 0.0]])
    mask = torch.tensor([[1, 1, 0]], dtype=torch.bool)
    # normalised targets (y - 1) / 2 = [1, 2]; errors [-0.5, 0]; mean of squares over 2 tokens
    assert td_loss(q_taken, targets, mask, mean=1.0, std=2.0).item() == pytest.approx(0.125)
    assert td_loss(q_taken, targets, mask).item() == pytest.approx((2.5**2 + 3.0**2) / 2)
    assert td_loss(q_taken, targets, torch.zeros_like(mask)).item() == 0.0


# ---------------------------------------------------------------------------------------------------------------
# Polyak target and PopArt


def test_polyak_update_moves_the_target_by_tau_and_copies_buffers() -> None:
    online, target = QHead(2, 3), QHead(2, 3)
    with torch.no_grad():
        online.linear.weight.fill_(1.0)
        online.linear.bias.fill_(-1.0)
        target.linear.weight.zero_()
        target.linear.bias.zero_()
        online.popart_mean.fill_(0.3)
    polyak_update_(target, online)
    assert REFERENCE_POLYAK_TAU == 0.008
    assert torch.allclose(target.linear.weight, torch.full((3, 2), 0.008))
    assert torch.allclose(target.linear.bias, torch.full((3,), -0.008))
    assert target.popart_mean.item() == pytest.approx(0.3)
    with pytest.raises(ConfigError, match="tau"):
        polyak_update_(target, online, tau=0.0)


def test_popart_statistics_follow_the_hand_computed_moments() -> None:
    stats = PopArtStatistics(mean=torch.tensor(0.0), second_moment=torch.tensor(1.0))
    assert stats.std().item() == pytest.approx(1.0)
    new = popart_update_statistics(stats, _t([10.0, 20.0, 30.0, 99.0]), torch.tensor([1, 1, 1, 0]), rate=0.5)
    assert new.mean.item() == pytest.approx(10.0)
    assert new.second_moment.item() == pytest.approx(0.5 + 0.5 * 1400 / 3)
    assert new.std().item() == pytest.approx(math.sqrt(0.5 + 0.5 * 1400 / 3 - 100))
    with pytest.raises(ConfigError, match="rate"):
        popart_update_statistics(stats, _t([1.0]), rate=0.0)


def test_popart_preserve_keeps_the_unnormalised_output_by_hand() -> None:
    weight, bias = popart_preserve(_t([[2.0]]), _t([1.0]), *map(torch.tensor, (0.0, 1.0, 1.0, 2.0)))
    assert weight.tolist() == [[1.0]] and bias.tolist() == [0.0]
    hidden = 3.0
    assert 2.0 * (weight.item() * hidden + bias.item()) + 1.0 == 1.0 * (2.0 * hidden + 1.0) + 0.0


def test_q_head_statistics_update_preserves_q_of_the_head_and_of_its_target() -> None:
    torch.manual_seed(0)
    online = QHead(4, 6, popart_rate=0.3)
    target = copy.deepcopy(online)
    with torch.no_grad():
        target.linear.weight.mul_(0.5)
    hidden = torch.randn(5, 4)
    before_online, before_target = online.q_values(hidden), target.q_values(hidden)
    for targets in (_t([10.0, 20.0, 30.0]), _t([-5.0, 40.0]), _t([1000.0])):
        online.update_statistics(targets, followers=[target])
    assert online.popart_mean.item() != 0.0 and online.std().item() != pytest.approx(1.0)
    assert torch.allclose(online.q_values(hidden), before_online, rtol=1e-4, atol=1e-3)
    assert torch.allclose(target.q_values(hidden), before_target, rtol=1e-4, atol=1e-3)
    assert torch.allclose(online.unnormalise(online.normalise(_t([3.0, -2.0]))), _t([3.0, -2.0]), atol=1e-4)
    stranger = QHead(4, 6)
    with torch.no_grad():
        stranger.popart_mean.fill_(9.0)
    with pytest.raises(ValueError, match="share"):
        online.update_statistics(_t([1.0]), followers=[stranger])


# ---------------------------------------------------------------------------------------------------------------
# Stop-gradients: LM head <- actor, Q head <- TD, trunk <- both


def _heads_and_losses(critic_trunk_gradient: bool = True):
    torch.manual_seed(1)
    trunk, lm_head, q_head = nn.Linear(3, 4), nn.Linear(4, 5), QHead(4, 5)
    hidden = trunk(torch.randn(2, 3, 3))  # [N=2 turns, T=3 tokens, H=4]
    outputs = afsft_head_outputs(hidden, lm_head, q_head, critic_trunk_gradient=critic_trunk_gradient)
    tokens = torch.tensor([[1, 2, 0], [4, 3, 3]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]], dtype=torch.bool)
    logprobs = torch.log_softmax(outputs.policy_logits, dim=-1).gather(-1, tokens[..., None]).squeeze(-1)
    values = state_value(outputs.q_values_for_actor, outputs.policy_logits_for_critic)
    token_filter = advantage_filter(taken_q_values(outputs.q_values_for_actor, tokens), values, -math.inf, mask)
    actor = filtered_sft_loss(logprobs, mask, token_filter)
    critic = td_loss(taken_q_values(outputs.q_normalised, tokens), torch.ones(2, 3), mask)
    return (trunk, lm_head, q_head), actor, critic


def _grads(loss: torch.Tensor, modules) -> list[torch.Tensor | None]:
    params = [m.weight if isinstance(m, nn.Linear) else m.linear.weight for m in modules]
    return list(torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True))


def test_actor_loss_trains_the_lm_head_and_trunk_but_never_the_q_head() -> None:
    modules, actor, _ = _heads_and_losses()
    trunk_grad, lm_grad, q_grad = _grads(actor, modules)
    assert q_grad is None
    assert trunk_grad is not None and trunk_grad.abs().sum() > 0
    assert lm_grad is not None and lm_grad.abs().sum() > 0


def test_td_loss_trains_the_q_head_and_trunk_but_never_the_lm_head() -> None:
    modules, _, critic = _heads_and_losses()
    trunk_grad, lm_grad, q_grad = _grads(critic, modules)
    assert lm_grad is None
    assert trunk_grad is not None and trunk_grad.abs().sum() > 0
    assert q_grad is not None and q_grad.abs().sum() > 0


def test_joint_loss_routes_each_term_to_its_head_and_the_cut_trunk_option() -> None:
    modules, actor, critic = _heads_and_losses()
    joint = afsft_loss(actor, critic, td_coeff=0.5)
    assert joint.item() == pytest.approx(actor.item() + 0.5 * critic.item())
    trunk_grad, lm_grad, q_grad = _grads(joint, modules)
    assert torch.allclose(lm_grad, _grads(actor, modules)[1])
    assert torch.allclose(q_grad, 0.5 * _grads(critic, modules)[2])
    cut_modules, _, cut_critic = _heads_and_losses(critic_trunk_gradient=False)
    assert _grads(cut_critic, cut_modules)[0] is None


def test_afsft_loss_rejects_bad_coefficients_and_non_finite_losses() -> None:
    assert afsft_loss(torch.tensor(1.0), torch.tensor(4.0), 0.5).item() == 3.0
    with pytest.raises(ConfigError, match="lambda"):
        afsft_loss(torch.tensor(1.0), torch.tensor(4.0), -1.0)
    with pytest.raises(TrainingError):
        afsft_loss(torch.tensor(1.0), torch.tensor(math.inf), 0.5)


# ---------------------------------------------------------------------------------------------------------------
# Filter, schedule, filtered SFT


def test_advantage_filter_keeps_tokens_whose_q_minus_v_reaches_beta() -> None:
    q_taken, values = _t([[1.0, 2.0, 3.0]]), _t([[2.0, 2.0, 2.0]])
    assert advantage_filter(q_taken, values, 0.0).tolist() == [[0, 1, 1]]
    assert advantage_filter(q_taken, values, 0.5).tolist() == [[0, 0, 1]]
    assert advantage_filter(q_taken, values, -math.inf).tolist() == [[1, 1, 1]]  # plain SFT
    assert advantage_filter(q_taken, values, 0.0, torch.tensor([[1, 1, 0]])).tolist() == [[0, 1, 0]]
    for bad in (math.nan, math.inf):
        with pytest.raises(ConfigError, match="beta"):
            advantage_filter(q_taken, values, bad)


def test_beta_schedule_goes_from_plain_sft_to_the_filtering_value() -> None:
    assert filter_beta(0, beta=0.0, warmup_steps=300) == -math.inf
    assert filter_beta(299, beta=0.0, warmup_steps=300) == -math.inf
    assert filter_beta(300, beta=0.0, warmup_steps=300) == 0.0
    ramp = dict(beta=0.0, warmup_steps=100, form="linear", ramp_steps=100, ramp_from=-1.0)
    assert [filter_beta(s, **ramp) for s in (99, 100, 150, 200, 500)] == [-math.inf, -1.0, -0.5, 0.0, 0.0]
    with pytest.raises(ConfigError, match="schedule"):
        filter_beta(0, beta=0.0, warmup_steps=1, form="cosine")
    with pytest.raises(ConfigError, match="finite"):
        filter_beta(0, beta=-math.inf, warmup_steps=1)
    with pytest.raises(ConfigError, match=">= 0"):
        filter_beta(0, beta=0.0, warmup_steps=-1)


def test_filtered_sft_loss_by_hand_with_padding_behind_the_mask() -> None:
    logprobs = _t([[-1.0, -2.0, -math.inf]])
    mask = torch.tensor([[1, 1, 0]], dtype=torch.bool)
    token_filter = _t([[1.0, 0.0, 1.0]])
    assert filtered_sft_loss(logprobs, mask, token_filter).item() == pytest.approx(0.5)  # 1 / 2 action tokens
    assert filtered_sft_loss(logprobs, mask, token_filter, reduction="kept_tokens").item() == pytest.approx(1.0)
    assert filtered_sft_loss(logprobs, mask, torch.ones(1, 3)).item() == pytest.approx(1.5)  # plain SFT
    assert filtered_sft_loss(logprobs, mask, torch.zeros(1, 3)).item() == 0.0
    with pytest.raises(ConfigError, match="reduction"):
        filtered_sft_loss(logprobs, mask, token_filter, reduction="sum")


# ---------------------------------------------------------------------------------------------------------------
# Exploration


def test_epsilon_greedy_swaps_in_the_random_valid_action_below_epsilon() -> None:
    chosen, explored = epsilon_greedy(["a", "b", "c"], ["x", "y", "z"], 0.5, [0.1, 0.5, 0.9])
    assert chosen == ["x", "b", "c"] and explored == [True, False, False]
    assert epsilon_greedy(["a"], ["x"], 0.0, torch.tensor([0.0]))[0] == ["a"]
    assert epsilon_greedy(["a"], ["x"], 1.0, [0.999])[0] == ["x"]
    with pytest.raises(ConfigError, match="epsilon"):
        epsilon_greedy(["a"], ["x"], 1.5, [0.1])
    with pytest.raises(ValueError):
        epsilon_greedy(["a", "b"], ["x"], 0.5, [0.1, 0.2])


# ---------------------------------------------------------------------------------------------------------------
# The pieces together


def test_td_with_polyak_and_popart_learns_the_discounted_token_returns() -> None:
    """One turn of two tokens, reward 2 at the end, gamma 0.5: Q(s0, a0) -> 0.5 * V(s1) = 1, Q(s1, a1) -> 2."""
    torch.manual_seed(2)
    hidden = torch.randn(1, 2, 4)
    tokens = torch.tensor([[0, 1]])
    policy_logits = torch.tensor([[[20.0, -20.0], [-20.0, 20.0]]])  # pi picks the dataset's tokens
    mask = torch.ones(1, 2, dtype=torch.bool)
    mdp = turn_to_token_mdp(_t([2.0]), _t([1.0]), mask, torch.tensor([-1]), gamma=0.5)
    online = QHead(4, 2, popart_rate=0.05)
    target = copy.deepcopy(online)
    optimiser = torch.optim.Adam(online.parameters(), lr=0.05)
    for _ in range(400):
        with torch.no_grad():
            next_v = next_state_values(state_value(target.q_values(hidden), policy_logits), mdp)
        targets = td_targets(mdp, next_v)
        online.update_statistics(targets, mask, followers=[target])
        loss = td_loss(
            taken_q_values(online(hidden), tokens), targets, mask, mean=online.popart_mean, std=online.std()
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        polyak_update_(target, online, tau=0.1)
    learned = taken_q_values(online.q_values(hidden), tokens)
    assert learned.tolist()[0] == pytest.approx([1.0, 2.0], abs=0.05)
