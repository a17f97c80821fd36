"""A run's start, shared by every run kind (train, collect, eval): its global RNGs, its directory with the
resolved config, its logger, and the wall time of its phases."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from coso.config import RunConfig
from coso.training.run_logger import RunLogger, redact_secrets, write_resolved_config


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch generator for batch sampling."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def start_run_dir(config: RunConfig, resolved: dict[str, Any], *, is_main: bool = True) -> Path:
    """Create the run directory (save_path) and write its resolved config (main process); return it."""
    run_dir = Path(config.save_path)
    run_dir.mkdir(parents=True, exist_ok=True)
    if is_main:
        write_resolved_config(run_dir, resolved)
    return run_dir


def open_logger(config: RunConfig, resolved: dict[str, Any], run_dir: Path, *, enabled: bool = True) -> RunLogger:
    """The run's logger: metrics.jsonl and a wandb run named ``<config_name>-seed<seed>`` (secrets redacted)."""
    return RunLogger(run_dir, redact_secrets(resolved), project=config.logging.project,
                     run_name=f"{config.config_name}-seed{config.seed}", wandb_mode=config.logging.wandb_mode,
                     enabled=enabled)


class PhaseTimer:
    """Wall seconds per phase, accumulated across resumes."""

    def __init__(self, totals: dict[str, float]) -> None:
        self.totals = totals

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a block and add it to ``name``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.totals[name] = self.totals.get(name, 0.0) + time.perf_counter() - started
