"""Learning-curve plots drawn from metrics.jsonl records (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SUCCESS_KEYS = ("success_rate", "eval_success_rate")
LOSS_KEYS = ("actor_loss", "critic_loss", "trajectory_critic_loss", "causal_loss", "entropy")


def _series(records: Sequence[dict[str, Any]], key: str, phase_prefix: str = "") -> dict[str, tuple[list, list]]:
    """Per phase, the (env_steps or step, value) points of one metric."""
    by_phase: dict[str, tuple[list, list]] = {}
    for record in records:
        value = record.get(key)
        if value is None or not record.get("phase", "").startswith(phase_prefix):
            continue
        x = record.get("env_steps", record.get("step", 0))
        xs, ys = by_phase.setdefault(record["phase"], ([], []))
        xs.append(x)
        ys.append(value)
    return by_phase


def plot_learning_curves(records: Sequence[dict[str, Any]], path: Path) -> Path:
    """Success rates (top) and losses (bottom) against environment steps; written atomically."""
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=False)
    for key in SUCCESS_KEYS:
        for phase, (xs, ys) in _series(records, key).items():
            top.plot(xs, ys, marker="o", markersize=3, label=f"{phase} {key}")
    top.set_ylabel("success rate")
    top.set_xlabel("environment steps")
    top.set_ylim(-0.02, 1.02)
    top.grid(alpha=0.3)
    if top.get_legend_handles_labels()[0]:
        top.legend(fontsize=7)
    for key in LOSS_KEYS:
        for phase, (_xs, ys) in _series(records, key).items():
            bottom.plot(range(len(ys)), ys, label=f"{phase} {key}")
    bottom.set_ylabel("loss / entropy")
    bottom.set_xlabel("update (log record)")
    bottom.grid(alpha=0.3)
    if bottom.get_legend_handles_labels()[0]:
        bottom.legend(fontsize=7)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.tmp.png")
    figure.savefig(temporary, dpi=100)
    plt.close(figure)
    temporary.replace(path)
    return path
