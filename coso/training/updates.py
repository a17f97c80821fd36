"""One round of updates of a training phase, and the reads of the critics it needs.

Filtered BC trains the actor on the top trajectories; DigiRL (and CoSo) train the trajectory critic and the
step critic, then the actor on the trajectories its curriculum keeps (by reward offline, by reward minus
V_traj online), anchored to the successes (algorithm.bc_anchor_coeff) and to a frozen reference policy
(algorithm.kl_anchor_coeff); AFSFT's round (coso/training/afsft_updates.py) registers itself in UPDATE_ROUNDS.
The Trainer does the optimiser steps; this module decides what each round trains on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from coso.algorithms.digirl import offline_trajectory_filter, online_trajectory_filter
from coso.config import RunConfig, TrainConfig
from coso.data.buffer import GeneratorLike, ReplayBuffer, collate_transitions
from coso.data.trajectory import Trajectory
from coso.errors import ConfigError
from coso.models.critics import StepCritic, TrajectoryCritic
from coso.models.policy import Policy
from coso.registry import Registry
from coso.training.checkpoint import TrainingState
from coso.training.trainer import Trainer

# the KL anchor's reference policy, asked for when a round first trains the actor (None: no KL anchor)
ReferenceSource = Callable[[], "Policy | None"]

# train.val_split: how a round's (train, val) buffers come from the replay buffer
VAL_SPLITS: dict[str, Callable[[ReplayBuffer, float, GeneratorLike], tuple[ReplayBuffer, ReplayBuffer]]] = {
    "on_entry": ReplayBuffer.split_on_entry,
    "every_iteration": ReplayBuffer.train_val_split,
}


def split_buffer(buffer: ReplayBuffer, train: TrainConfig, generator: torch.Generator
                 ) -> tuple[ReplayBuffer, ReplayBuffer]:
    """A round's (train, val) buffers as ``train.val_split`` says."""
    return VAL_SPLITS[str(train.val_split)](buffer, train.train_fraction, generator)


def kept_composition(kept: Sequence[Trajectory]) -> dict[str, float]:
    """What the curriculum kept for the actor: trajectories, steps, and how many are successful / online."""
    return {
        "kept_trajectories": len(kept),
        "kept_steps": sum(len(t) for t in kept),
        "kept_successful": sum(int(t.success) for t in kept),
        "kept_online": sum(int("online_iteration" in t.metadata) for t in kept),
    }


@torch.no_grad()
def critic_accuracy(critic: StepCritic, buffer: ReplayBuffer, device: torch.device) -> dict[str, float]:
    """Validation accuracy of the step critic's success prediction (min of its heads > 0.5)."""
    if len(buffer) == 0:
        return {}
    critic.eval()
    correct = 0
    total = 0
    for batch in buffer.iterate(64, shuffle=False):
        batch = batch.to(device)
        predicted = critic.value(batch.prompts, batch.image_features) > 0.5
        correct += int((predicted == (batch.mc_returns > 0)).sum())
        total += len(batch)
    return {"val_critic_accuracy": correct / max(total, 1)}


@torch.no_grad()
def trajectory_values(critic: TrajectoryCritic, trajectories: Sequence[Trajectory],
                      device: torch.device) -> torch.Tensor:
    """V_traj of each trajectory's first observation [N]."""
    critic.eval()
    values = []
    for start in range(0, len(trajectories), 64):
        chunk = trajectories[start:start + 64]
        batch = collate_transitions([t.transitions[0] for t in chunk])
        values.append(critic.value(batch.prompts, batch.image_features.to(device)).cpu())
    return torch.cat(values) if values else torch.zeros(0)


def filter_trajectories(trainer: Trainer, trajectories: Sequence[Trajectory], online: bool) -> list[Trajectory]:
    """DigiRL's curriculum: top fraction by reward - V_traj online, by reward offline."""
    usable = [t for t in trajectories if t.transitions]
    if not usable:
        return []
    rewards = torch.tensor([t.reward for t in usable], dtype=torch.float32)
    fraction = trainer.config.algorithm.trajectory_filter_fraction
    if online:
        values = trajectory_values(trainer.unwrapped().trajectory_critic, usable, trainer.accelerator.device)
        keep = online_trajectory_filter(rewards, values, fraction)
    else:
        keep = offline_trajectory_filter(rewards, fraction)
    return [t for t, kept in zip(usable, keep.tolist()) if kept]


@dataclass(frozen=True)
class RoundPlan:
    """What one round of updates trains: online or offline data, the actor or not, each model's epochs."""

    online: bool
    train_actor: bool
    trajectory_critic_epochs: int
    critic_epochs: int
    actor_epochs: int
    entropy: bool
    reference: ReferenceSource | None = None


# algorithm.name -> its round (Filtered BC and DigiRL/CoSo here; AFSFT's in coso/training/afsft_updates.py)
UpdateRound = Callable[[Trainer, RunConfig, ReplayBuffer, ReplayBuffer, RoundPlan], "dict[str, float]"]
UPDATE_ROUNDS: Registry[str, UpdateRound] = Registry("update round", ConfigError)


@UPDATE_ROUNDS.register("filteredbc")
def filtered_bc_round(trainer: Trainer, config: RunConfig, train_buffer: ReplayBuffer, val_buffer: ReplayBuffer,
                      plan: RoundPlan) -> dict[str, float]:
    """Filtered BC on the top trajectories by reward."""
    metrics: dict[str, float] = {}
    kept = filter_trajectories(trainer, train_buffer.trajectories(), online=False)
    if plan.train_actor:
        metrics.update(trainer.train_filtered_bc(ReplayBuffer(config.train.capacity, kept), plan.actor_epochs))
    metrics.update(kept_composition(kept))
    return metrics


@UPDATE_ROUNDS.register("digirl")
@UPDATE_ROUNDS.register("coso")
def digirl_round(trainer: Trainer, config: RunConfig, train_buffer: ReplayBuffer, val_buffer: ReplayBuffer,
                 plan: RoundPlan) -> dict[str, float]:
    """DigiRL's (and CoSo's) trajectory critic, step critic, then the actor on what its curriculum keeps."""
    train = config.train
    metrics: dict[str, float] = {}
    metrics.update(trainer.train_trajectory_critic(train_buffer.trajectories(), plan.trajectory_critic_epochs))
    metrics.update(trainer.train_step_critic(train_buffer, plan.critic_epochs))
    metrics.update(critic_accuracy(trainer.unwrapped().step_critic, val_buffer, trainer.accelerator.device))
    kept = filter_trajectories(trainer, train_buffer.trajectories(), online=plan.online)
    if plan.train_actor:
        successes = [t for t in train_buffer.trajectories() if t.success and t.transitions]
        reference = plan.reference
        metrics.update(trainer.train_actor(ReplayBuffer(train.capacity, kept), plan.actor_epochs,
                                           entropy=plan.entropy, anchor=ReplayBuffer(train.capacity, successes),
                                           reference=reference() if reference is not None else None,
                                           kl_source=train_buffer))
    metrics.update(kept_composition(kept))
    return metrics


def update_round(trainer: Trainer, config: RunConfig, train_buffer: ReplayBuffer, val_buffer: ReplayBuffer, *,
                 online: bool, train_actor: bool, trajectory_critic_epochs: int, critic_epochs: int,
                 actor_epochs: int, entropy: bool, reference: ReferenceSource | None = None) -> dict[str, float]:
    """One round of updates by the algorithm's entry in UPDATE_ROUNDS: Filtered BC on the top trajectories,
    DigiRL's trajectory critic, step critic and actor on the trajectories its curriculum keeps (by reward
    offline, by surprise online; the actor's KL anchor reads ``reference()`` on batches of the training
    buffer), or AFSFT's filtered SFT + TD on every transition."""
    plan = RoundPlan(online=online, train_actor=train_actor, trajectory_critic_epochs=trajectory_critic_epochs,
                     critic_epochs=critic_epochs, actor_epochs=actor_epochs, entropy=entropy, reference=reference)
    run_round = UPDATE_ROUNDS.get(str(config.algorithm.name), "(algorithm.name)")
    return run_round(trainer, config, train_buffer, val_buffer, plan)


def offline_round(trainer: Trainer, config: RunConfig, train_buffer: ReplayBuffer, val_buffer: ReplayBuffer,
                  reference: ReferenceSource | None = None) -> dict[str, float]:
    """The offline phase's round, with its own epochs (the entropy bonus only if causal.entropy_in_offline)."""
    train = config.train
    return update_round(trainer, config, train_buffer, val_buffer, online=False, train_actor=True,
                        trajectory_critic_epochs=train.offline_trajectory_critic_epochs,
                        critic_epochs=train.offline_critic_epochs, actor_epochs=train.offline_actor_epochs,
                        entropy=config.use_entropy and config.causal.entropy_in_offline, reference=reference)


def online_round(trainer: Trainer, config: RunConfig, train_buffer: ReplayBuffer, val_buffer: ReplayBuffer,
                 iteration: int, reference: ReferenceSource | None = None) -> dict[str, float]:
    """An online iteration's round: the actor trains from ``train.warmup_iterations`` on."""
    train = config.train
    return update_round(trainer, config, train_buffer, val_buffer, online=True,
                        train_actor=iteration >= train.warmup_iterations,
                        trajectory_critic_epochs=train.trajectory_critic_epochs, critic_epochs=train.critic_epochs,
                        actor_epochs=train.actor_epochs, entropy=config.use_entropy, reference=reference)


def train_causal(trainer: Trainer, buffer: ReplayBuffer, state: TrainingState, calls: int) -> dict[str, float]:
    """CoSo's causal model on the buffer's actions, counting the calls in ``state`` (0 = still untrained)."""
    metrics = trainer.train_causal([t.action for t in buffer.transitions()], calls)
    state.causal_calls += calls
    return metrics
