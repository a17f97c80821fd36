"""Test-wide settings: wandb offline into a temporary directory, headless plotting, paths to shared data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# One intra-op thread per process: the suite runs serially on 2-core machines, where two spinning OpenMP
# threads per tiny-model process slow everything down (subprocesses inherit this too).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["WANDB_MODE"] = "offline"
os.environ.setdefault("WANDB_DIR", tempfile.mkdtemp(prefix="coso-wandb-"))
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parent.parent
AITW_DIR = REPO_ROOT.parent / "shared" / "data" / "aitw"


@pytest.fixture(scope="session")
def aitw_dir() -> Path:
    """The folder of the real AitW task lists (../shared/data/aitw), or skip when it is absent."""
    if not AITW_DIR.is_dir():
        pytest.skip(f"AitW task lists not found at {AITW_DIR}")
    return AITW_DIR
