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
                                        [--filtered-bc] [--cores N] [--report-only]

``--filtered-bc`` adds a fourth online run per seed (``filteredbc_off2on`` from the same offline checkpoint);
``--override env=<domain env>`` runs the grid on another domain (the report's title names the environment).

Writes benchmarks/reports/ablation.md, ablation.json (every run's numbers) and ablation.png (learning
curves and final success per seed). Exits non-zero if a run failed; the report then holds what finished.
This file is the command line; ``ablation_grid.py`` schedules the runs, ``ablation_report.py`` renders the report.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

BENCHMARKS_DIR = str(Path(__file__).resolve().parent)
if BENCHMARKS_DIR not in sys.path:  # the sibling modules, however this file is loaded
    sys.path.insert(0, BENCHMARKS_DIR)

from ablation_grid import (  # noqa: E402
    REPO_ROOT,
    RESERVED_KEYS,
    UsageError,
    build_specs,
    check_launch_args,
    finished_outcome,
    record_grid_wall,
    remove_runs_dir,
    run_grid,
)
from ablation_report import write_report  # noqa: E402

DEFAULT_RUNS_DIR = REPO_ROOT / "runs" / "ablation"
DEFAULT_REPORT = REPO_ROOT / "benchmarks" / "reports" / "ablation.md"


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
    filtered_bc: bool = False
    cores: int | None = None


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
    parser.add_argument("--filtered-bc", action="store_true",
                        help="add Filtered BC (filteredbc_off2on) from the same offline checkpoints and budget")
    parser.add_argument("--cores", default=None,
                        help="threads the grid's runs share (default: every core; fewer when something else runs)")
    args = parser.parse_args(list(argv))
    if not re.fullmatch(r"\d+", args.jobs) or int(args.jobs) < 1:
        raise UsageError(f"--jobs takes a positive integer, got {args.jobs!r}")
    if args.cores is not None and (not re.fullmatch(r"\d+", args.cores) or int(args.cores) < 1):
        raise UsageError(f"--cores takes a positive integer, got {args.cores!r}")
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
                    report_only=args.report_only, filtered_bc=args.filtered_bc,
                    cores=None if args.cores is None else int(args.cores))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the grid and write the report; 0 when every run finished, 1 when one failed, 2 on bad arguments."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        settings = parse_args(argv)
        if settings.fresh:
            remove_runs_dir(settings.runs_dir)
        specs = build_specs(settings.runs_dir, settings.seeds, settings.overrides, settings.filtered_bc)
        check_launch_args(specs)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"ablation grid: seeds {' '.join(map(str, settings.seeds))}, {len(specs)} runs, --jobs {settings.jobs}, "
          f"runs in {settings.runs_dir}", flush=True)
    if settings.report_only:
        outcome = finished_outcome(specs)
        write_report(settings.report, settings.seeds, argv, specs, outcome,
                     record_grid_wall(settings.runs_dir, outcome))
        print(f"report: {settings.report} (+ .json, .png); {len(outcome.finished)}/{len(specs)} runs finished "
              "(nothing launched)", flush=True)
        return 0
    try:
        outcome = run_grid(specs, settings.jobs, lambda line: print(line, flush=True), settings.cores)
    except KeyboardInterrupt:
        print("interrupted: the runs this grid started were stopped; rerun the command to resume", file=sys.stderr)
        return 130
    write_report(settings.report, settings.seeds, argv, specs, outcome,
                 record_grid_wall(settings.runs_dir, outcome))
    print(f"report: {settings.report} (+ .json, .png); {len(outcome.finished)}/{len(specs)} runs finished in "
          f"{outcome.wall_seconds:.1f}s", flush=True)
    if outcome.failed:
        print(f"{len(outcome.failed)} run(s) failed: " + "; ".join(f"{label} seed {seed}" for label, seed
                                                                   in outcome.failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
