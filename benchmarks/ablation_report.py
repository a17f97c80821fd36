"""The ablation grid's report: read finished runs (summary.json, metrics.jsonl, config.yaml); write md, json, png."""

from __future__ import annotations

import itertools
import json
import math
import os
import platform
import shlex
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ablation_grid import BASE, METHODS, OFFLINE, GridOutcome, RunSpec

from coso.atomic import atomic_write, atomic_write_text
from coso.stats import wilson_interval

STAGES = ("initial", "sft", "offline", "final")
BUDGET_KEYS = ("scale_name", "train.online_iterations", "train.rollout_size", "train.actor_epochs",
               "train.batch_size", "train.sft_steps", "train.offline_episodes", "train.eval_episodes",
               "env.task_set", "entropy_coeff")
WEIGHT_KEYS = ("share_above_0_8", "share_below_0_2", "mean")  # CoSo's token-weight statistics in metrics.jsonl
TIE = 1e-9


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
    env = config.get("env")
    domain = env.get("domain") if isinstance(env, Mapping) else None
    if domain not in (None, "phone"):  # the phone's task set means nothing on another domain
        budget.pop("env.task_set", None)
        budget["env.domain"] = domain
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
                    weight_stats: Mapping[str, float] | None = None,
                    environment: str = "simulated phone") -> str:
    """The report's markdown."""
    methods = " vs ".join(row.method for row in rows) or "DigiRL vs naive entropy vs CoSo"
    lines = [
        f"# Entropy ablation: {methods} (off2on, {environment})",
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


def _environment(specs: Sequence[RunSpec]) -> str:
    """What the grid ran on, from its ``env=`` override (the phone when there is none)."""
    for spec in specs:
        for override in spec.hydra_args:
            if override.startswith("env="):
                return f"env={override.split('=', 1)[1]}"
    return "simulated phone"


def write_report(report: Path, seeds: Sequence[int], argv: Sequence[str], specs: Sequence[RunSpec],
                 outcome: GridOutcome, ledger: Sequence[float]) -> None:
    """Aggregate the finished runs and write the md, json and png reports (``ledger``: the grid's wall times)."""
    records = [read_record(spec.method.label, spec.seed, spec.save_path)
               for spec in specs if spec.key in outcome.finished]
    labels = [method.label for method in METHODS]
    labels += sorted({spec.method.label for spec in specs} - set(labels) - {BASE.label, OFFLINE.label})
    rows = method_rows(records, labels, seeds)
    stages = stage_rows(records, "DigiRL", seeds)
    ordering = ordering_statement(rows)
    curves = {label: mean_curve([record.curve for record in records if record.method == label]) for label in labels}
    budget, budget_source = _read_budget(specs, outcome.finished)
    machine = machine_info()
    command = shlex.join(["python", "benchmarks/bench_ablation.py", *argv])
    failures = [f"{label} seed {seed}: {why}" for (label, seed), why in outcome.failed.items()]
    runs_wall = sum(record.wall_seconds for record in records)
    png = report.with_suffix(".png")
    markdown = render_markdown(command=command, machine=machine, budget=budget, budget_source=budget_source,
                               rows=rows, stages=stages, ordering=ordering, grid_wall_seconds=sum(ledger),
                               invocations=len(ledger), this_wall_seconds=outcome.wall_seconds,
                               runs_wall_seconds=runs_wall, executed=len(outcome.executed),
                               reused=len(outcome.reused), failures=failures, plot_name=png.name,
                               weight_stats=_mean_weight_stats([r for r in records if r.method == "CoSo"]),
                               environment=_environment(specs))
    raw = {
        "command": command,
        "machine": machine,
        "budget": budget,
        "seeds": seeds,
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
    atomic_write_text(report.with_suffix(".json"), json.dumps(raw, indent=2) + "\n")
    atomic_write_text(report, markdown)
