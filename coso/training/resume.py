"""Where a training run starts: its own checkpoint (resume), another run's checkpoint (load_path), or fresh
networks. ``start_or_resume`` decides and loads (with the KL anchor's frozen reference when the checkpoint
has one); the run builds its trainer from the result and restores the RNG state last (loading the reference,
building models and optimisers may draw from the RNGs; resume is bit-exact).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from coso.config import RunConfig
from coso.data.buffer import ReplayBuffer
from coso.models.policy import Policy, load_policy
from coso.training.checkpoint import (
    TrainingState,
    has_checkpoint,
    load_tensors_state,
    read_checkpoint,
    restore_rng_state,
)
from coso.training.components import build_models, load_models, with_q_heads
from coso.training.run_logger import atomic_write_text
from coso.training.trainer import Models

RESUME_REQUIRED = ("models", "buffer", "optimizers.pt")
REFERENCE_POLICY_DIR = "reference_policy"  # the KL anchor's frozen policy inside a checkpoint


@dataclass
class ResumePoint:
    """The state, models and buffer a run starts from; when resumed, the checkpoint's optimisers, RNGs and KL
    reference."""

    state: TrainingState
    models: Models
    buffer: ReplayBuffer
    resumed: bool = False
    checkpoint: Path | None = None  # the checkpoint resumed from
    rng_state: dict[str, Any] = field(default_factory=dict)
    reference_policy: Policy | None = None  # the KL anchor's frozen reference (CPU), if the checkpoint has one

    def optimizer_states(self) -> dict[str, Any] | None:
        """The optimisers' states of the checkpoint resumed from (None on a fresh start)."""
        if not self.resumed or self.checkpoint is None:
            return None
        return load_tensors_state(self.checkpoint / "optimizers.pt")

    def restore_rng(self, generators: Mapping[str, torch.Generator]) -> None:
        """Resumed: every RNG (and ``generators``) as the checkpoint left them. Call it last."""
        if self.resumed:
            restore_rng_state(self.rng_state, generators)


def start_or_resume(config: RunConfig, run_dir: Path, *, is_main: bool = True) -> ResumePoint:
    """Resume from ``run_dir``'s checkpoint, start from load_path's, or build fresh networks.

    metrics.jsonl follows (main process): a resumed run drops the lines logged after its checkpoint (they
    will be logged again); a fresh start drops the lines of a run killed before its first checkpoint.
    """
    run_dir = Path(run_dir)
    capacity = config.train.capacity
    if has_checkpoint(run_dir):
        state, rng, path = read_checkpoint(run_dir, required=RESUME_REQUIRED)
        buffer = ReplayBuffer.load(path / "buffer", capacity=capacity)
        if is_main:
            _truncate_metrics(run_dir, state.metrics_lines)
        reference = load_reference_policy(path)  # before the run restores the RNGs: loading may draw from them
        return ResumePoint(state, load_models(path / "models"), buffer, resumed=True, checkpoint=path, rng_state=rng,
                           reference_policy=reference)
    if is_main:
        (run_dir / "metrics.jsonl").unlink(missing_ok=True)
    state = TrainingState()
    buffer = ReplayBuffer(capacity)
    if not config.load_path:
        return ResumePoint(state, build_models(config), buffer)
    loaded, _, path = read_checkpoint(Path(config.load_path), required=("models",))
    state.causal_calls = loaded.causal_calls  # a DigiRL checkpoint's causal model is untrained
    if config.train_mode == "off2on" and loaded.phase in ("offline_done", "online"):
        _carry_over(state, loaded, "offline_done", ("initial", "sft", "offline"))
        if (path / "buffer").is_dir():
            buffer = ReplayBuffer.load(path / "buffer", capacity=capacity)
    elif loaded.phase != "start":  # already warm-started: no second SFT
        _carry_over(state, loaded, "warm_started", ("initial", "sft"))
    return ResumePoint(state, with_q_heads(load_models(path / "models"), config), buffer)


def load_reference_policy(checkpoint: Path) -> Policy | None:
    """The KL anchor's frozen reference saved in ``checkpoint`` (eval mode, no gradients); None if it has none."""
    if not (checkpoint / REFERENCE_POLICY_DIR).is_dir():
        return None
    return load_policy(checkpoint / REFERENCE_POLICY_DIR).eval().requires_grad_(False)


def _carry_over(state: TrainingState, loaded: TrainingState, phase: str, evaluations: tuple[str, ...]) -> None:
    """Start at ``phase`` with the loaded checkpoint's ``evaluations`` (results and counts)."""
    state.phase = phase
    state.eval_results = {k: v for k, v in loaded.eval_results.items() if k in evaluations}
    state.eval_counts = {k: v for k, v in loaded.eval_counts.items() if k in state.eval_results}


def _truncate_metrics(run_dir: Path, lines: int) -> None:
    """Drop metrics logged after the checkpoint we resume from."""
    path = run_dir / "metrics.jsonl"
    if path.exists():
        kept = path.read_text().splitlines()[:lines]
        atomic_write_text(path, "".join(line + "\n" for line in kept))
