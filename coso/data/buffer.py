"""The replay buffer: recent trajectories, sampled as batches of transitions for the critics and the actor.

Capacity counts **transitions**, as DigiRL's step buffer does (capacity 2000 in the reference settings), but
storage and eviction work on whole trajectories: once the transition count exceeds the capacity the oldest
trajectories are dropped (FIFO) until it fits again. Keeping trajectories whole lets the trajectory critic,
the 80/20 split by trajectory and the MC returns stay consistent with what is stored.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from coso.data.dataset import load_trajectories, read_manifest, save_trajectories
from coso.data.trajectory import Trajectory, Transition
from coso.errors import ConfigError, DatasetError

GeneratorLike = torch.Generator | int | None


def as_generator(generator: GeneratorLike) -> torch.Generator | None:
    """A torch.Generator from a generator or an integer seed; None keeps torch's global RNG."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, bool) or not isinstance(generator, int):
        raise ConfigError(f"generator must be a torch.Generator or an integer seed, got {type(generator).__name__}")
    return torch.Generator().manual_seed(generator)


@dataclass
class TransitionBatch:
    """A batch of transitions as stacked tensors and lists of strings, ready for a trainer."""

    tasks: list[str]
    prompts: list[str]
    actions: list[str]
    next_prompts: list[str]
    rewards: torch.Tensor  # float32 [B]
    dones: torch.Tensor  # float32 [B]: 1.0 where the episode ended (for r + gamma * (1 - done) * V)
    mc_returns: torch.Tensor  # float32 [B]
    image_features: torch.Tensor  # float32 [B, 2D]
    next_image_features: torch.Tensor  # float32 [B, 2D]
    valid: torch.Tensor  # bool [B]: the action text parsed
    steps: torch.Tensor  # int64 [B]: step index inside the episode

    def __len__(self) -> int:
        return len(self.prompts)

    def to(self, device: torch.device | str) -> TransitionBatch:
        """The same batch with its tensors on ``device``."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        moved: dict[str, Any] = {
            name: value.to(device) if isinstance(value, torch.Tensor) else value for name, value in values.items()
        }
        return TransitionBatch(**moved)


def collate_transitions(transitions: Sequence[Transition]) -> TransitionBatch:
    """Stack transitions into a TransitionBatch (features as float32, one row per transition)."""
    width = len(transitions[0].image_features) if transitions else 0

    def stack(name: str) -> torch.Tensor:
        if not transitions:
            return torch.zeros((0, width), dtype=torch.float32)
        rows = [np.asarray(getattr(t, name), dtype=np.float32) for t in transitions]
        return torch.from_numpy(np.stack(rows))

    def column(name: str, dtype: torch.dtype) -> torch.Tensor:
        return torch.tensor([getattr(t, name) for t in transitions], dtype=dtype)

    return TransitionBatch(
        tasks=[t.task for t in transitions],
        prompts=[t.prompt for t in transitions],
        actions=[t.action for t in transitions],
        next_prompts=[t.next_prompt for t in transitions],
        rewards=column("reward", torch.float32),
        dones=column("done", torch.float32),
        mc_returns=column("mc_return", torch.float32),
        image_features=stack("image_features"),
        next_image_features=stack("next_image_features"),
        valid=column("valid_action", torch.bool),
        steps=column("step", torch.int64),
    )


def split_trajectories(
    trajectories: Sequence[Trajectory], fraction: float = 0.8, generator: GeneratorLike = None
) -> tuple[list[Trajectory], list[Trajectory]]:
    """Shuffle trajectories and cut them into (train, val) by trajectory, as the reference's 80/20 split.

    The train part gets ``int(n * fraction)`` trajectories (at least one when there are any).
    """
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"train fraction must be in (0, 1], got {fraction}; use e.g. 0.8 for an 80/20 split")
    order = torch.randperm(len(trajectories), generator=as_generator(generator)).tolist()
    shuffled = [trajectories[i] for i in order]
    cut = max(1, int(len(shuffled) * fraction)) if shuffled else 0
    return shuffled[:cut], shuffled[cut:]


# trajectory metadata key: the side of the train/val split a trajectory took when it entered the buffer
SPLIT_KEY = "split"


class ReplayBuffer:
    """A FIFO store of whole trajectories holding at most ``capacity`` transitions."""

    def __init__(self, capacity: int, trajectories: Iterable[Trajectory] = ()) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity <= 0:
            raise ConfigError(f"replay buffer capacity must be a positive integer (transitions), got {capacity!r}")
        self._capacity = capacity
        self._trajectories: deque[Trajectory] = deque()
        self._num_transitions = 0
        self._flat: list[Transition] | None = None
        self.add(trajectories)

    @property
    def capacity(self) -> int:
        """The most transitions the buffer keeps."""
        return self._capacity

    @property
    def num_trajectories(self) -> int:
        """How many trajectories are stored."""
        return len(self._trajectories)

    def __len__(self) -> int:
        return self._num_transitions

    def add(self, trajectories: Iterable[Trajectory] | Trajectory) -> int:
        """Append trajectories, then evict the oldest until the capacity holds; return how many were evicted."""
        incoming = [trajectories] if isinstance(trajectories, Trajectory) else list(trajectories)
        for index, trajectory in enumerate(incoming):
            if not isinstance(trajectory, Trajectory):
                raise TypeError(f"ReplayBuffer.add: item {index} is a {type(trajectory).__name__}, not a Trajectory")
            if len(trajectory) > self._capacity:
                raise ConfigError(
                    f"replay buffer capacity {self._capacity} is smaller than a {len(trajectory)}-step trajectory "
                    f"(task {trajectory.task!r}); raise the capacity to at least the episode horizon"
                )
        for trajectory in incoming:
            self._trajectories.append(trajectory)
            self._num_transitions += len(trajectory)
        evicted = 0
        while self._num_transitions > self._capacity:
            self._num_transitions -= len(self._trajectories.popleft())
            evicted += 1
        self._flat = None
        return evicted

    def add_fresh(self, trajectories: Iterable[Trajectory], max_staleness: int) -> int:
        """Add the trajectories whose ``metadata["policy_staleness"]`` (policy versions behind the trainer's when
        taken; absent: 0) is at most ``max_staleness``, and return how many were rejected as staler."""
        incoming = list(trajectories)
        fresh = [t for t in incoming if _staleness(t) <= max_staleness]
        self.add(fresh)
        return len(incoming) - len(fresh)

    def trajectories(self) -> list[Trajectory]:
        """The stored trajectories, oldest first."""
        return list(self._trajectories)

    def transitions(self) -> list[Transition]:
        """Every stored transition, oldest trajectory first."""
        if self._flat is None:
            self._flat = [transition for trajectory in self._trajectories for transition in trajectory.transitions]
        return self._flat[:]

    def _require_transitions(self, what: str) -> list[Transition]:
        if self._flat is None:
            self.transitions()
        assert self._flat is not None
        if not self._flat:
            raise DatasetError(
                f"cannot {what}: the replay buffer is empty; add trajectories (or an offline dataset) first"
            )
        return self._flat

    def sample(self, batch_size: int, generator: GeneratorLike = None) -> TransitionBatch:
        """``batch_size`` transitions drawn uniformly with replacement, as DigiRL's buffer samples."""
        _check_batch_size(batch_size)
        flat = self._require_transitions("sample")
        indices = torch.randint(len(flat), (batch_size,), generator=as_generator(generator)).tolist()
        return collate_transitions([flat[i] for i in indices])

    def iterate(
        self, batch_size: int, shuffle: bool = True, generator: GeneratorLike = None, drop_last: bool = False
    ) -> Iterator[TransitionBatch]:
        """One epoch over every stored transition in batches (shuffled without replacement when ``shuffle``)."""
        _check_batch_size(batch_size)
        flat = list(self._require_transitions("iterate"))
        if shuffle:
            order = torch.randperm(len(flat), generator=as_generator(generator)).tolist()
        else:
            order = list(range(len(flat)))
        stop = len(order) - len(order) % batch_size if drop_last else len(order)
        for start in range(0, stop, batch_size):
            yield collate_transitions([flat[i] for i in order[start:start + batch_size]])

    def train_val_split(
        self, fraction: float = 0.8, generator: GeneratorLike = None
    ) -> tuple[ReplayBuffer, ReplayBuffer]:
        """Two buffers of this capacity holding a by-trajectory (train, val) split of the contents."""
        train, val = split_trajectories(self.trajectories(), fraction, generator)
        return ReplayBuffer(self._capacity, train), ReplayBuffer(self._capacity, val)

    def split_on_entry(
        self, fraction: float = 0.8, generator: GeneratorLike = None
    ) -> tuple[ReplayBuffer, ReplayBuffer]:
        """(train, val) buffers where each trajectory keeps the side it drew when it entered, so val stays held out.

        The trajectories without a side yet (those added since the last call) are split among themselves as
        ``split_trajectories`` does and tagged in ``metadata["split"]``, which the buffer's saves keep.
        """
        fresh = [t for t in self._trajectories if t.metadata.get(SPLIT_KEY) not in ("train", "val")]
        train, val = split_trajectories(fresh, fraction, generator)
        for side, members in (("train", train), ("val", val)):
            for trajectory in members:
                trajectory.metadata[SPLIT_KEY] = side
        sides: dict[str, list[Trajectory]] = {"train": [], "val": []}
        for trajectory in self._trajectories:
            sides[str(trajectory.metadata[SPLIT_KEY])].append(trajectory)
        return ReplayBuffer(self._capacity, sides["train"]), ReplayBuffer(self._capacity, sides["val"])

    def save(self, path: str | Path) -> Path:
        """Write the contents and capacity as a trajectory dataset (atomically, replacing an older save)."""
        return save_trajectories(
            self.trajectories(),
            path,
            overwrite=True,
            source="ReplayBuffer.save",
            extra={"replay_buffer": {"capacity": self._capacity}},
        )

    @classmethod
    def load(cls, path: str | Path, capacity: int | None = None) -> ReplayBuffer:
        """Rebuild a buffer from ``save``; ``capacity`` overrides the saved one (and is required for plain datasets)."""
        if capacity is None:
            saved = read_manifest(path).extra.get("replay_buffer")
            if not isinstance(saved, dict) or not isinstance(saved.get("capacity"), int):
                raise DatasetError(
                    f"{Path(path) / 'manifest.json'}: field 'extra.replay_buffer.capacity' is missing; this dataset "
                    "was not written by ReplayBuffer.save, pass capacity= to load it into a buffer"
                )
            capacity = saved["capacity"]
        return cls(capacity, load_trajectories(path))


def _staleness(trajectory: Trajectory) -> int:
    """How many policy versions behind the trainer's a trajectory was taken (``metadata["policy_staleness"]``)."""
    value = trajectory.metadata.get("policy_staleness", 0)
    return int(value) if isinstance(value, (int, float)) else 0


def _check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
