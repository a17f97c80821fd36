"""The training run kinds: `train` (a training config, from an SFT base cache when it has one) and `base`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from coso.config import RunConfig
from coso.errors import ConfigError
from coso.training.checkpoint import has_checkpoint
from coso.training.loop import TrainingRun
from coso.training.run_logger import write_summary
from coso.training.sft_base import ensure_sft_base, sft_base_path, uses_sft_base


def train_and_summarise(config: RunConfig, resolved: dict[str, Any], extra: dict[str, Any] | None = None
                        ) -> tuple[dict[str, Any], str]:
    """Run one training config to its end; write summary.json (main process) and return it and its line."""
    run = TrainingRun(config, resolved)
    summary = dict(run.run(), **(extra or {}))
    line = write_summary(run.run_dir, summary) if run.is_main else ""
    return summary, line


def run_training(config: RunConfig, resolved: dict[str, Any]) -> str:
    """The `train` run kind: returns summary.json's line.

    With an SFT base cache (``train.sft_cache_dir``) the run starts from the cached base like ``load_path``,
    building the base first when no run with the same base key has (see coso.training.sft_base).
    """
    extra: dict[str, Any] = {}
    if uses_sft_base(config):
        if has_checkpoint(Path(config.save_path)):  # resuming: the base was already loaded
            base_report: dict[str, Any] = {"path": str(sft_base_path(config)), "built_this_run": False}
        else:
            base_report = ensure_sft_base(config, resolved, lambda c, r: train_and_summarise(c, r)[0]).report()
        config = dataclasses.replace(config, load_path=str(sft_base_path(config)))
        extra["sft_base"] = base_report
    return train_and_summarise(config, resolved, extra)[1]


def run_base(config: RunConfig, resolved: dict[str, Any]) -> str:
    """The `base` run kind (``--config-name pretrain_base``): build or find the SFT base; its summary line."""
    if not config.train.sft_cache_dir or config.train.sft_steps <= 0:
        raise ConfigError("pretrain_base needs train.sft_cache_dir (a directory) and train.sft_steps > 0")
    base = ensure_sft_base(config, resolved, lambda c, r: train_and_summarise(c, r)[0])
    summary = {"config_name": config.config_name, "run": "base", "seed": config.seed, "sft_base": base.report(),
               "eval_success_rate": base.summary.get("eval_success_rate", {}),
               "eval_success_ci95": base.summary.get("eval_success_ci95", {})}
    run_dir = Path(config.save_path)
    run_dir.mkdir(parents=True, exist_ok=True)
    return write_summary(run_dir, summary)
