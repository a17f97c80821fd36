"""The trainer: owns the optimisers and turns buffers into updates of the critics, the actor and the causal model.

Every loss comes from ``coso.algorithms`` (pure functions); this module only samples batches, runs forward
passes through accelerate (device placement, mixed precision, DDP), accumulates gradients, clips and steps.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from accelerate import Accelerator
from torch import nn

from coso.algorithms.coso import soft_actor_loss
from coso.algorithms.digirl import (
    DIGIRL_PROB_CLAMP,
    NO_PROB_CLAMP,
    actor_loss,
    step_advantage,
    step_critic_loss,
    trajectory_critic_loss,
)
from coso.algorithms.filtered_bc import filtered_bc_loss
from coso.algorithms.kl import reference_kl
from coso.config import RunConfig
from coso.data.buffer import ReplayBuffer, TransitionBatch, collate_transitions
from coso.data.trajectory import Trajectory
from coso.env.factory import build_grammar
from coso.errors import ConfigError, TrainingError
from coso.models.causal import ActionTypeClassifier, action_type_labels
from coso.models.critics import StepCritic, TrajectoryCritic
from coso.models.policy import Policy
from coso.models.q_head import QHead
from coso.training.entropy import EntropyBonus, build_entropy_bonus


@dataclass
class Models:
    """The networks of a run: the policy, DigiRL's two critics, (CoSo) the causal classifier, (AFSFT) the Q heads."""

    policy: Policy  # the built-in AutoUI policy or a Hugging Face VLM (coso.models.policy)
    step_critic: StepCritic
    trajectory_critic: TrajectoryCritic
    causal: ActionTypeClassifier
    q_head: QHead | None = None  # AFSFT's Q head over the vocabulary (algorithm.name=afsft), else None
    q_target: QHead | None = None  # its Polyak target copy


BatchObserver = Callable[[TransitionBatch, "torch.Tensor | None"], object]  # (actor batch, its bonus weights)


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else 0.0


class Trainer:
    """DigiRL / Filtered BC / CoSo updates over replay buffers, with accelerate."""

    def __init__(self, models: Models, config: RunConfig, accelerator: Accelerator, generator: torch.Generator, *,
                 observers: Sequence[BatchObserver] = (), optimizer_states: Mapping[str, dict] | None = None,
                 actor_updates: int = 0) -> None:
        """``observers`` see every actor batch with its entropy-bonus weights (e.g. the causal-weight heatmaps);
        ``optimizer_states`` and ``actor_updates`` come from the checkpoint a run resumes from."""
        self.config = config
        self.accelerator = accelerator
        self.generator = generator
        self.observers = tuple(observers)
        train = config.train
        if not 0.0 <= train.lm_adam_beta2 < 1.0:
            raise ConfigError(f"train.lm_adam_beta2={train.lm_adam_beta2} must lie in [0, 1) (torch's default: 0.999)")
        self.policy, self.policy_optimizer = accelerator.prepare(
            models.policy, torch.optim.AdamW(models.policy.parameters(), lr=train.lm_lr,
                                            betas=(0.9, train.lm_adam_beta2)))
        self.step_critic, self.critic_optimizer = accelerator.prepare(
            models.step_critic, torch.optim.AdamW(models.step_critic.parameters(), lr=train.critic_lr))
        self.trajectory_critic, self.trajectory_optimizer = accelerator.prepare(
            models.trajectory_critic, torch.optim.AdamW(models.trajectory_critic.parameters(), lr=train.critic_lr))
        self.causal, self.causal_optimizer = accelerator.prepare(
            models.causal, torch.optim.AdamW(models.causal.parameters(), lr=config.causal.lr))
        self.prob_clamp = DIGIRL_PROB_CLAMP if config.algorithm.actor_prob_clamp else NO_PROB_CLAMP
        self.bonus: EntropyBonus = build_entropy_bonus(config, self.unwrapped, models.policy.tokenizer)
        for name, optimizer in self.optimizers().items():
            if optimizer_states is not None and name in optimizer_states:
                optimizer.load_state_dict(optimizer_states[name])
        self.actor_updates = actor_updates
        self.optimizer_steps = 0

    # ------------------------------------------------------------------------------------------ plumbing

    def unwrapped(self) -> Models:
        """The bare models (for generation, saving and evaluation)."""
        unwrap = self.accelerator.unwrap_model
        return Models(unwrap(self.policy), unwrap(self.step_critic), unwrap(self.trajectory_critic),
                      unwrap(self.causal))

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimisers by name (for checkpoints)."""
        return {"policy": self.policy_optimizer, "step_critic": self.critic_optimizer,
                "trajectory_critic": self.trajectory_optimizer, "causal": self.causal_optimizer}

    def _optimise(self, name: str, model: nn.Module, optimizer: torch.optim.Optimizer,
                  micro_losses: Callable[[], torch.Tensor], accumulation: int) -> float:
        """One optimiser step over ``accumulation`` micro-batches; a non-finite loss stops the run."""
        model.train()
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for _ in range(accumulation):
            with self.accelerator.autocast():
                loss = micro_losses()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise TrainingError(
                    f"non-finite {name} loss ({value}) at optimiser step {self.optimizer_steps + 1}; the run stops "
                    "here and the last checkpoint is intact (lower the learning rate or check the data)")
            self.accelerator.backward(loss / accumulation)
            total += value
        if self.config.train.max_grad_norm > 0:
            self.accelerator.clip_grad_norm_(model.parameters(), self.config.train.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        self.optimizer_steps += 1
        return total / accumulation

    @contextlib.contextmanager
    def policy_learning_rate(self, lr: float) -> Iterator[None]:
        """Train the policy at ``lr`` inside the block (the SFT warm start's own rate), then restore lm_lr."""
        if not lr > 0.0:
            raise ConfigError(f"the policy's learning rate must be > 0, got {lr}")
        groups = self.policy_optimizer.param_groups
        saved = [group["lr"] for group in groups]
        for group in groups:
            group["lr"] = lr
        try:
            yield
        finally:
            for group, value in zip(groups, saved):
                group["lr"] = value

    def _steps(self, count: int, description: str):
        """range(count) with a progress bar on the main process when progress is on."""
        from tqdm.auto import tqdm

        show = self.config.logging.progress and self.accelerator.is_main_process and count > 1
        return tqdm(range(count), desc=description, unit="step", leave=False, disable=not show)

    def _device_batch(self, batch: TransitionBatch) -> TransitionBatch:
        return batch.to(self.accelerator.device)

    # ------------------------------------------------------------------------------------------ critics

    def train_trajectory_critic(self, trajectories: Sequence[Trajectory], epochs: int) -> dict[str, float]:
        """V_traj(first observation) -> 1[trajectory reward > 0], ``epochs`` optimiser steps."""
        firsts = [t for t in trajectories if t.transitions]
        if not firsts or epochs <= 0:
            return {}
        rewards = torch.tensor([t.reward for t in firsts], dtype=torch.float32)
        train = self.config.train

        def micro_loss() -> torch.Tensor:
            index = torch.randint(len(firsts), (train.batch_size,), generator=self.generator).tolist()
            batch = collate_transitions([firsts[i].transitions[0] for i in index])
            logits = self.trajectory_critic(batch.prompts, batch.image_features.to(self.accelerator.device))
            return trajectory_critic_loss(logits, rewards[index].to(self.accelerator.device))

        losses = [self._optimise("trajectory critic", self.trajectory_critic, self.trajectory_optimizer,
                                 micro_loss, train.grad_accum_steps)
                  for _ in self._steps(epochs, "trajectory critic")]
        return {"trajectory_critic_loss": _mean(losses)}

    def train_step_critic(self, buffer: ReplayBuffer, epochs: int) -> dict[str, float]:
        """The double step critic on 1[MC return > 0] (at s and, as the reference, at s')."""
        if len(buffer) == 0 or epochs <= 0:
            return {}
        train = self.config.train
        include_next = self.config.algorithm.critic_next_state_target

        def micro_loss() -> torch.Tensor:
            batch = self._device_batch(buffer.sample(train.batch_size, self.generator))
            # s and s' in one forward pass (one DDP forward per backward)
            both1, both2 = self.step_critic(batch.prompts + batch.next_prompts,
                                            torch.cat([batch.image_features, batch.next_image_features]))
            size = len(batch)
            return step_critic_loss(both1[:size], both2[:size], both1[size:], both2[size:], batch.mc_returns,
                                    include_next=include_next)

        losses = [self._optimise("step critic", self.step_critic, self.critic_optimizer, micro_loss,
                                 train.grad_accum_steps) for _ in self._steps(epochs, "step critic")]
        return {"critic_loss": _mean(losses)}

    # ------------------------------------------------------------------------------------------ actor

    def train_actor(self, buffer: ReplayBuffer, epochs: int, *, entropy: bool,
                    anchor: ReplayBuffer | None = None, reference: Policy | None = None,
                    kl_source: ReplayBuffer | None = None) -> dict[str, float]:
        """DigiRL's advantage-filtered actor update, minus alpha * H^B when the entropy bonus is on, plus
        ``algorithm.bc_anchor_coeff`` times the token-mean NLL of a batch from ``anchor`` (the successes), plus
        ``algorithm.kl_anchor_coeff`` times the token KL from the frozen ``reference`` policy on a batch of
        ``kl_source`` (the training buffer)."""
        if len(buffer) == 0 or epochs <= 0:
            return {}
        train = self.config.train
        anchor_coeff = self.config.algorithm.bc_anchor_coeff
        anchor = anchor if anchor is not None and anchor_coeff > 0 else ReplayBuffer(1)
        kl_coeff = self.config.algorithm.kl_anchor_coeff
        kl_source = kl_source if kl_source is not None and reference is not None and kl_coeff > 0 else ReplayBuffer(1)
        critic = self.accelerator.unwrap_model(self.step_critic)
        horizon = max(self.config.env.max_steps_general, self.config.env.max_steps_webshop)
        metrics: dict[str, list[float]] = {}

        def micro_loss() -> torch.Tensor:
            batch = self._device_batch(buffer.sample(train.batch_size, self.generator))
            with torch.no_grad():
                critic.eval()
                values = critic.value(batch.prompts, batch.image_features)
                next_values = critic.value(batch.next_prompts, batch.next_image_features)
            advantages = step_advantage(values, next_values, batch.rewards, batch.mc_returns,
                                        form=self.config.algorithm.advantage, horizon=horizon)
            stats = self.policy(batch.prompts, batch.image_features, batch.actions)
            loss = actor_loss(stats.log_probs, stats.mask, advantages, prob_clamp=self.prob_clamp)
            metrics.setdefault("actor_loss", []).append(float(loss.detach()))
            metrics.setdefault("advantage_mean", []).append(float(advantages.float().mean()))
            if entropy:
                bonus = self.bonus(stats, batch.actions)
                loss = soft_actor_loss(loss, bonus.entropy, self.bonus.alpha)
                for key, value in bonus.metrics.items():
                    metrics.setdefault(key, []).append(value)
                for observe in self.observers:
                    observe(batch, bonus.weights)
            if len(anchor):
                anchor_loss = self._bc_nll(anchor, "token_mean")
                metrics.setdefault("bc_anchor_loss", []).append(float(anchor_loss.detach()))
                loss = loss + anchor_coeff * anchor_loss
            if len(kl_source) and reference is not None:  # kl_source is empty without a reference
                kl = self._reference_kl(kl_source, reference)
                metrics.setdefault("kl_to_reference", []).append(float(kl.detach()))
                loss = loss + kl_coeff * kl
            return loss

        losses = [self._optimise("actor", self.policy, self.policy_optimizer, micro_loss, train.grad_accum_steps)
                  for _ in self._steps(epochs, "actor")]
        self.actor_updates += epochs
        result = {key: _mean(values) for key, values in metrics.items()}
        result["actor_total_loss"] = _mean(losses)
        return result

    def _reference_kl(self, buffer: ReplayBuffer, reference: Policy) -> torch.Tensor:
        """Token-mean KL(reference || policy) on one sampled batch of the buffer's teacher-forced actions."""
        batch = self._device_batch(buffer.sample(self.config.train.batch_size, self.generator))
        stats = self.policy(batch.prompts, batch.image_features, batch.actions)
        with torch.no_grad():
            reference_stats = reference.eval().token_stats(batch.prompts, batch.image_features, batch.actions)
        assert reference_stats.vocab_log_probs is not None  # token_stats always fills it
        return reference_kl(stats.vocab_log_probs, reference_stats.vocab_log_probs, stats.mask)

    def _bc_nll(self, buffer: ReplayBuffer, reduction: str) -> torch.Tensor:
        """NLL of one sampled batch of the buffer's actions under the policy (Filtered BC, SFT, the anchor)."""
        batch = self._device_batch(buffer.sample(self.config.train.batch_size, self.generator))
        stats = self.policy(batch.prompts, batch.image_features, batch.actions)
        keep = torch.ones(len(batch), dtype=torch.bool, device=stats.mask.device)
        return filtered_bc_loss(stats.log_probs, stats.mask, keep, reduction=reduction)

    def train_filtered_bc(self, buffer: ReplayBuffer, epochs: int, *, reduction: str = "sequence_sum",
                          name: str = "filtered BC", metric: str = "bc_loss") -> dict[str, float]:
        """Filtered BC: maximise the likelihood of the kept trajectories' actions (also the SFT warm start)."""
        if len(buffer) == 0 or epochs <= 0:
            return {}
        train = self.config.train

        def micro_loss() -> torch.Tensor:
            return self._bc_nll(buffer, reduction)

        losses = [self._optimise(name, self.policy, self.policy_optimizer, micro_loss,
                                 train.grad_accum_steps) for _ in self._steps(epochs, name)]
        self.actor_updates += epochs
        return {metric: _mean(losses)}

    # ------------------------------------------------------------------------------------------ causal model

    def train_causal(self, actions: Sequence[str], calls: int) -> dict[str, float]:
        """CoSo's causal model: action text -> parsed action type, cross-entropy on buffer actions."""
        if not actions or calls <= 0:
            return {}
        cfg = self.config.causal
        model = self.accelerator.unwrap_model(self.causal)
        losses: list[float] = []
        accuracies: list[float] = []
        for _ in self._steps(calls, "causal model"):
            index = torch.randint(len(actions), (cfg.samples_per_call,), generator=self.generator).tolist()
            texts = [actions[i] for i in index]
            labels = action_type_labels(texts, build_grammar(self.config.env)).labels  # the domain's classes
            for _ in range(cfg.epochs_per_call):
                for start in range(0, len(texts), cfg.batch_size):
                    chunk = texts[start:start + cfg.batch_size]
                    chunk_labels = labels[start:start + cfg.batch_size].to(self.accelerator.device)
                    tokens = model.tokenize(chunk)

                    # _optimise calls micro_loss before this iteration ends, so the loop variables are current
                    def micro_loss() -> torch.Tensor:
                        logits = self.causal(tokens.input_ids, tokens.attention_mask)  # noqa: B023
                        accuracies.append(float((logits.argmax(-1) == chunk_labels).float().mean()))  # noqa: B023
                        return nn.functional.cross_entropy(logits.float(), chunk_labels)  # noqa: B023

                    losses.append(self._optimise("causal model", self.causal, self.causal_optimizer, micro_loss, 1))
        self.bonus.invalidate()
        return {"causal_loss": _mean(losses), "causal_accuracy": _mean(accuracies[-10:])}


# algorithm.name -> the Trainer subclass its updates need (AFSFT's, in coso/training/afsft_updates.py, registers
# itself with coso.registry.register_in); the other algorithms train with Trainer itself
TRAINER_CLASSES: dict[str, type[Trainer]] = {}


def trainer_class(algorithm: str) -> type[Trainer]:
    """The trainer class of ``algorithm``: its registered subclass, or Trainer."""
    return TRAINER_CLASSES.get(str(algorithm), Trainer)
