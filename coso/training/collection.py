"""Counting what a data-collection phase (the SFT demonstrations, the offline dataset) really yielded.

Episodes that a failed or hung device ended are counted in the metrics and in summary.json, not only in the
pool's warnings on stderr, and a phase whose usable episodes fall below ``train.min_usable_fraction`` of
those requested stops the run with InsufficientDataError instead of training on a handful of transitions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from coso.data.trajectory import Trajectory
from coso.errors import ConfigError, InsufficientDataError


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
