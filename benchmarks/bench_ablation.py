"""The entropy ablation grid: DigiRL vs naive entropy vs CoSo off2on from shared offline checkpoints, with a report.

For every seed S, one offline run (``digirl_offline``: initial eval of the untrained model, SFT warm start,
DigiRL's offline phase, offline eval) writes a checkpoint; then three online runs start from it with the
same budget: ``digirl_off2on`` (DigiRL), ``entropy_off2on`` (naive entropy) and ``coso_off2on`` (CoSo), each
with ``load_path=<the offline run> seed=S``. Runs are ``scripts/run.py`` subprocesses, up to ``--jobs`` at a
time (an online run waits for its seed's offline run), each with ``OMP_NUM_THREADS = cores // jobs`` and its
output in ``<save_path>.log``. A run whose summary.json is complete is reused, so rerunning the command
finishes an interrupted grid; ``--fresh`` starts over. ``--override key=value`` (repeatable) is appended to
every run, e.g. ``--override scale=smoke`` for a first look.

    python benchmarks/bench_ablation.py [--seeds 0 1 2] [--jobs 2] [--runs-dir runs/ablation]
                                        [--override key=value ...] [--fresh] [--report PATH.md]

Writes benchmarks/reports/ablation.md, ablation.json (every run's numbers) and ablation.png (learning
curves and final success per seed). Exits non-zero if a run failed; the report then holds what finished.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from coso.atomic import atomic_write, atomic_write_text
from coso.stats import wilson_interval

REPO_ROOT = Path(__file__).resolve().parent.parent
RUN_SCRIPT = REPO_ROOT / "scripts" / "run.py"
DEFAULT_RUNS_DIR = REPO_ROOT / "runs" / "ablation"
DEFAULT_REPORT = REPO_ROOT / "benchmarks" / "reports" / "ablation.md"
STAGES = ("initial", "sft", "offline", "final")
BUDGET_KEYS = ("scale_name", "train.online_iterations", "train.rollout_size", "train.actor_epochs",
               "train.batch_size", "train.sft_steps", "train.offline_episodes", "train.eval_episodes",
               "env.task_set", "entropy_coeff")
RESERVED_KEYS = ("seed", "save_path", "load_path")  # the grid sets these for every run
WEIGHT_KEYS = ("share_above_0_8", "share_below_0_2", "mean")  # CoSo's token-weight statistics in metrics.jsonl
LOG_TAIL_LINES = 20
POLL_SECONDS = 0.2
TIE = 1e-9
WALL_LEDGER = "grid_wall.json"  # in the runs dir: the wall time of each invocation that ran something


class UsageError(Exception):
    """A bad command-line argument or an unusable runs directory: reported in one line, exit code 2."""


@dataclass(frozen=True)
class Method:
    """One kind of run in the grid: its label in the report, its run config and its runs-dir folder."""

    label: str
    config_name: str
    slug: str


BASE = Method("SFT base", "pretrain_base", "sft_base_run")
OFFLINE = Method("offline", "digirl_offline", "offline")
METHODS = (Method("DigiRL", "digirl_off2on", "digirl"),
           Method("naive entropy", "entropy_off2on", "entropy"),
           Method("CoSo", "coso_off2on", "coso"))


# ---------------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class CurvePoint:
    """One online iteration of a run: cumulative online env steps and that iteration's rollout success."""

    iteration: int
    env_steps: int
    success_rate: float


@dataclass
class RunRecord:
    """The numbers of one finished run, read from its summary.json and metrics.jsonl."""

    method: str
    seed: int
    eval_success: dict[str, float]
    env_steps: int
    episodes: int
    wall_seconds: float  # the run's timed phases (rollouts, updates, evaluations), summed over resumes
    curve: list[CurvePoint] = field(default_factory=list)
    eval_counts: dict[str, list[int]] = field(default_factory=dict)  # stage -> [successes, episodes]
    weight_stats: dict[str, float] = field(default_factory=dict)  # CoSo: token-weight statistics, online mean


@dataclass
class MethodRow:
    """One method's line of the results table (success rates as fractions; None where undefined)."""

    method: str
    seeds: list[int]
    final: list[float]  # final eval success per seed, in the order of ``seeds``
    missing_seeds: list[int]
    final_mean: float | None
    final_std: float | None
    offline_mean: float | None
    offline_std: float | None
    env_steps_mean: float | None
    wall_seconds_mean: float | None
    gain_mean: float | None = None  # final - offline, mean over seeds
    gain_std: float | None = None
    pooled_ci: tuple[float, float] | None = None  # 95% Wilson interval of the final success, episodes pooled
    pooled_episodes: int = 0


@dataclass
class StageRow:
    """One seed's eval success at each stage of a run (None where the run did not evaluate it)."""

    seed: int
    initial: float | None
    sft: float | None
    offline: float | None
    final: float | None


@dataclass
class MeanCurve:
    """Learning curves averaged over seeds by iteration index (sample std; 0 with one seed)."""

    env_steps: list[float]
    mean: list[float]
    std: list[float]
    seeds: int


# ---------------------------------------------------------------------------------------------- aggregation


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (ddof=1); None for the mean of nothing and the std of < 2 values."""
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _by_key(records: Iterable[RunRecord]) -> dict[tuple[str, int], RunRecord]:
    return {(record.method, record.seed): record for record in records}


def method_rows(records: Sequence[RunRecord], methods: Sequence[str], seeds: Sequence[int]) -> list[MethodRow]:
    """One results-table row per method over the given seeds; missing runs are listed, not counted."""
    index = _by_key(records)
    rows = []
    for method in methods:
        found = [index[(method, seed)] for seed in seeds if (method, seed) in index]
        missing = [seed for seed in seeds if (method, seed) not in index]
        final = [record.eval_success.get("final") for record in found]
        scored = [(record, value) for record, value in zip(found, final) if value is not None]
        offline = []
        for record in found:  # carried over from the shared offline run; fall back to that run's own record
            value = record.eval_success.get("offline")
            if value is None and (OFFLINE.label, record.seed) in index:
                value = index[(OFFLINE.label, record.seed)].eval_success.get("offline")
            if value is not None:
                offline.append(value)
        final_mean, final_std = mean_std([value for _, value in scored])
        offline_mean, offline_std = mean_std(offline)
        gains = [record.eval_success["final"] - record.eval_success["offline"] for record in found
                 if "final" in record.eval_success and "offline" in record.eval_success]
        gain_mean, gain_std = mean_std(gains)
        counts = [record.eval_counts["final"] for record in found if "final" in record.eval_counts]
        pooled = (sum(c[0] for c in counts), sum(c[1] for c in counts))
        rows.append(MethodRow(
            method=method,
            seeds=[record.seed for record, _ in scored],
            final=[value for _, value in scored],
            missing_seeds=missing + [record.seed for record, value in zip(found, final) if value is None],
            final_mean=final_mean,
            final_std=final_std,
            offline_mean=offline_mean,
            offline_std=offline_std,
            env_steps_mean=mean_std([record.env_steps for record in found])[0],
            wall_seconds_mean=mean_std([record.wall_seconds for record in found])[0],
            gain_mean=gain_mean,
            gain_std=gain_std,
            pooled_ci=wilson_interval(*pooled) if pooled[1] else None,
            pooled_episodes=pooled[1],
        ))
    return rows


def stage_rows(records: Sequence[RunRecord], method: str, seeds: Sequence[int]) -> list[StageRow]:
    """Per-seed initial / sft / offline / final eval success of one method's runs (seeds without a run left out)."""
    index = _by_key(records)
    rows = []
    for seed in seeds:
        record = index.get((method, seed))
        if record is not None:
            rows.append(StageRow(seed, *(record.eval_success.get(stage) for stage in STAGES)))
    return rows


def _pct(value: float | None, digits: int = 1, signed: bool = False) -> str:
    return "—" if value is None else f"{100 * value:{'+' if signed else ''}.{digits}f}"


def ordering_statement(rows: Sequence[MethodRow]) -> list[str]:
    """The ordering of the final-success means and, per pair, whether the difference exceeds one std."""
    ranked = sorted((row for row in rows if row.final_mean is not None), key=lambda row: -row.final_mean)
    lines = []
    if ranked:
        text = f"{ranked[0].method} ({_pct(ranked[0].final_mean)}%)"
        for previous, row in zip(ranked, ranked[1:]):
            relation = "=" if abs(previous.final_mean - row.final_mean) <= TIE else ">"
            text += f" {relation} {row.method} ({_pct(row.final_mean)}%)"
        lines.append(f"Ordering of the mean final eval success: {text}.")
    for high, low in itertools.combinations(ranked, 2):
        difference = high.final_mean - low.final_mean
        if high.final_std is None or low.final_std is None:
            verdict = "no std to compare with (fewer than 2 seeds)"
        else:
            largest = max(high.final_std, low.final_std)
            exceeds = difference > largest + TIE
            verdict = (f"{'exceeds' if exceeds else 'does not exceed'} one std "
                       f"(the larger of the two, {_pct(largest)} points)")
        lines.append(f"{high.method} − {low.method}: {100 * difference:.1f} points, {verdict}.")
    absent = [row.method for row in rows if row.final_mean is None]
    if absent:
        lines.append(f"No finished runs for: {', '.join(absent)}.")
    return lines


def mean_curve(curves: Sequence[Sequence[CurvePoint]]) -> MeanCurve:
    """Mean and sample std over seeds at each iteration index, up to the shortest curve."""
    curves = [curve for curve in curves if curve]
    length = min((len(curve) for curve in curves), default=0)
    steps, means, stds = [], [], []
    for i in range(length):
        mean, std = mean_std([curve[i].success_rate for curve in curves])
        steps.append(mean_std([float(curve[i].env_steps) for curve in curves])[0])
        means.append(mean)
        stds.append(std or 0.0)
    return MeanCurve(steps, means, stds, len(curves))


def budget_from_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The budget keys (dotted paths) of a resolved run config; None where a key is absent."""
    budget = {}
    for key in BUDGET_KEYS:
        value: Any = config
        for part in key.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        budget[key] = value
    return budget


def _weight_lines(weight_stats: Mapping[str, float]) -> list[str]:
    """CoSo's counterfactual token weights in the online phase, beside the paper's statistics."""
    if not weight_stats:
        return []
    return [
        "## CoSo's token weights",
        "",
        "Mean over the CoSo runs' online actor updates (each update's share of action tokens):",
        "",
        "| statistic | this grid | CoSo paper |",
        "|---|---|---|",
        f"| tokens with weight > 0.8 | {_pct(weight_stats.get('share_above_0_8'))}% | < 10% |",
        f"| tokens with weight < 0.2 | {_pct(weight_stats.get('share_below_0_2'))}% | > 80% |",
        f"| mean weight | {weight_stats.get('mean', float('nan')):.3f} | — |",
        "",
    ]


def render_markdown(*, command: str, machine: Mapping[str, Any], budget: Mapping[str, Any], budget_source: str,
                    rows: Sequence[MethodRow], stages: Sequence[StageRow], ordering: Sequence[str],
                    grid_wall_seconds: float, invocations: int, this_wall_seconds: float,
                    runs_wall_seconds: float, executed: int, reused: int,
                    failures: Sequence[str], plot_name: str,
                    weight_stats: Mapping[str, float] | None = None) -> str:
    """The report's markdown."""
    lines = [
        "# Entropy ablation: DigiRL vs naive entropy vs CoSo (off2on, simulated phone)",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {machine['cpu_count']} CPUs, torch {machine['torch']}, Python {machine['python']} "
        f"({machine['platform']}).",
        "",
        f"Scaled-down budget (from {budget_source}): "
        + ", ".join(f"{key}={value}" for key, value in budget.items()) + ". "
        "Every online run of a seed starts from that seed's offline checkpoint (initial eval, SFT warm start, "
        "DigiRL offline phase, offline eval) with the same budget.",
        "",
        "Success rates are in %; ± is the sample standard deviation over seeds (ddof=1), — where undefined "
        "(fewer than 2 seeds). Online env steps and wall seconds are those of the online run alone; wall "
        "seconds are the run's timed phases (rollouts, updates, evaluation), without process start-up.",
        "",
        "| method | final eval success | 95% CI (episodes pooled) | per seed (seed: final) | shared offline success "
        "| final − offline | online env steps (mean) | online wall s (mean) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        per_seed = ", ".join(f"{seed}: {_pct(value)}" for seed, value in zip(row.seeds, row.final)) or "—"
        if row.missing_seeds:
            per_seed += f" (missing: {', '.join(str(seed) for seed in row.missing_seeds)})"
        steps = "—" if row.env_steps_mean is None else f"{row.env_steps_mean:.0f}"
        wall = "—" if row.wall_seconds_mean is None else f"{row.wall_seconds_mean:.1f}"
        pooled = ("—" if row.pooled_ci is None else
                  f"{_pct(row.pooled_ci[0])}–{_pct(row.pooled_ci[1])} ({row.pooled_episodes} episodes)")
        lines.append(f"| {row.method} | {_pct(row.final_mean)} ± {_pct(row.final_std)} | {pooled} | {per_seed} | "
                     f"{_pct(row.offline_mean)} ± {_pct(row.offline_std)} | "
                     f"{_pct(row.gain_mean, signed=True)} ± {_pct(row.gain_std)} | {steps} | {wall} |")
    lines += [
        "",
        f"Total grid wall time: {grid_wall_seconds:.1f} s, summed over the {invocations} invocation(s) that "
        f"ran something; this invocation: {this_wall_seconds:.1f} s ({executed} runs executed, {reused} "
        f"reused). The timed phases of all runs add up to {runs_wall_seconds:.1f} s.",
        "",
        "Whatever ordering comes out is reported as it is:",
        "",
        *(f"- {line}" for line in ordering),
        "",
        *_weight_lines(weight_stats or {}),
        "## DigiRL per seed",
        "",
        "Eval success (%) at each stage: initial (untrained), after SFT, after the offline phase, after the "
        "online phase; — where the run did not evaluate that stage.",
        "",
        "| seed | initial | sft | offline | final |",
        "|---|---|---|---|---|",
        *(f"| {row.seed} | {_pct(row.initial)} | {_pct(row.sft)} | {_pct(row.offline)} | {_pct(row.final)} |"
          for row in stages),
        "",
        f"![learning curves and final success]({plot_name})",
        "",
    ]
    if failures:
        lines += ["## Failed runs", "", *(f"- {failure}" for failure in failures), ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- run files


def read_record(method: str, seed: int, run_dir: Path) -> RunRecord:
    """A finished run's record from its summary.json and the "online" records of its metrics.jsonl."""
    summary = json.loads((run_dir / "summary.json").read_text())
    wall = summary.get("wall_seconds") or {}
    by_steps: dict[int, float] = {}
    weights: dict[str, list[float]] = {}
    metrics = run_dir / "metrics.jsonl"
    for line in metrics.read_text().splitlines() if metrics.exists() else []:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut short by a killed process
        if entry.get("phase") == "online" and entry.get("success_rate") is not None:
            by_steps[int(entry.get("env_steps", entry.get("step", 0)))] = float(entry["success_rate"])
        if entry.get("phase") == "online":
            for key in WEIGHT_KEYS:
                if entry.get(f"weights/{key}") is not None:
                    weights.setdefault(key, []).append(float(entry[f"weights/{key}"]))
    curve = [CurvePoint(i, steps, rate) for i, (steps, rate) in enumerate(sorted(by_steps.items()))]
    episodes = int(summary.get("eval_episodes", 0) or 0)
    eval_counts = {stage: [round(float(rate) * episodes), episodes]
                   for stage, rate in (summary.get("eval_success_rate") or {}).items()
                   if rate is not None and episodes}
    return RunRecord(
        method=method,
        seed=seed,
        eval_success={key: float(value) for key, value in (summary.get("eval_success_rate") or {}).items()
                      if value is not None},
        env_steps=int(summary.get("env_steps", 0)),
        episodes=int(summary.get("episodes", 0)),
        wall_seconds=round(sum(float(v) for k, v in wall.items() if k != "total_this_process"), 2),
        curve=curve,
        eval_counts=eval_counts,
        weight_stats={key: sum(values) / len(values) for key, values in weights.items() if values},
    )


def plot_ablation(curves: Mapping[str, MeanCurve], rows: Sequence[MethodRow], path: Path) -> None:
    """Learning curves (mean ± std over seeds) and final eval success per seed, into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = dict(zip([row.method for row in rows], plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for method, curve in curves.items():
        if not curve.mean:
            continue
        low = [m - s for m, s in zip(curve.mean, curve.std)]
        high = [m + s for m, s in zip(curve.mean, curve.std)]
        left.plot(curve.env_steps, curve.mean, marker="o", markersize=3, color=colors.get(method),
                  label=f"{method} (n={curve.seeds})")
        left.fill_between(curve.env_steps, low, high, color=colors.get(method), alpha=0.2)
    left.set_xlabel("online env steps")
    left.set_ylabel("online rollout success rate")
    left.set_title("Online learning curves (mean ± std over seeds)")
    left.set_ylim(bottom=-0.02)  # a rate of 0 stays visible
    left.legend(loc="best", fontsize="small")
    for x, row in enumerate(rows):
        if row.final_mean is not None:
            right.bar(x, row.final_mean, width=0.6, color=colors.get(row.method), alpha=0.35)
        for seed, value in zip(row.seeds, row.final):
            right.scatter(x, value, color=colors.get(row.method), edgecolor="black", zorder=3)
            right.annotate(f"s{seed}", (x, value), textcoords="offset points", xytext=(6, -3), fontsize=7)
    right.set_xticks(range(len(rows)), [row.method for row in rows])
    right.set_ylabel("final eval success rate")
    right.set_title("Final eval success: seeds (points), means (bars)")
    right.set_ylim(bottom=-0.02)
    figure.tight_layout()
    atomic_write(path, lambda temporary: figure.savefig(temporary, format="png", dpi=110))
    plt.close(figure)


# ---------------------------------------------------------------------------------------------- orchestration


@dataclass
class RunSpec:
    """One run of the grid: what to launch, where it writes, and which run it waits for."""

    method: Method
    seed: int
    save_path: Path
    hydra_args: list[str]
    depends_on: tuple[str, int] | None = None
    exclusive: bool = False  # runs alone, with every core (the shared SFT base everything waits for)

    @property
    def key(self) -> tuple[str, int]:
        """(method label, seed)."""
        return self.method.label, self.seed

    @property
    def name(self) -> str:
        """How progress lines name the run."""
        return f"{self.method.label} seed {self.seed}"

    @property
    def log_path(self) -> Path:
        """<save_path>.log: the run's stdout and stderr."""
        return self.save_path.with_name(self.save_path.name + ".log")

    @property
    def args_path(self) -> Path:
        """<save_path>.args.json: the arguments the run was launched with (to refuse mixing budgets)."""
        return self.save_path.with_name(self.save_path.name + ".args.json")

    def command(self) -> list[str]:
        """The subprocess command line."""
        return [sys.executable, str(RUN_SCRIPT), "--config-name", self.method.config_name, *self.hydra_args]


@dataclass
class GridOutcome:
    """What a grid invocation did: finished and failed runs (with why), and its wall time."""

    finished: list[tuple[str, int]] = field(default_factory=list)
    failed: dict[tuple[str, int], str] = field(default_factory=dict)
    executed: list[tuple[str, int]] = field(default_factory=list)
    reused: list[tuple[str, int]] = field(default_factory=list)
    process_seconds: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0


def _hydra_value(value: str) -> str:
    """A value for a Hydra override, quoted when it holds characters the override grammar would parse."""
    if re.fullmatch(r"[A-Za-z0-9_./:+\-]+", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def build_specs(runs_dir: Path, seeds: Sequence[int], overrides: Sequence[str]) -> list[RunSpec]:
    """The grid's runs: the shared SFT base (alone, with every core), every seed's offline run (the critical
    path, so they start before any online run that is also ready), then per seed the three online runs that
    load it. The base lives in ``<runs_dir>/sft_base`` (``train.sft_cache_dir``), so ``--fresh`` rebuilds it."""
    overrides = [f"train.sft_cache_dir={_hydra_value(str(runs_dir / 'sft_base'))}", *overrides]
    base_path = runs_dir / BASE.slug / "seed0"
    specs = [RunSpec(BASE, 0, base_path, [f"save_path={_hydra_value(str(base_path))}", *overrides], exclusive=True)]
    for seed in seeds:
        offline_path = runs_dir / OFFLINE.slug / f"seed{seed}"
        specs.append(RunSpec(OFFLINE, seed, offline_path,
                             [f"seed={seed}", f"save_path={_hydra_value(str(offline_path))}", *overrides],
                             depends_on=(BASE.label, 0)))
    for seed in seeds:
        offline_path = runs_dir / OFFLINE.slug / f"seed{seed}"
        for method in METHODS:
            path = runs_dir / method.slug / f"seed{seed}"
            specs.append(RunSpec(method, seed, path,
                                 [f"load_path={_hydra_value(str(offline_path))}", f"seed={seed}",
                                  f"save_path={_hydra_value(str(path))}", *overrides],
                                 depends_on=(OFFLINE.label, seed)))
    return specs


def is_finished(spec: RunSpec) -> bool:
    """Whether the run's summary.json is that of a finished run of this config and seed."""
    try:
        summary = json.loads((spec.save_path / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(summary, dict) and summary.get("config_name") == spec.method.config_name
            and summary.get("seed") == spec.seed and "final" in (summary.get("eval_success_rate") or {}))


def check_launch_args(specs: Sequence[RunSpec]) -> None:
    """Refuse a runs dir whose runs were launched with other arguments (they would resume with a mixed budget)."""
    for spec in specs:
        try:
            previous = json.loads(spec.args_path.read_text())
        except (OSError, ValueError):
            continue
        if previous != spec.hydra_args:
            raise UsageError(f"{spec.save_path} was launched with other arguments ({shlex.join(previous)}); "
                             f"use --fresh or another --runs-dir")


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "    (no log)"
    return "\n".join(f"    {line}" for line in text[-lines:])


def run_grid(specs: Sequence[RunSpec], jobs: int, print_line: Callable[[str], None] = print) -> GridOutcome:
    """Run the specs as subprocesses, up to ``jobs`` at a time, each after the run it depends on."""
    outcome = GridOutcome()
    started = time.perf_counter()
    cores = os.cpu_count() or 1
    threads = max(1, cores // jobs)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    env.setdefault("WANDB_MODE", "offline")
    exclusive_env = dict(env, OMP_NUM_THREADS=str(cores))

    def say(text: str) -> None:
        print_line(f"[{time.perf_counter() - started:7.1f}s] {text}")

    pending = []
    for spec in specs:
        if is_finished(spec):
            outcome.finished.append(spec.key)
            outcome.reused.append(spec.key)
            say(f"reuse   {spec.name} (finished: {spec.save_path}/summary.json)")
        else:
            pending.append(spec)
    running: dict[tuple[str, int], tuple[RunSpec, subprocess.Popen, Any, float]] = {}
    try:
        while pending or running:
            for spec in list(pending):
                if spec.depends_on in outcome.failed:
                    pending.remove(spec)
                    outcome.failed[spec.key] = f"not run: {spec.depends_on[0]} seed {spec.depends_on[1]} failed"
                    say(f"skip    {spec.name} ({outcome.failed[spec.key]})")
                elif (len(running) < jobs and (spec.depends_on is None or spec.depends_on in outcome.finished)
                      and not (spec.exclusive and running)
                      and not any(other.exclusive for other, *_ in running.values())):
                    pending.remove(spec)
                    spec.save_path.parent.mkdir(parents=True, exist_ok=True)
                    atomic_write_text(spec.args_path, json.dumps(spec.hydra_args) + "\n")
                    log = spec.log_path.open("a")
                    log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(spec.command())}\n")
                    log.flush()
                    process = subprocess.Popen(spec.command(), stdout=log, stderr=subprocess.STDOUT,
                                               env=exclusive_env if spec.exclusive else env, cwd=REPO_ROOT)
                    running[spec.key] = (spec, process, log, time.perf_counter())
                    run_threads = cores if spec.exclusive else threads
                    say(f"start   {spec.name} ({spec.method.config_name}, OMP_NUM_THREADS={run_threads}, "
                        f"log {spec.log_path})")
            for key, (spec, process, log, since) in list(running.items()):
                if process.poll() is None:
                    continue
                del running[key]
                log.close()
                seconds = time.perf_counter() - since
                outcome.executed.append(key)
                outcome.process_seconds[f"{spec.method.label} seed {spec.seed}"] = round(seconds, 1)
                if process.returncode == 0 and is_finished(spec):
                    outcome.finished.append(key)
                    say(f"done    {spec.name} in {seconds:.1f}s")
                else:
                    why = f"exit code {process.returncode}" if process.returncode else "no complete summary.json"
                    outcome.failed[key] = f"{why}, log {spec.log_path}"
                    say(f"FAILED  {spec.name} after {seconds:.1f}s ({why}); last lines of {spec.log_path}:\n"
                        f"{_tail(spec.log_path)}")
            if running or pending:
                time.sleep(POLL_SECONDS)
    finally:
        for spec, process, log, _ in running.values():  # interrupted: stop the runs this grid started
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()
    outcome.wall_seconds = time.perf_counter() - started
    return outcome


# ---------------------------------------------------------------------------------------------- command line


@dataclass
class Settings:
    """The validated command-line arguments."""

    seeds: list[int]
    jobs: int
    runs_dir: Path
    overrides: list[str]
    fresh: bool
    report: Path
    report_only: bool = False


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        raise UsageError(message)


def _parse_seeds(values: Sequence[str]) -> list[int]:
    seeds = []
    for value in values:
        for part in value.replace(",", " ").split():
            if not re.fullmatch(r"\d+", part):
                raise UsageError(f"--seeds takes non-negative integers (e.g. --seeds 0 1 2), got {part!r}")
            seeds.append(int(part))
    if not seeds:
        raise UsageError("--seeds needs at least one seed")
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds has a seed twice: {' '.join(map(str, seeds))}")
    return seeds


def parse_args(argv: Sequence[str]) -> Settings:
    """Validate the command line; raise UsageError with a one-line message on bad input."""
    parser = _Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", default=["0", "1", "2"], help="seeds (default 0 1 2)")
    parser.add_argument("--jobs", default="2", help="runs at a time (default 2)")
    parser.add_argument("--runs-dir", type=Path, default=DEFAULT_RUNS_DIR, help="where the runs go")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="a Hydra override appended to every run (repeatable)")
    parser.add_argument("--fresh", action="store_true", help="delete the runs dir first")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT, help="the markdown report (.md)")
    parser.add_argument("--report-only", action="store_true",
                        help="launch nothing: report the runs that have finished, list the others as not run")
    args = parser.parse_args(list(argv))
    if not re.fullmatch(r"\d+", args.jobs) or int(args.jobs) < 1:
        raise UsageError(f"--jobs takes a positive integer, got {args.jobs!r}")
    for override in args.override:
        key = override.split("=", 1)[0].lstrip("+~")
        if "=" not in override or not key:
            raise UsageError(f"--override takes key=value, got {override!r}")
        if key in RESERVED_KEYS:
            raise UsageError(f"--override {key}=... is set by the grid itself ({', '.join(RESERVED_KEYS)})")
    if args.report.suffix != ".md":
        raise UsageError(f"--report must name a .md file, got {str(args.report)!r}")
    return Settings(seeds=_parse_seeds(args.seeds), jobs=int(args.jobs), runs_dir=args.runs_dir.resolve(),
                    overrides=list(args.override), fresh=args.fresh, report=args.report.resolve(),
                    report_only=args.report_only)


def remove_runs_dir(runs_dir: Path) -> None:
    """--fresh: delete the runs dir, refusing one that holds anything the grid did not write."""
    if not runs_dir.exists():
        return
    if not runs_dir.is_dir():
        raise UsageError(f"--runs-dir {runs_dir} is not a directory")
    ours = {BASE.slug, "sft_base", OFFLINE.slug, *(method.slug for method in METHODS), WALL_LEDGER}
    foreign = sorted(entry.name for entry in runs_dir.iterdir() if entry.name not in ours)
    if foreign:
        raise UsageError(f"--fresh refuses to delete {runs_dir}: it holds {', '.join(foreign[:5])}, "
                         f"which the grid does not write")
    shutil.rmtree(runs_dir)


def record_grid_wall(runs_dir: Path, outcome: GridOutcome) -> list[float]:
    """Add this invocation's wall time to the runs dir's ledger (when it ran something); return the ledger."""
    path = runs_dir / WALL_LEDGER
    try:
        ledger = [float(value) for value in json.loads(path.read_text())["invocation_wall_seconds"]]
    except (OSError, ValueError, KeyError, TypeError):
        ledger = []
    if outcome.executed:
        ledger.append(round(outcome.wall_seconds, 1))
        atomic_write_text(path, json.dumps({"invocation_wall_seconds": ledger}) + "\n")
    return ledger


def machine_info() -> dict[str, Any]:
    """CPU count, torch and Python versions."""
    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = "not installed"
    return {"cpu_count": os.cpu_count(), "torch": torch_version, "python": platform.python_version(),
            "platform": platform.platform(terse=True)}


def _read_budget(specs: Sequence[RunSpec], finished: Sequence[tuple[str, int]]) -> tuple[dict[str, Any], str]:
    """The budget of the first finished CoSo run's config.yaml (else any finished run's)."""
    from omegaconf import OmegaConf

    ordered = sorted((spec for spec in specs if spec.key in finished),
                     key=lambda spec: (spec.method.label != "CoSo", spec.method.label == OFFLINE.label))
    for spec in ordered:
        path = spec.save_path / "config.yaml"
        if path.exists():
            config = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
            return budget_from_config(config), f"{spec.method.label} seed {spec.seed}'s config.yaml"
    return budget_from_config({}), "no finished run"


def _mean_weight_stats(records: Sequence[RunRecord]) -> dict[str, float]:
    """The CoSo runs' token-weight statistics, averaged over runs."""
    keys = sorted({key for record in records for key in record.weight_stats})
    return {key: sum(r.weight_stats[key] for r in records if key in r.weight_stats)
            / sum(1 for r in records if key in r.weight_stats) for key in keys}


def write_report(settings: Settings, argv: Sequence[str], specs: Sequence[RunSpec], outcome: GridOutcome) -> None:
    """Aggregate the finished runs and write the md, json and png reports."""
    records = [read_record(spec.method.label, spec.seed, spec.save_path)
               for spec in specs if spec.key in outcome.finished]
    labels = [method.label for method in METHODS]
    rows = method_rows(records, labels, settings.seeds)
    stages = stage_rows(records, "DigiRL", settings.seeds)
    ordering = ordering_statement(rows)
    curves = {label: mean_curve([record.curve for record in records if record.method == label]) for label in labels}
    budget, budget_source = _read_budget(specs, outcome.finished)
    machine = machine_info()
    command = shlex.join(["python", "benchmarks/bench_ablation.py", *argv])
    failures = [f"{label} seed {seed}: {why}" for (label, seed), why in outcome.failed.items()]
    runs_wall = sum(record.wall_seconds for record in records)
    png = settings.report.with_suffix(".png")
    ledger = record_grid_wall(settings.runs_dir, outcome)
    markdown = render_markdown(command=command, machine=machine, budget=budget, budget_source=budget_source,
                               rows=rows, stages=stages, ordering=ordering, grid_wall_seconds=sum(ledger),
                               invocations=len(ledger), this_wall_seconds=outcome.wall_seconds,
                               runs_wall_seconds=runs_wall, executed=len(outcome.executed),
                               reused=len(outcome.reused), failures=failures, plot_name=png.name,
                               weight_stats=_mean_weight_stats([r for r in records if r.method == "CoSo"]))
    raw = {
        "command": command,
        "machine": machine,
        "budget": budget,
        "seeds": settings.seeds,
        "std": "sample (ddof=1)",
        "grid_wall_seconds": round(sum(ledger), 1),
        "invocation_wall_seconds": ledger,
        "this_invocation_wall_seconds": round(outcome.wall_seconds, 1),
        "runs_executed": len(outcome.executed),
        "runs_reused": len(outcome.reused),
        "process_seconds": outcome.process_seconds,
        "failed": failures,
        "rows": [asdict(row) for row in rows],
        "ordering": ordering,
        "runs": [asdict(record) for record in records],
    }
    plot_ablation(curves, rows, png)
    atomic_write_text(settings.report.with_suffix(".json"), json.dumps(raw, indent=2) + "\n")
    atomic_write_text(settings.report, markdown)


def finished_outcome(specs: Sequence[RunSpec]) -> GridOutcome:
    """--report-only: the finished runs as reused, every other run as not run (nothing is launched)."""
    outcome = GridOutcome()
    for spec in specs:
        if is_finished(spec):
            outcome.finished.append(spec.key)
            outcome.reused.append(spec.key)
        else:
            outcome.failed[spec.key] = "not run or not finished when this report was written (--report-only)"
    return outcome


def main(argv: Sequence[str] | None = None) -> int:
    """Run the grid and write the report; 0 when every run finished, 1 when one failed, 2 on bad arguments."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        settings = parse_args(argv)
        if settings.fresh:
            remove_runs_dir(settings.runs_dir)
        specs = build_specs(settings.runs_dir, settings.seeds, settings.overrides)
        check_launch_args(specs)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"ablation grid: seeds {' '.join(map(str, settings.seeds))}, {len(specs)} runs, --jobs {settings.jobs}, "
          f"runs in {settings.runs_dir}", flush=True)
    if settings.report_only:
        outcome = finished_outcome(specs)
        write_report(settings, argv, specs, outcome)
        print(f"report: {settings.report} (+ .json, .png); {len(outcome.finished)}/{len(specs)} runs finished "
              "(nothing launched)", flush=True)
        return 0
    try:
        outcome = run_grid(specs, settings.jobs, lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        print("interrupted: the runs this grid started were stopped; rerun the command to resume", file=sys.stderr)
        return 130
    write_report(settings, argv, specs, outcome)
    print(f"report: {settings.report} (+ .json, .png); {len(outcome.finished)}/{len(specs)} runs finished in "
          f"{outcome.wall_seconds:.1f}s", flush=True)
    if outcome.failed:
        print(f"{len(outcome.failed)} run(s) failed: " + "; ".join(f"{label} seed {seed}" for label, seed
                                                                   in outcome.failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
