"""AFSFT's round of updates: the joint loss filtered SFT + lambda * TD on every transition of the buffer.

The policy carries a Q head over the vocabulary on the hidden states the LM head reads (the policy provides them
through one method: ``token_stats(..., with_hidden=True)``). Per optimiser step, on a batch of transitions:

1. the policy's teacher-forced pass over the taken actions gives log pi, pi over the vocabulary and the hidden
   states of each action token's state;
2. an inference-only pass over the next observations (an empty action: one position, the state before the next
   turn's first token) gives the next turn's first state;
3. the target Q head (a Polyak copy) values every s' as V̄(s') = E_pi Q̄(s', .), the token MDP of
   coso.algorithms.afsft turns the turn's reward and done into TD targets, and PopArt moves its statistics;
4. the Q head regresses the normalised targets (TD loss; it trains the Q head and, unless
   algorithm.afsft.critic_trunk_gradient=false, the trunk), and the actor's SFT loss on the taken tokens keeps
   those with Q(s, a) - V(s) >= beta (the LM head and the trunk; the filter is detached);
5. one step of both optimisers, then target <- (1 - tau) target + tau online.

Beta is -inf (plain SFT) for the first algorithm.afsft.beta_warmup_steps TD updates of the Q head (its
``td_updates`` count, which checkpoints keep), then scheduled to algorithm.afsft.beta.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from accelerate import Accelerator
from torch import nn

from coso.algorithms.afsft import (
    advantage_filter,
    afsft_loss,
    filter_beta,
    filtered_sft_loss,
    next_state_values,
    polyak_update_,
    state_value,
    taken_q_values,
    td_loss,
    td_targets,
    turn_to_token_mdp,
)
from coso.config import AFSFTConfig, RunConfig
from coso.data.buffer import ReplayBuffer, TransitionBatch
from coso.errors import ConfigError, TrainingError
from coso.models.autoui import evaluation_mode
from coso.models.policy import Policy
from coso.models.q_head import QHead
from coso.registry import register_in
from coso.training.trainer import TRAINER_CLASSES, BatchObserver, Models, Trainer
from coso.training.updates import UPDATE_ROUNDS, RoundPlan

Q_OPTIMIZER = "q_head"  # the Q head's optimiser's name in checkpoints (optimizers.pt)


@dataclass(frozen=True)
class AFSFTTerms:
    """One batch's joint loss and what it is made of."""

    loss: torch.Tensor  # actor + lambda * TD (differentiable)
    actor_loss: float
    td_loss: float
    kept_fraction: float  # action tokens the filter kept
    q_taken_mean: float  # mean Q(s, a) of the taken tokens (unnormalised)
    advantage_mean: float  # mean Q(s, a) - V(s) over action tokens
    target_mean: float  # mean TD target


TargetGather = Callable[[torch.Tensor, torch.Tensor], "tuple[torch.Tensor, torch.Tensor]"]


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> float:
    selected = mask.bool()
    return float(values.detach().float()[selected].mean()) if bool(selected.any()) else 0.0


def _turn_values(q_head: QHead, hidden: torch.Tensor, policy_log_probs: torch.Tensor, form: str) -> torch.Tensor:
    """V(s) [N, T] = E_pi Q(s, .) (or max) of hidden states [N, T, H] under ``q_head``, detached."""
    return state_value(q_head.q_values(hidden.detach()), policy_log_probs.detach(), form=form)


def afsft_terms(policy: nn.Module, bare_policy: Policy, q_head: nn.Module, bare_q_head: QHead, q_target: QHead,
                batch: TransitionBatch, settings: AFSFTConfig, beta: float, *, actor_weight: float = 1.0,
                every_process: TargetGather | None = None) -> AFSFTTerms:
    """The joint loss of one batch (steps 1-4 of the module docstring); moves PopArt's statistics (ART + POP).

    ``policy``/``q_head`` are the (possibly wrapped) modules the loss differentiates through, ``bare_policy`` /
    ``bare_q_head`` the same modules unwrapped; ``actor_weight`` 0 trains the critic alone (a warm-up round);
    ``every_process`` gathers the targets and their mask from every process, so that PopArt's statistics (and
    the heads they rescale) stay the same on each.
    """
    stats = policy(batch.prompts, batch.image_features, batch.actions, with_hidden=True)
    if stats.hidden_states is None or stats.vocab_log_probs is None:
        raise TrainingError("AFSFT needs the policy's hidden states and vocabulary log-probs from token_stats("
                            "..., with_hidden=True); this policy returned none")
    mask = stats.mask.bool()
    rows = len(batch)
    with evaluation_mode(bare_policy):  # step 2: the next turns' first states, inference only
        following = bare_policy.token_stats(batch.next_prompts, batch.next_image_features, [""] * rows,
                                            with_hidden=True)
    assert following.hidden_states is not None and following.vocab_log_probs is not None  # with_hidden=True
    with torch.no_grad():  # step 3: targets from the Polyak copy
        next_turn_values = _turn_values(q_target, following.hidden_states[:, :1], following.vocab_log_probs[:, :1],
                                        str(settings.state_value))
        inside_values = _turn_values(q_target, stats.hidden_states, stats.vocab_log_probs, str(settings.state_value))
        mdp = turn_to_token_mdp(batch.rewards, batch.dones, mask, torch.arange(rows, device=mask.device),
                                gamma=settings.gamma, discount=str(settings.discount),
                                next_action_mask=torch.ones(rows, 1, dtype=torch.bool, device=mask.device))
        targets = td_targets(mdp, next_state_values(inside_values, mdp, next_turn_values))
        seen, seen_mask = every_process(targets, mask) if every_process is not None else (targets, mask)
        bare_q_head.update_statistics(seen, seen_mask, followers=(q_target,))
    hidden = stats.hidden_states if settings.critic_trunk_gradient else stats.hidden_states.detach()
    q_normalised = q_head(hidden)
    critic = td_loss(taken_q_values(q_normalised, stats.token_ids), targets, mask,
                     mean=bare_q_head.popart_mean, std=bare_q_head.std())
    with torch.no_grad():  # the filter never trains the Q head
        q_values = bare_q_head.unnormalise(q_normalised.detach())
        values = state_value(q_values, stats.vocab_log_probs.detach(), form=str(settings.state_value))
        q_taken = taken_q_values(q_values, stats.token_ids)
        keep = advantage_filter(q_taken, values, beta, mask)
    actor = filtered_sft_loss(stats.log_probs, mask, keep, reduction=str(settings.sft_reduction))
    loss = afsft_loss(actor * float(actor_weight), critic, settings.td_coeff)
    return AFSFTTerms(loss=loss, actor_loss=float(actor.detach()), td_loss=float(critic.detach()),
                      kept_fraction=_masked_mean(keep, mask), q_taken_mean=_masked_mean(q_taken, mask),
                      advantage_mean=_masked_mean(q_taken - values, mask), target_mean=_masked_mean(targets, mask))


def current_beta(q_head: QHead, settings: AFSFTConfig) -> float:
    """The filter's beta after the Q head's TD updates so far (algorithm.afsft.beta_* settings)."""
    return filter_beta(int(q_head.td_updates), beta=settings.beta, warmup_steps=settings.beta_warmup_steps,
                       form=str(settings.beta_schedule), ramp_steps=settings.beta_ramp_steps,
                       ramp_from=settings.beta_ramp_from)


@register_in(TRAINER_CLASSES, "afsft", "trainer class")
class AFSFTTrainer(Trainer):
    """The Trainer plus AFSFT's Q head (its own optimiser, saved as ``q_head``) and its Polyak target."""

    def __init__(self, models: Models, config: RunConfig, accelerator: Accelerator, generator: torch.Generator, *,
                 observers: Sequence[BatchObserver] = (), optimizer_states: Mapping[str, dict] | None = None,
                 actor_updates: int = 0) -> None:
        if models.q_head is None or models.q_target is None:
            raise ConfigError("algorithm.name=afsft needs the models' Q head and its target (built by "
                              "coso.training.components.with_q_heads); build the models from this run's config")
        settings = config.algorithm.afsft
        # before Trainer.__init__, which loads every optimiser of optimizers() from the checkpoint
        self.q_head, self.q_optimizer = accelerator.prepare(
            models.q_head, torch.optim.AdamW(models.q_head.parameters(), lr=settings.q_lr or config.train.critic_lr))
        self.q_target = models.q_target.to(accelerator.device).requires_grad_(False)
        super().__init__(models, config, accelerator, generator, observers=observers,
                         optimizer_states=optimizer_states, actor_updates=actor_updates)

    def unwrapped(self) -> Models:
        """The bare models, the Q head and its target included."""
        return dataclasses.replace(super().unwrapped(), q_head=self.accelerator.unwrap_model(self.q_head),
                                   q_target=self.q_target)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimisers by name, the Q head's as ``q_head``."""
        return {**super().optimizers(), Q_OPTIMIZER: self.q_optimizer}

    def _gathered(self, targets: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Every process's TD targets [P * N, T_max] and mask (padding off the mask); this process's alone."""
        if self.accelerator.num_processes == 1:
            return targets, mask
        pad = self.accelerator.pad_across_processes
        return (self.accelerator.gather(pad(targets, dim=1)),
                self.accelerator.gather(pad(mask.long(), dim=1)).bool())

    def _optimise_jointly(self, micro_losses: Callable[[], torch.Tensor], accumulation: int) -> float:
        """One step of the policy's and the Q head's optimisers on the joint loss, each model clipped on its own."""
        models = ((self.policy, self.policy_optimizer), (self.q_head, self.q_optimizer))
        for model, optimizer in models:
            model.train()
            optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for _ in range(accumulation):
            with self.accelerator.autocast():
                loss = micro_losses()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise TrainingError(
                    f"non-finite AFSFT loss ({value}) at optimiser step {self.optimizer_steps + 1}; the run stops "
                    "here and the last checkpoint is intact (lower the learning rates or check the data)")
            self.accelerator.backward(loss / accumulation)
            total += value
        for model, optimizer in models:
            if self.config.train.max_grad_norm > 0:
                self.accelerator.clip_grad_norm_(model.parameters(), self.config.train.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        self.optimizer_steps += 1
        return total / accumulation

    def train_afsft(self, buffer: ReplayBuffer, epochs: int, *, train_actor: bool = True) -> dict[str, float]:
        """``epochs`` AFSFT steps on batches of ``buffer`` (critic alone when not ``train_actor``)."""
        if len(buffer) == 0 or epochs <= 0:
            return {}
        train, settings = self.config.train, self.config.algorithm.afsft
        unwrap = self.accelerator.unwrap_model
        bare_policy, bare_q_head = unwrap(self.policy), unwrap(self.q_head)
        metrics: dict[str, list[float]] = {}

        def micro_loss() -> torch.Tensor:
            batch = self._device_batch(buffer.sample(train.batch_size, self.generator))
            beta = current_beta(bare_q_head, settings)
            terms = afsft_terms(self.policy, bare_policy, self.q_head, bare_q_head, self.q_target, batch, settings,
                                beta, actor_weight=1.0 if train_actor else 0.0, every_process=self._gathered)
            for key in ("actor_loss", "td_loss", "kept_fraction", "q_taken_mean", "advantage_mean", "target_mean"):
                metrics.setdefault(f"afsft_{key}", []).append(getattr(terms, key))
            metrics.setdefault("afsft_filter_on", []).append(float(math.isfinite(beta)))
            if math.isfinite(beta):
                metrics.setdefault("afsft_beta", []).append(beta)
            return terms.loss

        losses = []
        for _ in self._steps(epochs, "AFSFT"):
            losses.append(self._optimise_jointly(micro_loss, train.grad_accum_steps))
            polyak_update_(self.q_target, bare_q_head, settings.polyak_tau)
            with torch.no_grad():
                bare_q_head.td_updates += 1
                self.q_target.td_updates.copy_(bare_q_head.td_updates)
        if train_actor:
            self.actor_updates += epochs
        result = {key: float(np.mean(values)) for key, values in metrics.items()}
        result["afsft_total_loss"] = float(np.mean(losses))
        result["afsft_td_updates"] = float(int(bare_q_head.td_updates))
        return result


@UPDATE_ROUNDS.register("afsft")
def afsft_round(trainer: Trainer, config: RunConfig, train_buffer: ReplayBuffer, val_buffer: ReplayBuffer,
                plan: RoundPlan) -> dict[str, float]:
    """AFSFT on every transition of the training buffer (failed and invalid ones too: the critic learns from
    them and the filter decides what the actor imitates); critic alone when the plan does not train the actor."""
    if not isinstance(trainer, AFSFTTrainer):
        raise ConfigError(f"algorithm.name=afsft needs an AFSFTTrainer, got {type(trainer).__name__}; build the "
                          "trainer with coso.training.trainer.trainer_class(config.algorithm.name)")
    transitions = train_buffer.transitions()
    metrics = trainer.train_afsft(train_buffer, plan.actor_epochs, train_actor=plan.train_actor)
    metrics["afsft_buffer_valid_fraction"] = (float(np.mean([t.valid_action for t in transitions]))
                                              if transitions else 0.0)
    return metrics
