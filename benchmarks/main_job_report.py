"""Report of whole off2on runs as a user starts them (one process per run, its own offline phase).

Reads each run's summary.json and metrics.jsonl and writes a markdown table per run (every evaluated
stage with its 95% interval, final − offline, valid-action rates of the online rollouts and the final
evaluation, wall time) and per method (mean ± sample std over seeds), against the issue's bar.

    python benchmarks/main_job_report.py --run CoSo=runs/exp/main_coso_s0 --run DigiRL=runs/exp/main_digirl_s0 \
        --command "python scripts/run.py --config-name coso_off2on seed=0" --out benchmarks/reports/main_job.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

STAGES = ("initial", "sft", "offline", "final")


@dataclass
class RunResult:
    """What one finished run measured."""

    method: str
    seed: int
    success: dict[str, float]
    interval: dict[str, list[float]]
    episodes: int
    rollout_valid_rate: float
    final_valid_rate: float
    wall_seconds: float
    path: str

    @property
    def gain(self) -> float:
        """Final minus offline success, in points."""
        return 100.0 * (self.success["final"] - self.success["offline"])


def read_run(method: str, path: Path) -> RunResult:
    """One run directory's summary and metrics (a clear error when it has not finished)."""
    summary_path = path / "summary.json"
    if not summary_path.is_file():
        raise SystemExit(f"main_job_report: {summary_path} not found; has the run at {path} finished?")
    summary = json.loads(summary_path.read_text())
    records = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines() if line.strip()]
    online = [r for r in records if r.get("phase") == "online"]
    rollout_steps = sum(r.get("rollout_env_steps", 0.0) for r in online)
    rollout_invalid = sum(r.get("rollout_invalid_actions", 0.0) for r in online)
    final = [r for r in records if r.get("phase") == "eval_final"][-1]
    return RunResult(
        method=method, seed=int(summary["seed"]), success=summary["eval_success_rate"],
        interval=summary["eval_success_ci95"], episodes=int(summary["eval_episodes"]),
        rollout_valid_rate=1.0 - rollout_invalid / max(rollout_steps, 1.0),
        final_valid_rate=1.0 - final.get("eval_invalid_actions", 0.0) / max(final.get("eval_env_steps", 1.0), 1.0),
        wall_seconds=float(summary["wall_seconds"].get("total_this_process", 0.0)), path=str(path),
    )


def _pct(value: float) -> str:
    return f"{100.0 * value:.1f}"


def _mean_std(values: Sequence[float]) -> str:
    mean = statistics.fmean(values)
    return f"{mean:.1f} ± {statistics.stdev(values):.1f}" if len(values) > 1 else f"{mean:.1f} ± —"


WHOLE_RUNS = "each run collects its own offline data and runs its own offline phase from the shared SFT base"


def markdown(results: Sequence[RunResult], command: str, conditions: str, *, title: str = "whole off2on runs",
             setup: str = WHOLE_RUNS) -> str:
    """The report."""
    lines = [
        f"# The main job on the simulated phone (cpu scale): {title}",
        "",
        f"Command per run: `{command}` ({setup}). Report: `python benchmarks/main_job_report.py "
        + " ".join(f"--run {r.method}={r.path}" for r in results) + " ...`.",
        "",
        f"Machine: {os.cpu_count()} CPUs, torch {torch.__version__}, Python {platform.python_version()}; "
        f"{conditions}. Success is greedy on {results[0].episodes if results else 0} evaluation "
        "tasks with a 95% Wilson interval; wall seconds are the run's own timed phases.",
        "",
        "| method | seed | initial | sft | offline | final (95% CI) | final − offline | rollout valid | final valid | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(results, key=lambda r: (r.method, r.seed)):
        low, high = r.interval["final"]
        lines.append(
            f"| {r.method} | {r.seed} | {_pct(r.success.get('initial', float('nan')))} | "
            f"{_pct(r.success.get('sft', float('nan')))} | {_pct(r.success['offline'])} | "
            f"{_pct(r.success['final'])} ({_pct(low)}–{_pct(high)}) | {r.gain:+.1f} | "
            f"{_pct(r.rollout_valid_rate)}% | {_pct(r.final_valid_rate)}% | {r.wall_seconds:.0f} |")
    lines += ["", "Per method, over seeds (sample std):", "",
              "| method | seeds | final | offline | final − offline | gain > std of final | ≥ 40% and gain ≥ +10 |",
              "|---|---|---|---|---|---|---|"]
    for method in sorted({r.method for r in results}):
        runs = [r for r in results if r.method == method]
        finals = [100.0 * r.success["final"] for r in runs]
        gains = [r.gain for r in runs]
        spread = statistics.stdev(finals) if len(finals) > 1 else float("nan")
        bar = statistics.fmean(finals) >= 40.0 and statistics.fmean(gains) >= 10.0
        lines.append(f"| {method} | {', '.join(str(r.seed) for r in runs)} | {_mean_std(finals)} | "
                     f"{_mean_std([100.0 * r.success['offline'] for r in runs])} | {_mean_std(gains)} | "
                     f"{'yes' if len(runs) > 1 and statistics.fmean(gains) > spread else 'no'} | "
                     f"{'met' if bar and len(runs) >= 3 else 'not met'} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True, metavar="METHOD=DIR")
    parser.add_argument("--command", default="python scripts/run.py --config-name <method>_off2on seed=<seed>")
    parser.add_argument("--conditions", default="how the runs shared the machine: not stated",
                        help="e.g. 'two runs at a time, OMP_NUM_THREADS=1 each'")
    parser.add_argument("--title", default="whole off2on runs", help="what the runs are, for the heading")
    parser.add_argument("--setup", default=WHOLE_RUNS, help="how the runs started (offline phase, checkpoints)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    results = []
    for item in args.run:
        method, sep, directory = item.partition("=")
        if not sep:
            raise SystemExit(f"main_job_report: --run {item!r} must be METHOD=DIR")
        results.append(read_run(method, Path(directory)))
    text = markdown(results, args.command, args.conditions, title=args.title, setup=args.setup)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
