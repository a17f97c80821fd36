"""The KL anchor to a reference policy: keep the fine-tuned policy near the warm start where no evidence moves it."""

from __future__ import annotations

import torch


def reference_kl(log_probs: torch.Tensor, reference_log_probs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """KL(pi_ref || pi_theta) of whole actions, summed over each action's tokens and averaged over the batch.

    The penalty of KL-regularised policy optimisation, J(theta) - beta * E_s KL(pi_ref(.|s) || pi_theta(.|s))
    (KL control, Jaques et al. 2017; the reference-policy KL of Ziegler et al. 2019). Per token t of a
    teacher-forced action y it is sum_v pi_ref(v | s, y_<t) (log pi_ref - log pi_theta)(v | s, y_<t); summed over
    the action's tokens (the sequence-level KL along y's prefixes) so that beta weighs it on the scale of
    DigiRL's actor loss, which also sums over an action's tokens. [B, T, V] log-probs, [B, T] mask -> scalar.
    Vocabulary entries the reference gives probability 0 (log-prob -inf) contribute nothing; a -inf log-prob of
    the policy where the reference has mass is clamped to a large finite penalty; padding is selected away.
    """
    if log_probs.shape != reference_log_probs.shape or log_probs.dim() != 3:
        raise ValueError(f"reference_kl: log_probs {tuple(log_probs.shape)} and reference_log_probs "
                         f"{tuple(reference_log_probs.shape)} must both be [B, T, V]")
    if mask.shape != log_probs.shape[:2]:
        raise ValueError(f"reference_kl: mask {tuple(mask.shape)} must be [B, T] = {tuple(log_probs.shape[:2])}")
    reference = reference_log_probs.detach().float()
    reference_p = reference.exp()
    floor = -1e4  # a log-prob below this is probability 0 for every purpose here
    gap = reference.clamp(min=floor) - log_probs.float().clamp(min=floor)
    per_token = torch.where(reference_p > 0, reference_p * gap, torch.zeros_like(gap)).sum(dim=-1)
    per_token = torch.where(mask.bool(), per_token, torch.zeros_like(per_token))
    return per_token.sum(dim=-1).mean()
