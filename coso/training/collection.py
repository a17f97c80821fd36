"""Data-collection phases (the SFT demonstrations, the offline dataset) and counting what they really yielded.

A phase's episodes are saved in the run directory under its name and reused when the run resumes. Episodes
that a failed or hung device ended are counted in the metrics and in summary.json, not only in the pool's
warnings on stderr, and a phase whose usable episodes fall below ``train.min_usable_fraction`` of those
requested stops the run with InsufficientDataError instead of training on a handful of transitions.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from coso.config import RunConfig
from coso.data.dataset import load_trajectories, save_trajectories
from coso.data.trajectory import Trajectory
from coso.env.factory import build_expert
from coso.env.tasks import Task
from coso.errors import ConfigError, InsufficientDataError
from coso.rollout import Agent
from coso.seeding import OFFLINE, SeedStream
from coso.training.rollouts import Rollouts
from coso.training.run_logger import RunLogger


@dataclass(frozen=True)
class CollectionReport:
    """Episodes requested and collected by one phase, those a failed environment ended, and the transitions."""

    name: str
    requested: int
    episodes: int
    env_failures: int
    usable_episodes: int  # not ended by a failed environment and holding at least one transition
    transitions: int

    @classmethod
    def of(cls, name: str, requested: int, trajectories: Sequence[Trajectory]) -> CollectionReport:
        """The report of ``trajectories`` collected (or loaded) for the phase ``name``."""
        return cls(
            name=name,
            requested=int(requested),
            episodes=len(trajectories),
            env_failures=sum(int(t.env_failed) for t in trajectories),
            usable_episodes=sum(int(not t.env_failed and len(t) > 0) for t in trajectories),
            transitions=sum(len(t) for t in trajectories),
        )

    @property
    def usable_fraction(self) -> float:
        """Usable episodes over requested ones (1 when nothing was requested)."""
        return self.usable_episodes / self.requested if self.requested else 1.0

    def metrics(self) -> dict[str, float]:
        """Flat metrics ``{name/field: value}`` for metrics.jsonl."""
        values = {key: float(value) for key, value in asdict(self).items() if key != "name"}
        values["usable_fraction"] = self.usable_fraction
        return {f"{self.name}/{key}": value for key, value in values.items()}

    def summary(self) -> dict[str, int]:
        """The counts for summary.json."""
        return {key: value for key, value in asdict(self).items() if key != "name"}


def check_collection(report: CollectionReport, min_usable_fraction: float) -> CollectionReport:
    """``report`` when enough of its episodes are usable, else InsufficientDataError naming the counts."""
    if not 0.0 <= min_usable_fraction <= 1.0:
        raise ConfigError(
            f"train.min_usable_fraction={min_usable_fraction} must lie in [0, 1] (0 accepts any collection)"
        )
    if report.requested > 0 and (report.usable_episodes == 0 or report.usable_fraction < min_usable_fraction):
        raise InsufficientDataError(
            f"{report.name}: only {report.usable_episodes} of {report.requested} requested episodes are usable "
            f"({report.env_failures} ended by a failed environment, {report.transitions} transitions in all), "
            f"below train.min_usable_fraction={min_usable_fraction}; check the devices (env.* timeouts, "
            "env.sim.faults) or lower train.min_usable_fraction"
        )
    return report


class DataCollector:
    """Collects a phase's episodes on the training tasks (or reloads them from the run directory), counts them
    in the metrics and in ``reports``, and stops the run when too few are usable."""

    def __init__(self, config: RunConfig, run_dir: Path, tasks: Sequence[Task], rollouts: Rollouts,
                 logger: RunLogger, is_main: bool) -> None:
        self.config = config
        self.run_dir = run_dir
        self.tasks = tasks
        self.rollouts = rollouts
        self.logger = logger
        self.is_main = is_main
        self.reports: dict[str, CollectionReport] = {}

    def offline_data(self, policy: Callable[[], Agent], step: int) -> list[Trajectory]:
        """The offline dataset: the given one, the warm-started ``policy``'s own rollouts, or demonstrator
        rollouts with noise (saved in the run directory for reuse)."""
        if self.config.offline_data:
            return load_trajectories(self.config.offline_data)
        train = self.config.train
        if train.offline_source == "policy":
            return self.policy_rollouts("offline_data", train.offline_episodes, OFFLINE, policy, step)
        return self.demonstrations("offline_data", train.offline_episodes, train.offline_noise, OFFLINE, step)

    def policy_rollouts(self, name: str, episodes: int, stream: SeedStream, policy: Callable[[], Agent],
                        step: int) -> list[Trajectory]:
        """Rollouts of ``policy`` (at the rollout temperature) on training tasks, saved as ``name``."""
        cached = self.run_dir / name
        if cached.is_dir():
            return self._counted(name, episodes, load_trajectories(cached), step)
        trajectories, _ = self.rollouts(policy, self._draw_tasks(stream, episodes),
                                        stream.seeds(self.config.seed, episodes))
        self._counted(name, episodes, trajectories, step)  # before saving: a failed collection is redone next time
        if self.is_main:
            save_trajectories(trajectories, cached, source="policy",
                              extra={"temperature": self.config.agent.temperature})
        return trajectories

    def demonstrations(self, name: str, episodes: int, noise: float, stream: SeedStream,
                       step: int) -> list[Trajectory]:
        """Demonstrator rollouts on training tasks, saved in the run directory as ``name`` for reuse."""
        cached = self.run_dir / name
        if cached.is_dir():
            return self._counted(name, episodes, load_trajectories(cached), step)
        tasks = self._draw_tasks(stream, episodes)
        expert = build_expert(self.config.env, noise, stream.first(self.config.seed))
        trajectories, _ = self.rollouts(lambda: expert, tasks, stream.seeds(self.config.seed, episodes))
        self._counted(name, episodes, trajectories, step)  # before saving: a failed collection is redone next time
        if self.is_main:
            save_trajectories(trajectories, cached, source="demonstrator", extra={"noise": noise})
        return trajectories

    def _draw_tasks(self, stream: SeedStream, episodes: int) -> list[Task]:
        """The phase's tasks, drawn with the stream's first seed."""
        rng = random.Random(stream.first(self.config.seed))
        return [rng.choice(self.tasks) for _ in range(episodes)]

    def _counted(self, name: str, requested: int, trajectories: list[Trajectory], step: int) -> list[Trajectory]:
        """Count the phase's episodes and failed ones in metrics and summary; stop when too few are usable."""
        report = CollectionReport.of(name, requested, trajectories)
        self.reports[name] = report
        self.logger.log(report.metrics(), step=step, phase=name)
        check_collection(report, self.config.train.min_usable_fraction)
        return trajectories
