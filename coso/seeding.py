"""Every seed a run uses, in one table: the episode seed streams and the seeds of the other generators.

An episode seed chooses a phone's episode (the simulator's content and layout, its fault draws), so two phases
that drew the same episode seeds would run the same episodes. Each stream below owns its own integers: for
every run seed in ``RUN_SEEDS`` and every episode index below the stream's capacity, no two streams (and no two
run seeds of the rollout stream) give the same episode seed (tests/test_seeding.py). A run seed or an episode
count outside those ranges is a ConfigError naming the setting. docs/architecture.md ("Seed streams") holds the
same table and what changed when.

The other generators (the global RNGs, the task draws, the batch sampler, the policy's sampling) are seeded
from their own formulas below; they are separate generators, so their integers may equal an episode seed.
Pure arithmetic: this module imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass

from coso.errors import ConfigError

RUN_SEEDS = range(0, 100_000)  # the run seeds (seed, train.sft_seed) the layout below keeps apart

# ------------------------------------------------------------------------------------------ episode seeds


@dataclass(frozen=True)
class SeedStream:
    """Episode ``k`` (0 <= k < capacity) of a run seeded ``s`` gets the seed ``base + stride * s + k``."""

    name: str
    base: int
    stride: int  # how far one run seed moves the stream (0: every run seed draws the same seeds)
    capacity: int  # episodes one run may draw from the stream
    used_by: str

    def first(self, run_seed: int) -> int:
        """The stream's first seed for a run seeded ``run_seed`` (a collection also seeds its task draw and its
        demonstrator's noise with it)."""
        check_run_seed(run_seed)
        return self.base + self.stride * run_seed

    def seed(self, run_seed: int, index: int) -> int:
        """The episode seed of the ``index``-th episode a run seeded ``run_seed`` draws."""
        _check_index(self, index)
        return self.first(run_seed) + index

    def seeds(self, run_seed: int, count: int, start: int = 0) -> list[int]:
        """The seeds of episodes ``start .. start + count - 1`` (what collect_trajectories takes)."""
        return [self.seed(run_seed, start + offset) for offset in range(count)]

    def blocks(self, run_seed: int) -> list[range]:
        """Every seed this stream can give a run seeded ``run_seed``, as intervals."""
        first = self.base + self.stride * run_seed
        return [range(first, first + self.capacity)]


@dataclass(frozen=True)
class RolloutStream:
    """The online rollouts: episode ``k`` is ``iteration * rollout_size + i`` of the run's iterations.

    Run seeds below ``legacy_seeds`` keep their first ``legacy_capacity`` episodes in the original layout
    (``legacy_base + legacy_stride * s + k``, so results from before the table reproduce); every other
    episode goes to ``base + stride * s + k``, above every other stream, where no run seed reaches another.
    """

    name: str
    legacy_base: int
    legacy_stride: int
    legacy_seeds: int
    legacy_capacity: int
    base: int
    stride: int
    capacity: int
    used_by: str

    def _legacy(self, run_seed: int, index: int) -> bool:
        return run_seed < self.legacy_seeds and index < self.legacy_capacity

    def seed(self, run_seed: int, index: int) -> int:
        """The episode seed of the run's ``index``-th rollout episode."""
        check_run_seed(run_seed)
        _check_index(self, index)
        if self._legacy(run_seed, index):
            return self.legacy_base + self.legacy_stride * run_seed + index
        return self.base + self.stride * run_seed + index

    def seeds(self, run_seed: int, count: int, start: int = 0) -> list[int]:
        """The seeds of rollout episodes ``start .. start + count - 1``."""
        return [self.seed(run_seed, start + offset) for offset in range(count)]

    def iteration_seeds(self, run_seed: int, iteration: int, rollout_size: int) -> list[int]:
        """The seeds of one online iteration's ``rollout_size`` episodes."""
        return self.seeds(run_seed, rollout_size, start=iteration * rollout_size)

    def blocks(self, run_seed: int) -> list[range]:
        """Every seed this stream can give a run seeded ``run_seed``, as intervals."""
        high = self.base + self.stride * run_seed
        if run_seed >= self.legacy_seeds:
            return [range(high, high + self.capacity)]
        legacy = self.legacy_base + self.legacy_stride * run_seed
        return [range(legacy, legacy + self.legacy_capacity), range(high + self.legacy_capacity, high + self.capacity)]


EVAL = SeedStream("eval", base=10_000_000, stride=0, capacity=10_000_000,
                  used_by="every evaluation of a training run, and the eval run kind (eval_only): the same episodes")
ROLLOUT = RolloutStream("rollout", legacy_base=1_000_000, legacy_stride=10_000, legacy_seeds=100,
                        legacy_capacity=10_000, base=100_000_000, stride=1_000_000, capacity=1_000_000,
                        used_by="the online iterations' rollouts")
OFFLINE = SeedStream("offline", base=2_000_000, stride=1, capacity=900_000,
                     used_by="the offline dataset a training run collects (demonstrator or policy rollouts)")
SFT = SeedStream("sft", base=3_000_000, stride=1, capacity=900_000,
                 used_by="the SFT warm start's demonstrations (the SFT base: run seed train.sft_seed)")
COLLECT = SeedStream("collect", base=4_000_000, stride=1, capacity=900_000,
                     used_by="the collect run kind's dataset (3_000_000 + seed until the table: SFT's seeds)")
EVAL_ONLY = EVAL  # eval_only scores a checkpoint on the training run's evaluation episodes

EPISODE_STREAMS: tuple[SeedStream | RolloutStream, ...] = (EVAL, ROLLOUT, OFFLINE, SFT, COLLECT)


def check_run_seed(run_seed: int, setting: str = "seed") -> int:
    """``run_seed`` when it lies in RUN_SEEDS, else a ConfigError naming ``setting``."""
    if isinstance(run_seed, bool) or not isinstance(run_seed, int) or run_seed not in RUN_SEEDS:
        raise ConfigError(f"{setting}={run_seed!r} is outside {RUN_SEEDS.start}..{RUN_SEEDS.stop - 1}, the run seeds "
                          f"whose episode seed streams are kept apart (docs/architecture.md, 'Seed streams'); "
                          f"set {setting}=<a seed in that range>")
    return run_seed


def check_episode_count(stream: SeedStream | RolloutStream, count: int, setting: str) -> int:
    """``count`` when a run may draw that many episodes from ``stream``, else a ConfigError naming ``setting``."""
    if count > stream.capacity:
        raise ConfigError(f"{setting} asks for {count} episodes of the {stream.name} seed stream, which holds "
                          f"{stream.capacity} per run (docs/architecture.md, 'Seed streams'); ask for fewer")
    return count


def _check_index(stream: SeedStream | RolloutStream, index: int) -> None:
    if not 0 <= index < stream.capacity:
        raise ConfigError(f"episode {index} is beyond the {stream.name} seed stream's {stream.capacity} episodes "
                          "per run (docs/architecture.md, 'Seed streams'); ask for fewer episodes")


# ------------------------------------------------------------------------------------------ other generators

TRAIN_TASK_SEED_OFFSET = 0  # generated training tasks: generate_tasks(n, seed) (the collect run kind's too)
EVAL_TASK_SEED = 1_000_003  # generated evaluation tasks, the same for every run seed


def train_task_seed(run_seed: int) -> int:
    """The task generator's seed for a run's generated training tasks (and the collect run kind's tasks)."""
    return TRAIN_TASK_SEED_OFFSET + run_seed


def process_seed(run_seed: int, process_index: int) -> int:
    """Python's, numpy's and torch's global RNGs and the batch sampler at the start of a run, per process."""
    return run_seed + 1000 * process_index


def iteration_task_seed(run_seed: int, iteration: int) -> int:
    """The draw of an online iteration's tasks."""
    return run_seed * 100_003 + iteration


def batch_seed(run_seed: int, iteration: int, process_index: int) -> int:
    """The batch sampler, reseeded at each online iteration (a resumed run samples what an unbroken one does)."""
    return (run_seed * 1_000_003 + iteration) * 64 + process_index


def sampling_seed(run_seed: int, env_steps: int) -> int:
    """The policy's sampling when it acts: the run seed plus the environment steps its policy has trained on."""
    return run_seed + env_steps


def exploration_seed(run_seed: int, env_steps: int) -> int:
    """Epsilon-greedy exploration's draws in an online rollout (AFSFT), apart from the policy's sampling."""
    return (run_seed * 1_000_003 + env_steps) * 2 + 1
