"""benchmarks/main_job_report.py: the per-run and per-method tables of whole off2on runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))  # benchmarks/ is no package
import main_job_report as report  # noqa: E402


def _run(directory: Path, seed: int, offline: float, final: float, invalid: float = 0.0) -> Path:
    directory.mkdir(parents=True)
    rates = {"initial": 0.0, "sft": 0.5, "offline": offline, "final": final}
    (directory / "summary.json").write_text(json.dumps({
        "seed": seed, "eval_success_rate": rates, "eval_success_ci95": {k: [0.0, 1.0] for k in rates},
        "eval_episodes": 96, "wall_seconds": {"total_this_process": 600.0}}))
    records = [{"phase": "online", "rollout_env_steps": 100.0, "rollout_invalid_actions": invalid},
               {"phase": "eval_final", "eval_env_steps": 50.0, "eval_invalid_actions": 1.0}]
    (directory / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return directory


def test_tables_give_gains_valid_rates_and_the_bar(tmp_path) -> None:
    runs = [report.read_run("DigiRL", _run(tmp_path / f"d{s}", s, 0.40, 0.55 + 0.01 * s, invalid=5.0))
            for s in range(3)]
    runs.append(report.read_run("CoSo", _run(tmp_path / "c0", 0, 0.80, 0.85)))
    text = report.markdown(runs, "cmd", "alone")
    assert "| DigiRL | 0 | 0.0 | 50.0 | 40.0 | 55.0 (0.0–100.0) | +15.0 | 95.0% | 98.0% | 600 |" in text
    assert "| DigiRL | 0, 1, 2 | 56.0 ± 1.0 | 40.0 ± 0.0 | 16.0 ± 1.0 | yes | met |" in text
    assert "| CoSo | 0 | 85.0 ± — | 80.0 ± — | 5.0 ± — | no | not met |" in text


def test_unfinished_run_is_one_clear_error(tmp_path) -> None:
    with pytest.raises(SystemExit, match="has the run"):
        report.read_run("DigiRL", tmp_path)
