"""DigiRL as pure functions of tensors: step advantages, trajectory filters, the actor loss and the critic losses.

Nothing here owns a model or an optimiser; trainers call these on batches. Conventions:

- a *value* is a critic's success probability in [0, 1] (the softmax of its 2-class logits, class 1);
- a *double critic* value is the minimum over its heads: pass values shaped ``[B, K]`` and the minimum over
  the last dimension is taken here, or pass ``[B]`` when the caller already took it;
- advantages and filter masks are targets, never differentiated: they come back detached.

Option values a user can set from a config (form names, fractions, clamps) raise
:class:`coso.errors.ConfigError`; tensors of mismatched shapes are programming errors and raise ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from coso.errors import ConfigError, TrainingError

# DigiRL's reference clamps the chosen token's probability to this range before taking its log.
DIGIRL_PROB_CLAMP: tuple[float, float] = (0.001, 0.99)
# The identity clamp: log-probabilities already lie in (-inf, 0], so clamping p to [0, 1] changes nothing.
NO_PROB_CLAMP: tuple[float, float] = (0.0, 1.0)
# The constant the reference subtracts from its one-step advantage.
REFERENCE_ADVANTAGE_MARGIN = 0.05


# --------------------------------------------------------------------------------------------------------------
# Values


def critic_success_probability(logits: torch.Tensor) -> torch.Tensor:
    """P(success) = softmax(logits)[..., 1] of a 2-class critic head: the value every DigiRL formula uses."""
    if logits.shape[-1] != 2:
        raise ValueError(f"a critic head gives 2 logits per sample, got shape {tuple(logits.shape)}")
    return torch.softmax(logits.float(), dim=-1)[..., 1]


def double_critic_value(logits1: torch.Tensor, logits2: torch.Tensor) -> torch.Tensor:
    """min(V1, V2) over the two heads of a double critic, as success probabilities [B] (pessimistic value)."""
    return torch.minimum(critic_success_probability(logits1), critic_success_probability(logits2))


def _reduce_heads(values: torch.Tensor, name: str) -> torch.Tensor:
    """[B] stays as is; [B, K] becomes the minimum over the K critic heads."""
    if values.dim() == 1:
        return values.float()
    if values.dim() == 2:
        return values.float().min(dim=-1).values
    raise ValueError(f"{name} must be [B] or [B, K heads], got shape {tuple(values.shape)}")


# --------------------------------------------------------------------------------------------------------------
# Step advantage


@dataclass(frozen=True)
class StepAdvantageInputs:
    """One batch of steps as the advantage forms see it: values already reduced over critic heads, all [B]."""

    values_s: torch.Tensor
    values_next: torch.Tensor
    rewards: torch.Tensor
    mc_returns: torch.Tensor
    horizon: int | None
    margin: float


def _reference_step_advantage(batch: StepAdvantageInputs) -> torch.Tensor:
    """The released DigiRL code: 1[clamp(V(s') - V(s) - margin + r + G, 0, 1) > 0]."""
    raw = batch.values_next - batch.values_s - batch.margin + batch.rewards + batch.mc_returns
    return (raw.clamp(0.0, 1.0) > 0).float()


def _doubly_robust_step_advantage(batch: StepAdvantageInputs) -> torch.Tensor:
    """The DigiRL paper: 1[G + (1 - G)(V(s') + r - V(s)) > 1/H], with G = lambda^(H-h) r_H the MC return."""
    if batch.horizon is None or batch.horizon < 1:
        raise ConfigError(
            f"step_advantage form 'doubly_robust' needs horizon >= 1 (the episode step limit), got {batch.horizon}; "
            "pass horizon=10 for AitW General or 20 for Web Shopping"
        )
    discounted_final = batch.mc_returns
    raw = discounted_final + (1.0 - discounted_final) * (batch.values_next + batch.rewards - batch.values_s)
    return (raw > 1.0 / batch.horizon).float()


StepAdvantageForm = Callable[[StepAdvantageInputs], torch.Tensor]
STEP_ADVANTAGE_FORMS: dict[str, StepAdvantageForm] = {
    "reference": _reference_step_advantage,
    "doubly_robust": _doubly_robust_step_advantage,
}


def step_advantage(
    values_s: torch.Tensor,
    values_next: torch.Tensor,
    rewards: torch.Tensor,
    mc_returns: torch.Tensor,
    *,
    form: str = "reference",
    horizon: int | None = None,
    margin: float = REFERENCE_ADVANTAGE_MARGIN,
) -> torch.Tensor:
    """Binary per-step advantage [B] (1 = learn from this action) by the named form of STEP_ADVANTAGE_FORMS.

    ``values_*`` are success probabilities, [B] or [B, K] (min over heads taken here). ``mc_returns`` must be
    discounted with the paper's lambda for the doubly-robust form: with the sparse terminal reward of AitW,
    G_h = lambda^(H-h) r_H exactly. ``horizon`` (the 1/H threshold) is needed by that form only.
    """
    if form not in STEP_ADVANTAGE_FORMS:
        raise ConfigError(f"unknown step advantage form {form!r}; choose one of {sorted(STEP_ADVANTAGE_FORMS)}")
    batch = StepAdvantageInputs(
        values_s=_reduce_heads(values_s.detach(), "values_s"),
        values_next=_reduce_heads(values_next.detach(), "values_next"),
        rewards=rewards.detach().float().reshape(-1),
        mc_returns=mc_returns.detach().float().reshape(-1),
        horizon=horizon,
        margin=float(margin),
    )
    sizes = {len(batch.values_s), len(batch.values_next), len(batch.rewards), len(batch.mc_returns)}
    if len(sizes) != 1:
        raise ValueError(
            "step_advantage inputs disagree on the batch size: "
            f"values_s {len(batch.values_s)}, values_next {len(batch.values_next)}, "
            f"rewards {len(batch.rewards)}, mc_returns {len(batch.mc_returns)}"
        )
    return STEP_ADVANTAGE_FORMS[form](batch)


# --------------------------------------------------------------------------------------------------------------
# Trajectory filters


def _check_top_fraction(top_fraction: float) -> None:
    if not 0.0 < top_fraction <= 1.0:
        raise ConfigError(f"top_fraction must lie in (0, 1], got {top_fraction}; DigiRL keeps the top 0.1")


def top_fraction_mask(scores: torch.Tensor, top_fraction: float) -> torch.Tensor:
    """Boolean mask [N] of the k = max(1, floor(top_fraction * N)) highest scores; ties go to the lower index."""
    _check_top_fraction(top_fraction)
    scores = scores.detach().reshape(-1)
    count = scores.numel()
    keep = torch.zeros(count, dtype=torch.bool, device=scores.device)
    if count == 0:
        return keep
    if not bool(torch.isfinite(scores).all()):
        raise TrainingError(f"trajectory filter got non-finite scores {scores.tolist()}: check the critic outputs")
    kept_count = max(1, int(math.floor(top_fraction * count + 1e-9)))
    order = torch.sort(scores.float(), descending=True, stable=True).indices
    keep[order[:kept_count]] = True
    return keep


def online_trajectory_filter(
    traj_rewards: torch.Tensor, traj_values: torch.Tensor, top_fraction: float = 0.1
) -> torch.Tensor:
    """Keep [N] the trajectories whose surprise (reward - V_traj) is in the top fraction: DigiRL's online curriculum."""
    traj_rewards = traj_rewards.detach().float().reshape(-1)
    traj_values = _reduce_heads(traj_values.detach(), "traj_values")
    if traj_rewards.shape != traj_values.shape:
        raise ValueError(
            f"online_trajectory_filter: {traj_rewards.numel()} rewards but {traj_values.numel()} values"
        )
    return top_fraction_mask(traj_rewards - traj_values, top_fraction)


def offline_trajectory_filter(traj_rewards: torch.Tensor, top_fraction: float = 0.1) -> torch.Tensor:
    """Keep [N] the trajectories with the highest rewards: DigiRL's offline-phase selection."""
    return top_fraction_mask(traj_rewards.detach().float().reshape(-1), top_fraction)


def steps_of_kept_trajectories(traj_keep: torch.Tensor, step_traj_index: torch.Tensor) -> torch.Tensor:
    """Per-step mask [B] from a per-trajectory mask [N] and each step's trajectory index [B]."""
    return traj_keep.reshape(-1)[step_traj_index.long().reshape(-1)]


# --------------------------------------------------------------------------------------------------------------
# Actor


def _check_prob_clamp(prob_clamp: tuple[float, float]) -> tuple[float, float]:
    low, high = (float(v) for v in prob_clamp)
    if not (0.0 <= low < high <= 1.0):
        raise ConfigError(
            f"prob_clamp must be (low, high) with 0 <= low < high <= 1, got {prob_clamp}; "
            f"DigiRL uses {DIGIRL_PROB_CLAMP}, {NO_PROB_CLAMP} disables it"
        )
    return low, high


def clamp_token_logprobs(token_logprobs: torch.Tensor, prob_clamp: tuple[float, float]) -> torch.Tensor:
    """log(clamp(p, low, high)) computed as a clamp in log space (same values, same zero gradient outside)."""
    low, high = _check_prob_clamp(prob_clamp)
    log_low = math.log(low) if low > 0.0 else -math.inf
    log_high = math.log(high)
    return token_logprobs.clamp(min=log_low, max=log_high)


def sequence_logprobs(token_logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum over the masked tokens [B, T] -> [B]: log pi(y | s) of each utterance."""
    if token_logprobs.shape != mask.shape:
        raise ValueError(
            f"token_logprobs {tuple(token_logprobs.shape)} and mask {tuple(mask.shape)} must have the same shape"
        )
    return torch.where(mask.bool(), token_logprobs, torch.zeros_like(token_logprobs)).sum(dim=-1)


def actor_loss(
    token_logprobs: torch.Tensor,
    mask: torch.Tensor,
    advantages: torch.Tensor,
    *,
    prob_clamp: tuple[float, float] = DIGIRL_PROB_CLAMP,
) -> torch.Tensor:
    """-mean_b(sum_t log pi(y_t) * A_b): DigiRL's policy-gradient loss on the chosen tokens (0 for an empty batch)."""
    logprobs = clamp_token_logprobs(token_logprobs, prob_clamp)
    per_sample = sequence_logprobs(logprobs, mask)
    advantages = advantages.detach().to(per_sample.dtype).reshape(-1)
    if advantages.numel() != per_sample.numel():
        raise ValueError(
            f"actor_loss: {per_sample.numel()} utterances but {advantages.numel()} advantages; "
            "keep one advantage per row (zero it for rows that must not learn)"
        )
    if per_sample.numel() == 0:
        return token_logprobs.sum() * 0.0
    return -(per_sample * advantages).mean()


# --------------------------------------------------------------------------------------------------------------
# Critics


def success_targets(returns: torch.Tensor) -> torch.Tensor:
    """Class labels [B] = 1[return > 0]: the binary target every DigiRL critic is trained on."""
    return (returns.detach().reshape(-1) > 0).long()


def _two_class_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, name: str) -> torch.Tensor:
    if logits.dim() != 2 or logits.shape[-1] != 2 or logits.shape[0] != targets.shape[0]:
        raise ValueError(
            f"{name} must be [B, 2] with B = {targets.shape[0]} targets, got shape {tuple(logits.shape)}"
        )
    if targets.numel() == 0:
        return logits.sum() * 0.0
    return F.cross_entropy(logits.float(), targets)


def step_critic_loss(
    logits1: torch.Tensor,
    logits2: torch.Tensor,
    next_logits1: torch.Tensor,
    next_logits2: torch.Tensor,
    mc_returns: torch.Tensor,
    *,
    include_next: bool = True,
) -> torch.Tensor:
    """Sum of 2-class cross-entropies on 1[G > 0] for both heads at s (and at s', as the reference does)."""
    targets = success_targets(mc_returns)
    heads = [("logits1", logits1), ("logits2", logits2)]
    if include_next:
        heads += [("next_logits1", next_logits1), ("next_logits2", next_logits2)]
    losses = [_two_class_cross_entropy(logits, targets, name) for name, logits in heads]
    return torch.stack(losses).sum()


def trajectory_critic_loss(logits: torch.Tensor, traj_rewards: torch.Tensor) -> torch.Tensor:
    """2-class cross-entropy of V_traj(first observation) on 1[trajectory reward > 0]."""
    return _two_class_cross_entropy(logits, success_targets(traj_rewards), "logits")
