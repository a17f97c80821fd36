"""Configuration of the simulated phone: screen size, layout difficulty and fault injection."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from coso.config_mapping import dataclass_from_mapping
from coso.errors import ConfigError

# Named difficulty levels and the layout-variation strength each stands for (0 = fixed layout, 1 = maximal).
DIFFICULTY_LEVELS: dict[str, float] = {"easy": 0.0, "medium": 0.5, "hard": 1.0}
CORRUPTION_MODES = ("black", "wrong_size")
MIN_WIDTH = 135
MAX_WIDTH = 2160
MIN_ASPECT = 1.6  # height / width: the layouts need at least this much height (16:10)
MAX_ASPECT = 2.4


def difficulty_value(difficulty: str | float) -> float:
    """The variation strength in [0, 1] of a difficulty given by name ("easy", "medium", "hard") or number."""
    if isinstance(difficulty, str):
        key = difficulty.strip().lower()
        if key in DIFFICULTY_LEVELS:
            return DIFFICULTY_LEVELS[key]
        try:
            difficulty = float(key)
        except ValueError:
            raise ConfigError(
                f"env.sim.difficulty={difficulty!r} is not one of {sorted(DIFFICULTY_LEVELS)} or a number in [0, 1]"
            ) from None
    if isinstance(difficulty, bool) or not isinstance(difficulty, (int, float)):
        raise ConfigError(f"env.sim.difficulty must be a level name or a number, got {type(difficulty).__name__}")
    value = float(difficulty)
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"env.sim.difficulty={value} is outside [0, 1]; use 0 (easy) to 1 (hard)")
    return value


def _check_probability(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ConfigError(f"env.sim.faults.{name}={value!r} must be a probability in [0, 1]")


@dataclass(frozen=True)
class FaultConfig:
    """Fault injection, off by default: per device call, fail, hang or return a corrupted screenshot."""

    error_prob: float = 0.0  # probability that an action or screenshot raises DeviceError
    hang_prob: float = 0.0  # probability that a call sleeps for hang_seconds before doing its work
    hang_seconds: float = 5.0
    corrupt_prob: float = 0.0  # probability that a screenshot comes back black or of the wrong size
    corrupt_modes: tuple[str, ...] = CORRUPTION_MODES
    seed: int = 0  # mixed with the episode seed, so faults are reproducible
    # an emulator's per-action latency: every action (tap, swipe, type, back, home, enter) first sleeps a time
    # drawn uniformly from [action_latency_s, action_latency_s + action_latency_jitter_s] (0: none)
    action_latency_s: float = 0.0
    action_latency_jitter_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("error_prob", "hang_prob", "corrupt_prob"):
            _check_probability(name, getattr(self, name))
        for name in ("action_latency_s", "action_latency_jitter_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"env.sim.faults.{name}={value!r} must be a number of seconds >= 0")
        if not isinstance(self.hang_seconds, (int, float)) or self.hang_seconds < 0:
            raise ConfigError(f"env.sim.faults.hang_seconds={self.hang_seconds!r} must be a number >= 0")
        modes = tuple(self.corrupt_modes)
        unknown = [mode for mode in modes if mode not in CORRUPTION_MODES]
        if not modes or unknown:
            raise ConfigError(
                f"env.sim.faults.corrupt_modes={list(modes)} must be a non-empty subset of {list(CORRUPTION_MODES)}"
            )
        object.__setattr__(self, "corrupt_modes", modes)

    @property
    def enabled(self) -> bool:
        """True when any fault can happen."""
        return self.error_prob > 0 or self.hang_prob > 0 or self.corrupt_prob > 0


@dataclass(frozen=True)
class SimConfig:
    """The simulated phone: portrait screen of ``width`` x ``height`` pixels, layout difficulty, faults."""

    width: int = 270
    height: int = 480
    difficulty: str | float = "medium"
    faults: FaultConfig = field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"env.sim.{name}={value!r} must be an integer number of pixels")
        if not MIN_WIDTH <= self.width <= MAX_WIDTH:
            raise ConfigError(f"env.sim.width={self.width} must be between {MIN_WIDTH} and {MAX_WIDTH} pixels")
        ratio = self.height / self.width
        if not MIN_ASPECT <= ratio <= MAX_ASPECT:
            raise ConfigError(
                f"env.sim: {self.width}x{self.height} is not a portrait phone screen; "
                f"height/width must be between {MIN_ASPECT} and {MAX_ASPECT} (e.g. 270x480 or 540x960)"
            )
        difficulty_value(self.difficulty)
        if isinstance(self.faults, Mapping):
            object.__setattr__(self, "faults", dataclass_from_mapping(FaultConfig, self.faults, "env.sim.faults"))
        elif not isinstance(self.faults, FaultConfig):
            raise ConfigError(f"env.sim.faults must be a mapping of FaultConfig fields, got {type(self.faults).__name__}")

    @property
    def variation(self) -> float:
        """The layout-variation strength in [0, 1] that ``difficulty`` stands for."""
        return difficulty_value(self.difficulty)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> SimConfig:
        """Build from a config mapping or typed section (e.g. ``env.sim`` of a run config); unknown keys are named."""
        if dataclasses.is_dataclass(values) and not isinstance(values, type):
            values = dataclasses.asdict(values)
        return dataclass_from_mapping(cls, values, "env.sim")
