"""Data-parallel training on CPU: two processes under torchrun (accelerate's DDP) finish a run together."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from test_training_runs import REPO_ROOT
from tiny_run import TINY


def test_two_process_ddp_offline_run(tmp_path: Path) -> None:
    env = dict(os.environ, ACCELERATE_USE_CPU="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
               str(REPO_ROOT / "scripts" / "run.py"), "--config-name", "digirl_offline", *TINY,
               "train.eval_initial=false", f"save_path={tmp_path}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=400, env=env, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == 1, "only the main process prints the summary"
    summary = json.loads(summaries[0])
    assert summary["train_mode"] == "offline" and summary["actor_updates"] > 0
    assert (tmp_path / "checkpoint" / "state.json").exists()
