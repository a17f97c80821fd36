"""AFSFT ("VLM Q-Learning", advantage-filtered SFT) as pure functions of tensors.

One policy carries two heads on the same hidden states: the language head (the actor, trained by SFT on the
dataset's tokens) and a Q head over the vocabulary (the critic, trained by one-step TD). Each action token is an
RL step; the actor's SFT loss is masked by the filter 1[Q(s, a) - V(s) >= beta]. Reference: reference-notes §4.

Conventions (those of :mod:`coso.algorithms.digirl`):

- tensors are aligned with the action tokens: ``[N, T]`` per token of ``N`` turns, ``[N, T, V]`` per vocabulary
  entry, where position ``t`` holds the outputs that predict token ``t`` (the token's *state*);
- targets, values and filter masks come back detached; padding is selected away with ``torch.where``;
- option values a user sets in a config raise :class:`coso.errors.ConfigError`, mismatched shapes
  ``ValueError``, non-finite model outputs :class:`coso.errors.TrainingError`.

Several equations are reconstructed from the paper's prose; each such choice is named in its docstring and the
alternative is a registry entry (``DISCOUNT_MODES``, ``STATE_VALUE_FORMS``, ``BETA_SCHEDULES``,
``SFT_REDUCTIONS``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import torch
from torch import nn

from coso.algorithms.filtered_bc import masked_mean
from coso.errors import ConfigError, TrainingError

# The paper's Polyak rate for the target copy: target <- (1 - tau) target + tau online.
REFERENCE_POLYAK_TAU = 0.008
# The filter value of plain SFT: every finite advantage passes 1[A >= -inf].
SFT_BETA = -math.inf
# PopArt's default statistics rate and the bounds on its scale (keeps 1/sigma finite).
POPART_RATE = 5e-4
POPART_MIN_STD = 1e-4
POPART_MAX_STD = 1e6

ActionT = TypeVar("ActionT")


# --------------------------------------------------------------------------------------------------------------
# Turn -> token MDP


@dataclass(frozen=True)
class TokenMDP:
    """Per-token transitions [N, T] of a batch of turns; a turn's last token points into the next-turn batch."""

    mask: torch.Tensor  # bool [N, T]: the action tokens
    rewards: torch.Tensor  # float [N, T]: the turn's reward on its last token, 0 elsewhere
    dones: torch.Tensor  # float [N, T]: the turn's done on its last token, 0 elsewhere
    discounts: torch.Tensor  # float [N, T]: the discount applied to V(s') at each step
    last_token: torch.Tensor  # bool [N, T]: the last action token of each turn
    next_row: torch.Tensor  # long [N, T]: row of s' (this batch inside a turn, the next-turn batch at its end)
    next_position: torch.Tensor  # long [N, T]: position of s' in that row, -1 where there is none
    crosses_turn: torch.Tensor  # bool [N, T]: s' is the next turn's first state (last token, not done)
    separate_next_batch: bool  # the next turns' states are rows of a separate inference-only batch


def _token_discount(gamma: float, mask: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """Every token step discounts by gamma: the literal token MDP (a turn of k tokens discounts by gamma^k)."""
    del last
    gammas = torch.full(mask.shape, gamma, device=mask.device)
    return torch.where(mask, gammas, torch.zeros_like(gammas))


def _turn_discount(gamma: float, mask: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """Steps inside a turn are undiscounted and the turn boundary discounts by gamma: the turn-level horizon."""
    ones, zeros = torch.ones(mask.shape, device=mask.device), torch.zeros(mask.shape, device=mask.device)
    return torch.where(last, torch.full(mask.shape, gamma, device=mask.device), torch.where(mask, ones, zeros))


DiscountMode = Callable[[float, torch.Tensor, torch.Tensor], torch.Tensor]
DISCOUNT_MODES: dict[str, DiscountMode] = {
    "token": _token_discount,
    "turn": _turn_discount,
}


def _first_positions(mask: torch.Tensor) -> torch.Tensor:
    """Index [N] of each row's first True (T when the row has none)."""
    width = mask.shape[-1]
    positions = torch.arange(width, device=mask.device).expand_as(mask)
    return torch.where(mask, positions, torch.full_like(positions, width)).min(dim=-1).values


def _last_positions(mask: torch.Tensor) -> torch.Tensor:
    """Index [N] of each row's last True (-1 when the row has none)."""
    positions = torch.arange(mask.shape[-1], device=mask.device).expand_as(mask)
    return torch.where(mask, positions, torch.full_like(positions, -1)).max(dim=-1).values


def _following_positions(mask: torch.Tensor) -> torch.Tensor:
    """For each position [N, T], the next masked position of the same row (T when there is none)."""
    width = mask.shape[-1]
    positions = torch.arange(width, device=mask.device).expand_as(mask)
    candidates = torch.where(mask, positions, torch.full_like(positions, width))
    # suffix minimum over positions > t: flip, cumulative min, flip, shift left by one
    suffix_min = torch.flip(torch.cummin(torch.flip(candidates, dims=[-1]), dim=-1).values, dims=[-1])
    pad = torch.full_like(suffix_min[:, :1], width)
    return torch.cat([suffix_min[:, 1:], pad], dim=-1)


def turn_to_token_mdp(
    turn_rewards: torch.Tensor,
    turn_dones: torch.Tensor,
    action_mask: torch.Tensor,
    next_turn: torch.Tensor,
    *,
    gamma: float,
    discount: str = "token",
    next_action_mask: torch.Tensor | None = None,
) -> TokenMDP:
    """Turn -> token MDP (paper §AFSFT): reward 0 inside a turn, r and done on its last token, s' the next token.

    The last token's next state is the first action token of turn ``next_turn[n]``: a row of ``action_mask`` by
    default, or of ``next_action_mask`` when the next turns come from a separate inference-only pass. A turn that
    is not done must name its next turn (``next_turn[n] >= 0``); a done turn's next turn is ignored.
    Reconstructed from prose: ``discount="token"`` (default) applies gamma at every token step, ``"turn"`` only
    at the turn boundary (gamma once per turn, as a turn-level MDP would).
    """
    if discount not in DISCOUNT_MODES:
        raise ConfigError(f"unknown AFSFT discount mode {discount!r}; choose one of {sorted(DISCOUNT_MODES)}")
    if not 0.0 <= float(gamma) <= 1.0:
        raise ConfigError(f"gamma must lie in [0, 1], got {gamma}")
    mask = action_mask.bool()
    if mask.dim() != 2:
        raise ValueError(f"action_mask must be [N turns, T tokens], got shape {tuple(mask.shape)}")
    rows = mask.shape[0]
    rewards = turn_rewards.detach().float().reshape(-1).to(mask.device)
    dones = turn_dones.detach().float().reshape(-1).to(mask.device)
    nexts = next_turn.detach().long().reshape(-1).to(mask.device)
    if not rewards.numel() == dones.numel() == nexts.numel() == rows:
        raise ValueError(
            f"turn_to_token_mdp: {rows} turns in action_mask but {rewards.numel()} rewards, "
            f"{dones.numel()} dones and {nexts.numel()} next-turn indices"
        )
    if bool((~mask.any(dim=-1)).any()):
        empty = torch.nonzero(~mask.any(dim=-1)).reshape(-1).tolist()
        raise ValueError(f"turns {empty} have no action token to carry their reward and done")
    next_mask = mask if next_action_mask is None else next_action_mask.bool()
    if next_mask.dim() != 2:
        raise ValueError(f"next_action_mask must be [M turns, T' tokens], got shape {tuple(next_mask.shape)}")
    continuing = dones < 0.5
    if bool((continuing & ((nexts < 0) | (nexts >= next_mask.shape[0]))).any()):
        bad = torch.nonzero(continuing & ((nexts < 0) | (nexts >= next_mask.shape[0]))).reshape(-1).tolist()
        raise ValueError(f"turns {bad} are not done but name no next turn among {next_mask.shape[0]} rows")
    safe_next = nexts.clamp(min=0, max=max(next_mask.shape[0] - 1, 0))
    if next_mask.shape[0] == 0:  # every turn is done: no next state is ever read
        next_first = torch.zeros(rows, dtype=torch.long, device=mask.device)
    else:
        next_first = _first_positions(next_mask)[safe_next]
    if bool((continuing & (next_first >= next_mask.shape[1])).any()):
        raise ValueError("a turn's next turn has no action token: its first state is undefined")

    width = mask.shape[1]
    device = mask.device
    positions = torch.arange(width, device=device).expand(rows, width)
    last = mask & (positions == _last_positions(mask)[:, None])
    inner = mask & ~last
    zeros = torch.zeros(rows, width, device=device)
    token_rewards = torch.where(last, rewards[:, None].expand(rows, width), zeros)
    token_dones = torch.where(last, dones[:, None].expand(rows, width), zeros)

    none = torch.full((rows, width), -1, dtype=torch.long, device=device)
    own_rows = torch.arange(rows, device=device)[:, None].expand(rows, width)
    boundary = last & continuing[:, None]
    next_row = torch.where(inner, own_rows, none)
    next_row = torch.where(boundary, safe_next[:, None].expand(rows, width), next_row)
    next_position = torch.where(inner, _following_positions(mask), none)
    next_position = torch.where(boundary, next_first[:, None].expand(rows, width), next_position)
    return TokenMDP(
        mask=mask,
        rewards=token_rewards,
        dones=token_dones,
        discounts=DISCOUNT_MODES[discount](float(gamma), mask, last),
        last_token=last,
        next_row=next_row,
        next_position=next_position,
        crosses_turn=boundary,
        separate_next_batch=next_action_mask is not None,
    )


def next_state_values(
    values: torch.Tensor, mdp: TokenMDP, next_turn_values: torch.Tensor | None = None
) -> torch.Tensor:
    """V̄(s') [N, T]: inside a turn from this batch's values [N, T], across turns from the next-turn batch's.

    ``next_turn_values`` [M, T'] are the values of the inference-only pass over the next turns, required when
    the MDP was built with ``next_action_mask``; 0 where s' does not exist (done, or off the mask).
    """
    if values.shape != mdp.mask.shape:
        raise ValueError(f"values {tuple(values.shape)} must match the MDP's {tuple(mdp.mask.shape)}")
    if mdp.separate_next_batch and next_turn_values is None:
        raise ValueError("this MDP's next turns are a separate batch: pass next_turn_values from that pass")
    across = values if next_turn_values is None else next_turn_values
    if across.dim() != 2:
        raise ValueError(f"next_turn_values must be [M turns, T' tokens], got shape {tuple(across.shape)}")
    inside = (mdp.next_row >= 0) & ~mdp.crosses_turn
    out_of_range = mdp.crosses_turn & ((mdp.next_row >= across.shape[0]) | (mdp.next_position >= across.shape[1]))
    if bool(out_of_range.any()):
        raise ValueError(f"next turns point outside the next-turn values {tuple(across.shape)}")
    rows, cols = mdp.next_row.clamp(min=0), mdp.next_position.clamp(min=0)
    own = values.detach().float()[rows.clamp(max=values.shape[0] - 1), cols.clamp(max=values.shape[1] - 1)]
    other = across.detach().float()[rows.clamp(max=across.shape[0] - 1), cols.clamp(max=across.shape[1] - 1)]
    zeros = torch.zeros_like(own)
    return torch.where(mdp.crosses_turn, other, torch.where(inside, own, zeros))


# --------------------------------------------------------------------------------------------------------------
# Values and TD


def taken_q_values(q_values: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Q(s, a) [N, T] of the taken tokens from Q over the vocabulary [N, T, V] (keeps the gradient)."""
    if q_values.dim() != tokens.dim() + 1 or q_values.shape[:-1] != tokens.shape:
        raise ValueError(f"q_values {tuple(q_values.shape)} must be tokens {tuple(tokens.shape)} + [V]")
    safe = tokens.long().clamp(min=0, max=q_values.shape[-1] - 1)
    return q_values.gather(-1, safe.unsqueeze(-1)).squeeze(-1)


def _expected_value(q_values: torch.Tensor, policy_logits: torch.Tensor | None) -> torch.Tensor:
    """V(s) = sum_a pi(a|s) Q(s, a) with pi = softmax(policy_logits): the paper's default."""
    if policy_logits is None:
        raise ValueError("state_value form 'expectation' needs the policy's logits")
    if policy_logits.shape != q_values.shape:
        raise ValueError(f"policy_logits {tuple(policy_logits.shape)} must match q_values {tuple(q_values.shape)}")
    probs = torch.softmax(policy_logits.detach().float(), dim=-1)
    return (probs * q_values.float()).sum(dim=-1)


def _max_value(q_values: torch.Tensor, policy_logits: torch.Tensor | None) -> torch.Tensor:
    """V(s) = max_a Q(s, a): the greedy (Q-learning) alternative; the policy is not used."""
    del policy_logits
    return q_values.float().max(dim=-1).values


StateValueForm = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]
STATE_VALUE_FORMS: dict[str, StateValueForm] = {
    "expectation": _expected_value,
    "max": _max_value,
}


def state_value(
    q_values: torch.Tensor, policy_logits: torch.Tensor | None = None, *, form: str = "expectation"
) -> torch.Tensor:
    """V(s) [...] from Q over the vocabulary [..., V] by STATE_VALUE_FORMS[form], detached (a target).

    ``expectation`` (default, the paper's V = E_{a~pi} Q) weights Q by the current policy's softmax; ``max`` is
    the greedy alternative. Pass unnormalised Q values (after PopArt's ``sigma * n + mu``).
    """
    if form not in STATE_VALUE_FORMS:
        raise ConfigError(f"unknown AFSFT state value form {form!r}; choose one of {sorted(STATE_VALUE_FORMS)}")
    values = STATE_VALUE_FORMS[form](q_values.detach(), policy_logits)
    if not bool(torch.isfinite(values).all()):
        raise TrainingError("AFSFT state values are not finite: check the Q head and the policy logits")
    return values


def td_targets(mdp: TokenMDP, next_values: torch.Tensor) -> torch.Tensor:
    """y = r + discount * (1 - d) * V̄(s') per action token [N, T] (0 off the mask), detached (TD target)."""
    if next_values.shape != mdp.mask.shape:
        raise ValueError(f"next_values {tuple(next_values.shape)} must match the MDP's {tuple(mdp.mask.shape)}")
    bootstrap = torch.where(mdp.next_row >= 0, next_values.detach().float(), torch.zeros_like(mdp.rewards))
    targets = mdp.rewards + mdp.discounts * (1.0 - mdp.dones) * bootstrap
    return torch.where(mdp.mask, targets, torch.zeros_like(targets))


def td_loss(
    q_taken: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor,
    *,
    mean: float | torch.Tensor = 0.0,
    std: float | torch.Tensor = 1.0,
) -> torch.Tensor:
    """Mean over action tokens of (q - (y - mu) / sigma)^2: TD regression on PopArt's normalised scale.

    ``q_taken`` is the Q head's normalised output for the taken tokens and ``(mean, std)`` PopArt's statistics;
    with the defaults (0, 1) it is the plain squared TD error on unnormalised Q. 0 for an empty mask.
    """
    if q_taken.shape != targets.shape or q_taken.shape != mask.shape:
        raise ValueError(
            f"td_loss: q_taken {tuple(q_taken.shape)}, targets {tuple(targets.shape)} and mask "
            f"{tuple(mask.shape)} must have the same shape"
        )
    selected = mask.bool()
    mean_t = torch.as_tensor(mean, dtype=torch.float32).detach()
    std_t = torch.as_tensor(std, dtype=torch.float32).detach()
    normalised_targets = (targets.detach().float() - mean_t) / std_t
    error = q_taken.float() - normalised_targets
    squared = torch.where(selected, error * error, torch.zeros_like(error))
    return squared.sum() / selected.sum().clamp(min=1)


# --------------------------------------------------------------------------------------------------------------
# Polyak target and PopArt


@torch.no_grad()
def polyak_update_(target: nn.Module, online: nn.Module, tau: float = REFERENCE_POLYAK_TAU) -> None:
    """target <- (1 - tau) * target + tau * online for every parameter; buffers (PopArt statistics) are copied."""
    if not 0.0 < float(tau) <= 1.0:
        raise ConfigError(f"the Polyak rate tau must lie in (0, 1], got {tau}; the paper uses {REFERENCE_POLYAK_TAU}")
    target_params = dict(target.named_parameters())
    online_params = dict(online.named_parameters())
    if target_params.keys() != online_params.keys():
        raise ValueError("the target and online modules must have the same parameters")
    for name, param in online_params.items():
        target_params[name].lerp_(param.detach().to(target_params[name].dtype), float(tau))
    target_buffers = dict(target.named_buffers())
    for name, buffer in online.named_buffers():
        if name in target_buffers:
            target_buffers[name].copy_(buffer)


@dataclass(frozen=True)
class PopArtStatistics:
    """PopArt's running first and second moments of the TD targets, and the scale they give."""

    mean: torch.Tensor  # scalar
    second_moment: torch.Tensor  # scalar

    def std(self, min_std: float = POPART_MIN_STD, max_std: float = POPART_MAX_STD) -> torch.Tensor:
        """sigma = sqrt(nu - mu^2), clamped to [min_std, max_std]."""
        variance = (self.second_moment - self.mean * self.mean).clamp(min=0.0)
        return variance.sqrt().clamp(min=min_std, max=max_std)


def popart_update_statistics(
    stats: PopArtStatistics, targets: torch.Tensor, mask: torch.Tensor | None = None, *, rate: float = POPART_RATE
) -> PopArtStatistics:
    """ART: mu <- (1 - rate) mu + rate mean(y), nu <- (1 - rate) nu + rate mean(y^2) over the masked targets."""
    if not 0.0 < float(rate) <= 1.0:
        raise ConfigError(f"the PopArt rate must lie in (0, 1], got {rate}")
    values = targets.detach().float()
    selected = torch.ones_like(values, dtype=torch.bool) if mask is None else mask.bool()
    if selected.shape != values.shape:
        raise ValueError(f"mask {tuple(selected.shape)} must match targets {tuple(values.shape)}")
    count = int(selected.sum())
    if count == 0:
        return stats
    picked = values[selected]
    if not bool(torch.isfinite(picked).all()):
        raise TrainingError("PopArt got non-finite TD targets: check the rewards and the target values")
    mean = (1.0 - rate) * stats.mean + rate * picked.mean()
    second = (1.0 - rate) * stats.second_moment + rate * (picked * picked).mean()
    return PopArtStatistics(mean=mean, second_moment=second)


def popart_preserve(
    weight: torch.Tensor,
    bias: torch.Tensor,
    old_mean: torch.Tensor,
    old_std: torch.Tensor,
    new_mean: torch.Tensor,
    new_std: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """POP: W' = W sigma / sigma', b' = (sigma b + mu - mu') / sigma', so sigma' (W'h + b') + mu' is unchanged."""
    scale = old_std / new_std
    return weight * scale.to(weight.dtype), ((old_std * bias.float() + old_mean - new_mean) / new_std).to(bias.dtype)


# --------------------------------------------------------------------------------------------------------------
# Heads and the stop-gradient arrangement


class NormalisedQHead(Protocol):
    """A Q head returning PopArt-normalised values over the vocabulary and able to unnormalise them."""

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        """Normalised Q [..., V] of hidden states [..., H]."""
        ...

    def unnormalise(self, normalised: torch.Tensor) -> torch.Tensor:
        """sigma * n + mu."""
        ...


@dataclass(frozen=True)
class AFSFTHeadOutputs:
    """Both heads' outputs on one set of hidden states, each routed to the loss that may train it."""

    policy_logits: torch.Tensor  # [.., V]: LM head (+ trunk); the actor loss only
    q_normalised: torch.Tensor  # [.., V]: Q head (+ trunk unless cut); the TD loss only
    policy_logits_for_critic: torch.Tensor  # detached: pi in V(s) = E_pi Q never trains the LM head
    q_values_for_actor: torch.Tensor  # detached, unnormalised: the filter never trains the Q head


def afsft_head_outputs(
    hidden: torch.Tensor,
    lm_head: Callable[[torch.Tensor], torch.Tensor],
    q_head: NormalisedQHead,
    *,
    critic_trunk_gradient: bool = True,
) -> AFSFTHeadOutputs:
    """The stop-gradients of AFSFT: LM head <- actor loss, Q head <- TD loss, trunk <- both (paper §AFSFT).

    ``q_head`` returns normalised Q and has ``unnormalise`` (e.g. :class:`coso.models.q_head.QHead`).
    ``critic_trunk_gradient=False`` is the alternative where the critic reads detached hidden states and the
    trunk learns from the actor loss only.
    """
    policy_logits = lm_head(hidden)
    critic_input = hidden if critic_trunk_gradient else hidden.detach()
    q_normalised = q_head(critic_input)
    if policy_logits.shape != q_normalised.shape:
        raise ValueError(
            f"the LM head {tuple(policy_logits.shape)} and Q head {tuple(q_normalised.shape)} must both cover "
            "the vocabulary"
        )
    with torch.no_grad():
        q_values = q_head.unnormalise(q_normalised.detach())
    return AFSFTHeadOutputs(
        policy_logits=policy_logits,
        q_normalised=q_normalised,
        policy_logits_for_critic=policy_logits.detach(),
        q_values_for_actor=q_values,
    )


# --------------------------------------------------------------------------------------------------------------
# Actor: the advantage filter, its schedule and the joint loss


def advantage_filter(
    q_taken: torch.Tensor, values: torch.Tensor, beta: float, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """f = 1[Q(s, a) - V(s) >= beta] per token [N, T] as floats, 0 off the mask, detached (beta = -inf: SFT)."""
    if q_taken.shape != values.shape:
        raise ValueError(f"q_taken {tuple(q_taken.shape)} and values {tuple(values.shape)} must have the same shape")
    if math.isnan(float(beta)) or float(beta) == math.inf:
        raise ConfigError(f"the filter beta must be a number or -inf, got {beta}")
    advantages = q_taken.detach().float() - values.detach().float()
    selected = torch.ones_like(advantages, dtype=torch.bool) if mask is None else mask.bool()
    if selected.shape != advantages.shape:
        raise ValueError(f"mask {tuple(selected.shape)} must match q_taken {tuple(advantages.shape)}")
    if bool((selected & torch.isnan(advantages)).any()):
        raise TrainingError("the AFSFT advantage Q - V is NaN on an action token: check the Q head")
    keep = selected & (advantages >= float(beta))
    return keep.float()


def _step_schedule(step: int, beta: float, warmup_steps: int, ramp_steps: int, ramp_from: float) -> float:
    """-inf (plain SFT) for the first warmup_steps, then beta at once."""
    del ramp_steps, ramp_from
    return SFT_BETA if step < warmup_steps else float(beta)


def _linear_schedule(step: int, beta: float, warmup_steps: int, ramp_steps: int, ramp_from: float) -> float:
    """-inf for warmup_steps, then linear from ramp_from to beta over ramp_steps, then beta."""
    if step < warmup_steps:
        return SFT_BETA
    if ramp_steps <= 0 or step >= warmup_steps + ramp_steps:
        return float(beta)
    fraction = (step - warmup_steps) / ramp_steps
    return float(ramp_from) + fraction * (float(beta) - float(ramp_from))


BetaSchedule = Callable[[int, float, int, int, float], float]
BETA_SCHEDULES: dict[str, BetaSchedule] = {
    "step": _step_schedule,
    "linear": _linear_schedule,
}


def filter_beta(
    step: int,
    *,
    beta: float,
    warmup_steps: int,
    form: str = "step",
    ramp_steps: int = 0,
    ramp_from: float = -1.0,
) -> float:
    """The filter's beta at a training step by BETA_SCHEDULES[form]: -inf (plain SFT) during the warm-up.

    Reconstructed from prose ("scheduled to its filtering value after a few hundred steps"): ``step`` (default)
    switches from -inf to beta at ``warmup_steps``; ``linear`` then ramps from ``ramp_from`` to beta.
    """
    if form not in BETA_SCHEDULES:
        raise ConfigError(f"unknown AFSFT beta schedule {form!r}; choose one of {sorted(BETA_SCHEDULES)}")
    if not math.isfinite(float(beta)):
        raise ConfigError(f"the filtering beta must be finite, got {beta}; -inf is the warm-up value")
    if warmup_steps < 0 or ramp_steps < 0:
        raise ConfigError(f"warmup_steps and ramp_steps must be >= 0, got {warmup_steps} and {ramp_steps}")
    if form == "linear" and not math.isfinite(float(ramp_from)):
        raise ConfigError(f"the linear beta schedule needs a finite ramp_from, got {ramp_from}")
    return BETA_SCHEDULES[form](int(step), float(beta), int(warmup_steps), int(ramp_steps), float(ramp_from))


def _all_token_mean(nll: torch.Tensor, mask: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """sum(f * nll) / number of action tokens: filtered-out tokens count as 0 (an indicator-weighted SFT)."""
    kept = torch.where(mask & keep, nll, torch.zeros_like(nll))
    return kept.sum() / mask.sum().clamp(min=1)


def _kept_token_mean(nll: torch.Tensor, mask: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """sum(f * nll) / number of kept tokens: SFT on the kept tokens only, its scale independent of the filter."""
    return masked_mean(nll, mask & keep)


SFTReduction = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
SFT_REDUCTIONS: dict[str, SFTReduction] = {
    "all_tokens": _all_token_mean,
    "kept_tokens": _kept_token_mean,
}


def filtered_sft_loss(
    token_logprobs: torch.Tensor,
    mask: torch.Tensor,
    token_filter: torch.Tensor,
    *,
    reduction: str = "all_tokens",
) -> torch.Tensor:
    """Actor loss: -log pi of the dataset's tokens [N, T] masked by the filter f, reduced by SFT_REDUCTIONS.

    Reconstructed from prose: ``all_tokens`` (default) averages f * NLL over every action token (the expectation
    of the filtered loss), ``kept_tokens`` over the kept tokens only. 0 when nothing is kept.
    """
    if reduction not in SFT_REDUCTIONS:
        raise ConfigError(f"unknown AFSFT SFT reduction {reduction!r}; choose one of {sorted(SFT_REDUCTIONS)}")
    if token_logprobs.shape != mask.shape or token_filter.shape != mask.shape:
        raise ValueError(
            f"filtered_sft_loss: token_logprobs {tuple(token_logprobs.shape)}, mask {tuple(mask.shape)} and "
            f"token_filter {tuple(token_filter.shape)} must have the same shape"
        )
    return SFT_REDUCTIONS[reduction](-token_logprobs, mask.bool(), token_filter.detach() > 0.5)


def afsft_loss(actor_loss: torch.Tensor, critic_loss: torch.Tensor, td_coeff: float) -> torch.Tensor:
    """Joint loss = filtered SFT + lambda * TD (paper §AFSFT); the stop-gradients route each term to its head."""
    if not math.isfinite(float(td_coeff)) or float(td_coeff) < 0.0:
        raise ConfigError(f"the AFSFT TD coefficient lambda must be finite and >= 0, got {td_coeff}")
    total = actor_loss + float(td_coeff) * critic_loss
    if not bool(torch.isfinite(total.detach()).all()):
        raise TrainingError(
            f"the AFSFT loss is not finite (actor {float(actor_loss):.4g}, TD {float(critic_loss):.4g})"
        )
    return total


# --------------------------------------------------------------------------------------------------------------
# Exploration


def epsilon_greedy(
    sampled: Sequence[ActionT],
    random_valid: Sequence[ActionT],
    epsilon: float,
    uniforms: Sequence[float] | torch.Tensor,
) -> tuple[list[ActionT], list[bool]]:
    """Per env, the random valid action when u < epsilon, else the sampled one; also which envs explored.

    ``uniforms`` are draws in [0, 1) from the caller's generator, so the choice is a pure function.
    """
    if not 0.0 <= float(epsilon) <= 1.0:
        raise ConfigError(f"the exploration epsilon must lie in [0, 1], got {epsilon}")
    draws = [float(u) for u in (uniforms.reshape(-1).tolist() if isinstance(uniforms, torch.Tensor) else uniforms)]
    if not len(sampled) == len(random_valid) == len(draws):
        raise ValueError(
            f"epsilon_greedy: {len(sampled)} sampled, {len(random_valid)} random valid actions, {len(draws)} draws"
        )
    explored = [u < float(epsilon) for u in draws]
    chosen = [alt if flag else own for own, alt, flag in zip(sampled, random_valid, explored)]
    return chosen, explored
