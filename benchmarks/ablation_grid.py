"""The ablation grid's scheduler: which runs the grid holds, and running them as ``scripts/run.py`` subprocesses.

The shared SFT base runs alone with every core; every seed's offline run waits for it, and that seed's three
online runs wait for the offline run. Up to ``jobs`` runs at a time, each with ``OMP_NUM_THREADS = cores // jobs``
and its output in ``<save_path>.log``; a run whose summary.json is complete is reused.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from coso.atomic import atomic_write_text

REPO_ROOT = Path(__file__).resolve().parent.parent
RUN_SCRIPT = REPO_ROOT / "scripts" / "run.py"
RESERVED_KEYS = ("seed", "save_path", "load_path")  # the grid sets these for every run
LOG_TAIL_LINES = 20
POLL_SECONDS = 0.2
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
# optional fourth method (``bench_ablation.py --filtered-bc``): imitation of the buffer's top trajectories, from the
# same offline checkpoint and budget
FILTERED_BC = Method("Filtered BC", "filteredbc_off2on", "filteredbc")


# ---------------------------------------------------------------------------------------------- the grid


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


def build_specs(runs_dir: Path, seeds: Sequence[int], overrides: Sequence[str],
                filtered_bc: bool = False) -> list[RunSpec]:
    """The grid's runs: the shared SFT base (alone, with every core), every seed's offline run (the critical
    path, so they start before any online run that is also ready), then per seed the three online runs that
    load it (four with ``filtered_bc``). The base lives in ``<runs_dir>/sft_base`` (``train.sft_cache_dir``), so
    ``--fresh`` rebuilds it."""
    overrides = [f"train.sft_cache_dir={_hydra_value(str(runs_dir / 'sft_base'))}", *overrides]
    base_path = runs_dir / BASE.slug / "seed0"
    specs = [RunSpec(BASE, 0, base_path, [f"save_path={_hydra_value(str(base_path))}", *overrides], exclusive=True)]
    for seed in seeds:
        offline_path = runs_dir / OFFLINE.slug / f"seed{seed}"
        specs.append(RunSpec(OFFLINE, seed, offline_path,
                             [f"seed={seed}", f"save_path={_hydra_value(str(offline_path))}", *overrides],
                             depends_on=(BASE.label, 0)))
    # DigiRL and CoSo on every seed before naive entropy: a grid stopped early still holds the main comparison
    digirl, entropy, coso = METHODS
    for methods in ((digirl, coso), (entropy,), (FILTERED_BC,) if filtered_bc else ()):
        for seed, method in ((seed, method) for seed in seeds for method in methods):
            offline_path = runs_dir / OFFLINE.slug / f"seed{seed}"
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


# ---------------------------------------------------------------------------------------------- running


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "    (no log)"
    return "\n".join(f"    {line}" for line in text[-lines:])


def run_grid(specs: Sequence[RunSpec], jobs: int, print_line: Callable[[str], None] = print,
             cores: int | None = None) -> GridOutcome:
    """Run the specs as subprocesses, up to ``jobs`` at a time, each after the run it depends on; the runs share
    ``cores`` threads (default: every core of the machine; fewer when another job uses the rest)."""
    outcome = GridOutcome()
    started = time.perf_counter()
    cores = cores or os.cpu_count() or 1
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
