"""AFSFT against SFT and Filtered BC on the simulated phone: offline from noisy demonstrations, then online.

For every seed S, three off2on runs start from the same shared SFT base (built once, alone, with every core):

- ``SFT``: plain SFT on every transition of the buffer (``afsft_off2on`` with ``algorithm.afsft.td_coeff=0`` and
  a beta warm-up longer than the run: the filter never switches on, the critic never trains the trunk; no
  exploration) -- the paper's "+ SFT" baseline on the same data and steps;
- ``Filtered BC``: imitation of the top trajectories by reward (``filteredbc_off2on``);
- ``AFSFT``: ``afsft_off2on`` as configured (Q head, TD, advantage filter, epsilon-greedy exploration).

AFSFT's filter switches on after ``algorithm.afsft.beta_warmup_steps`` actor updates (100 in configs/algorithm/afsft.yaml):
with ``train.offline_actor_epochs`` at or below it the whole offline phase is plain SFT plus the TD loss, so a shorter
offline phase needs ``--afsft-override algorithm.afsft.beta_warmup_steps=<fewer>``.

The offline phase trains on the demonstrator's noisy episodes (``train.offline_source=demonstrator``,
``train.offline_noise``) for ``train.offline_actor_epochs`` updates, then the online phase runs as the scale says.
Every run uses the same episode rules (invalid action: penalty 1, timeout after 3 in a row with penalty 2) and
**unconstrained decoding**: the cpu scale decodes inside the action grammar, which makes every output valid
and leaves nothing for AFSFT to learn from; this comparison turns it off for rollouts and evaluation alike.

Reported per method, after the offline phase and at the end: the success rate (mean over seeds with a 95%
t-interval across seeds, and the Wilson 95% interval of all evaluation episodes pooled), and the valid-syntax
rate (the share of evaluation steps whose text parses as an action, under the same unconstrained greedy
decoding; ``eval_invalid_actions / eval_env_steps`` of the evaluation's metrics line).

    python benchmarks/bench_afsft.py [--seeds 0 1 2] [--jobs 2] [--runs-dir runs/afsft]
                                     [--override key=value ...] [--fresh] [--report PATH.md] [--report-only]
                                     [--cores N] [--afsft-override key=value ...]

Writes the report (default benchmarks/reports/afsft.md) and a .json of every run's numbers beside it. Runs are
``scripts/run.py`` subprocesses scheduled by ``ablation_grid.run_grid`` (a finished run is reused, so rerunning
the command finishes an interrupted grid). Exits 1 if a run failed (the report holds what finished).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shlex
import shutil
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCHMARKS_DIR = str(Path(__file__).resolve().parent)
if BENCHMARKS_DIR not in sys.path:  # the sibling modules, however this file is loaded
    sys.path.insert(0, BENCHMARKS_DIR)

from ablation_grid import (  # noqa: E402
    BASE,
    REPO_ROOT,
    RESERVED_KEYS,
    GridOutcome,
    Method,
    RunSpec,
    UsageError,
    _hydra_value,
    check_launch_args,
    finished_outcome,
    run_grid,
)
from ablation_report import machine_info  # noqa: E402

from coso.atomic import atomic_write_text  # noqa: E402
from coso.stats import wilson_interval  # noqa: E402

DEFAULT_RUNS_DIR = REPO_ROOT / "runs" / "afsft"
DEFAULT_REPORT = REPO_ROOT / "benchmarks" / "reports" / "afsft.md"

# the same for every run of the comparison (the SFT base included, so that all three share it)
COMMON = [
    "agent.constrained_decoding=false",
    "agent.require_typed_text=false",
    "env.invalid_action=penalize",
    "env.invalid_action_penalty=1.0",
    "env.invalid_timeout_after=3",
    "env.invalid_timeout_penalty=2.0",
    "train.offline_source=demonstrator",
    "train.offline_noise=0.5",
    "train.offline_actor_epochs=200",
]
SFT = Method("SFT", "afsft_off2on", "sft")
FILTERED_BC = Method("Filtered BC", "filteredbc_off2on", "filteredbc")
AFSFT = Method("AFSFT", "afsft_off2on", "afsft")
METHODS = (SFT, FILTERED_BC, AFSFT)
# what makes afsft_off2on plain SFT: no TD in the loss, a filter that never switches on, no exploration
METHOD_OVERRIDES: dict[str, list[str]] = {
    SFT.label: ["algorithm.afsft.td_coeff=0", "algorithm.afsft.beta_warmup_steps=1000000000",
                "algorithm.afsft.epsilon=0"],
    FILTERED_BC.label: [],
    AFSFT.label: [],
}
STAGES = ("offline", "final")
# two-sided 95% Student t quantiles by degrees of freedom (seeds - 1)
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def build_specs(runs_dir: Path, seeds: Sequence[int], overrides: Sequence[str],
                afsft_overrides: Sequence[str] = ()) -> list[RunSpec]:
    """The shared SFT base (alone, every core), then per seed the three methods' off2on runs; an ``overrides``
    entry replaces the COMMON one of the same key (the scale's sft_steps must be > 0: the base is the warm start,
    e.g. ``scale=smoke train.sft_steps=20``); ``afsft_overrides`` go to the AFSFT runs only (its own settings,
    such as the filter's warm-up against a shorter offline phase)."""
    given = {_key(override) for override in overrides}
    common = [override for override in COMMON if _key(override) not in given]
    shared = [f"train.sft_cache_dir={_hydra_value(str(runs_dir / 'sft_base'))}", *common, *overrides]
    base_path = runs_dir / BASE.slug / "seed0"
    specs = [RunSpec(BASE, 0, base_path, [f"save_path={_hydra_value(str(base_path))}", *shared], exclusive=True)]
    for seed in seeds:
        for method in METHODS:
            path = runs_dir / method.slug / f"seed{seed}"
            specs.append(RunSpec(method, seed, path, [f"seed={seed}", f"save_path={_hydra_value(str(path))}",
                                                      *shared, *METHOD_OVERRIDES[method.label],
                                                      *(afsft_overrides if method is AFSFT else ())],
                                 depends_on=(BASE.label, 0)))
    return specs


# ---------------------------------------------------------------------------------------------- reading runs


@dataclass(frozen=True)
class StageResult:
    """One evaluation of one run: successes over episodes, and valid evaluation steps over all of them."""

    successes: int
    episodes: int
    valid_steps: int
    steps: int

    @property
    def success_rate(self) -> float:
        return self.successes / self.episodes if self.episodes else 0.0

    @property
    def valid_rate(self) -> float:
        return self.valid_steps / self.steps if self.steps else 0.0


def read_stage(run_dir: Path, stage: str) -> StageResult | None:
    """The evaluation ``eval_<stage>`` of a run from its metrics.jsonl (None when it has none)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return None
    found = None
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record.get("phase") == f"eval_{stage}":
            found = record
    if found is None:
        return None
    episodes = int(found["eval_episodes"])
    steps = int(found["eval_env_steps"])
    return StageResult(successes=int(found["eval_successes"]), episodes=episodes,
                       valid_steps=steps - int(found["eval_invalid_actions"]), steps=steps)


def mean_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and the 95% t-interval across seeds (the mean twice when there is one seed)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, mean, mean
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    half = T95.get(len(values) - 1, 1.96) * std / math.sqrt(len(values))
    return mean, max(0.0, mean - half), min(1.0, mean + half)


def summarise(results: Sequence[StageResult]) -> dict[str, Any]:
    """A method's stage over seeds: success (mean, t-interval, pooled Wilson) and valid-syntax rate."""
    success = mean_interval([r.success_rate for r in results])
    valid = mean_interval([r.valid_rate for r in results])
    successes, episodes = sum(r.successes for r in results), sum(r.episodes for r in results)
    return {"seeds": len(results), "success_mean": success[0], "success_t95": [success[1], success[2]],
            "success_pooled": successes / episodes if episodes else 0.0,
            "success_wilson95": list(wilson_interval(successes, episodes)), "episodes": episodes,
            "valid_mean": valid[0], "valid_t95": [valid[1], valid[2]],
            "valid_pooled": (sum(r.valid_steps for r in results) / max(sum(r.steps for r in results), 1))}


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def render(command: str, seeds: Sequence[int], table: dict[str, dict[str, dict[str, Any]]],
           per_run: dict[str, dict[str, dict[str, Any]]], outcome: GridOutcome) -> str:
    """The markdown report."""
    lines = ["# AFSFT vs SFT vs Filtered BC on the simulated phone", "",
             f"Command: `{command}`", "", f"Seeds: {' '.join(map(str, seeds))}. Machine: {machine_info()}.", "",
             "Every run: shared SFT base, then offline on noisy demonstrations, then online; unconstrained "
             "decoding, invalid action -1, timeout after 3 in a row -2 (benchmarks/bench_afsft.py). "
             "Valid = share of evaluation steps whose text parses (greedy, unconstrained).", ""]
    for stage in STAGES:
        lines += [f"## After the {stage} phase" if stage == "offline" else "## Final (after the online phase)", "",
                  "| method | seeds | success mean [95% t] | pooled success [Wilson 95%] (episodes) "
                  "| valid-syntax mean [95% t] |", "|---|---|---|---|---|"]
        for method in METHODS:
            row = table.get(method.label, {}).get(stage)
            if row is None:
                lines.append(f"| {method.label} | 0 | not run | | |")
                continue
            lines.append(
                f"| {method.label} | {row['seeds']} | {_pct(row['success_mean'])} [{_pct(row['success_t95'][0])}, "
                f"{_pct(row['success_t95'][1])}] | {_pct(row['success_pooled'])} "
                f"[{_pct(row['success_wilson95'][0])}, {_pct(row['success_wilson95'][1])}] ({row['episodes']}) | "
                f"{_pct(row['valid_mean'])} [{_pct(row['valid_t95'][0])}, {_pct(row['valid_t95'][1])}] |")
        lines.append("")
    lines += ["## Per run", "", "| method | seed | offline success | offline valid | final success | final valid |",
              "|---|---|---|---|---|---|"]
    for method in METHODS:
        for seed, stages in sorted(per_run.get(method.label, {}).items()):
            cells = []
            for stage in STAGES:
                result = stages.get(stage)
                cells += ([f"{result['successes']}/{result['episodes']}",
                           f"{result['valid_steps']}/{result['steps']} steps"] if result else ["-", "-"])
            lines.append(f"| {method.label} | {seed} | " + " | ".join(cells) + " |")
    if outcome.failed:
        lines += ["", "## Not finished", ""] + [f"- {label} seed {seed}: {why}"
                                                 for (label, seed), why in outcome.failed.items()]
    return "\n".join(lines) + "\n"


def write_report(report: Path, seeds: Sequence[int], argv: Sequence[str], specs: Sequence[RunSpec],
                 outcome: GridOutcome) -> dict[str, Any]:
    """Read every finished method run, write the markdown report and its .json; return the json document."""
    per_run: dict[str, dict[str, dict[str, Any]]] = {}
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for method in METHODS:
        stages: dict[str, list[StageResult]] = {stage: [] for stage in STAGES}
        for spec in specs:
            if spec.method != method or spec.key not in outcome.finished:
                continue
            for stage in STAGES:
                result = read_stage(spec.save_path, stage)
                if result is not None:
                    stages[stage].append(result)
                    per_run.setdefault(method.label, {}).setdefault(spec.seed, {})[stage] = asdict(result)
        table[method.label] = {stage: summarise(results) for stage, results in stages.items() if results}
    command = "python benchmarks/bench_afsft.py " + shlex.join(argv)
    document = {"command": command, "seeds": list(seeds), "common_overrides": COMMON,
                "method_overrides": METHOD_OVERRIDES, "table": table,
                "per_run": {label: {str(seed): stages for seed, stages in runs.items()}
                            for label, runs in per_run.items()},
                "failed": {f"{label} seed {seed}": why for (label, seed), why in outcome.failed.items()},
                "wall_seconds": round(outcome.wall_seconds, 1)}
    report.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(report, render(command, seeds, table, per_run, outcome))
    atomic_write_text(report.with_suffix(".json"), json.dumps(document, indent=2) + "\n")
    return document


# ---------------------------------------------------------------------------------------------- command line


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2
        raise UsageError(message)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Validate the command line; raise UsageError with a one-line message on bad input."""
    parser = _Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds (default 0 1 2)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (default 2)")
    parser.add_argument("--runs-dir", type=Path, default=DEFAULT_RUNS_DIR, help="where the runs go")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="a Hydra override appended to every run (repeatable), e.g. scale=smoke")
    parser.add_argument("--fresh", action="store_true", help="delete the runs dir first")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT, help="the markdown report (.md)")
    parser.add_argument("--report-only", action="store_true", help="launch nothing: report what has finished")
    parser.add_argument("--afsft-override", action="append", default=[], metavar="KEY=VALUE",
                        help="a Hydra override for the AFSFT runs only (repeatable), e.g. "
                             "algorithm.afsft.beta_warmup_steps=50")
    parser.add_argument("--cores", type=int, default=None,
                        help="threads the runs share (default: every core; fewer when something else runs)")
    args = parser.parse_args(list(argv))
    if args.cores is not None and args.cores < 1:
        raise UsageError(f"--cores takes a positive integer, got {args.cores}")
    if args.jobs < 1 or not args.seeds or len(set(args.seeds)) != len(args.seeds) or min(args.seeds) < 0:
        raise UsageError("--jobs takes a positive integer and --seeds distinct integers >= 0")
    for override in [*args.override, *args.afsft_override]:
        key = _key(override)
        if "=" not in override or not key or not re.fullmatch(r"[A-Za-z0-9_.]+", key):
            raise UsageError(f"--override takes key=value, got {override!r}")
        if key in RESERVED_KEYS:
            raise UsageError(f"--override {key}=... is set by the grid itself ({', '.join(RESERVED_KEYS)})")
    if args.report.suffix != ".md":
        raise UsageError(f"--report must name a .md file, got {str(args.report)!r}")
    args.runs_dir, args.report = args.runs_dir.resolve(), args.report.resolve()
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and write the report; 0 when every run finished, 1 when one failed, 2 on bad input."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parse_args(argv)
        if args.fresh and args.runs_dir.exists():
            shutil.rmtree(args.runs_dir)
        specs = build_specs(args.runs_dir, args.seeds, args.override, args.afsft_override)
        check_launch_args(specs)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"AFSFT comparison: seeds {' '.join(map(str, args.seeds))}, {len(specs)} runs, --jobs {args.jobs}, "
          f"runs in {args.runs_dir}", flush=True)
    if args.report_only:
        outcome = finished_outcome(specs)
    else:
        try:
            outcome = run_grid(specs, args.jobs, lambda line: print(line, flush=True), args.cores)
        except KeyboardInterrupt:
            print("interrupted: the runs this grid started were stopped; rerun the command to resume",
                  file=sys.stderr)
            return 130
    document = write_report(args.report, args.seeds, argv, specs, outcome)
    print(f"report: {args.report} (+ .json); {len(outcome.finished)}/{len(specs)} runs finished", flush=True)
    for label, stages in document["table"].items():
        for stage, row in stages.items():
            print(f"  {label:12s} {stage:8s} success {_pct(row['success_mean'])} "
                  f"(pooled {_pct(row['success_pooled'])}, Wilson {_pct(row['success_wilson95'][0])}-"
                  f"{_pct(row['success_wilson95'][1])}), valid {_pct(row['valid_mean'])}", flush=True)
    return 1 if outcome.failed else 0


if __name__ == "__main__":
    sys.exit(main())
