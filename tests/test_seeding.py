"""The seed streams (coso/seeding.py): apart for every run seed 0..999 at full capacity, unchanged where results
were published, and refused with one clear error outside their ranges."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from coso import seeding
from coso.config import RunConfig
from coso.errors import ConfigError

RUN_SEEDS = range(1000)
SCALES = sorted((Path(__file__).resolve().parents[1] / "configs" / "scale").glob("*.yaml"))


def merged(intervals: list[range]) -> list[range]:
    """The union of ``intervals`` as sorted, disjoint intervals."""
    out: list[range] = []
    for interval in sorted(intervals, key=lambda r: r.start):
        if out and interval.start <= out[-1].stop:
            out[-1] = range(out[-1].start, max(out[-1].stop, interval.stop))
        else:
            out.append(interval)
    return out


def test_no_two_streams_share_a_seed_for_run_seeds_below_1000_at_full_capacity() -> None:
    owned = [(interval, stream.name) for stream in seeding.EPISODE_STREAMS
             for interval in merged([block for seed in RUN_SEEDS for block in stream.blocks(seed)])]
    owned.sort(key=lambda item: item[0].start)
    for (first, first_name), (second, second_name) in zip(owned, owned[1:]):
        assert first.stop <= second.start, f"{first_name} {first} overlaps {second_name} {second}"


def test_no_two_run_seeds_share_a_rollout_seed() -> None:
    blocks = sorted((block for seed in RUN_SEEDS for block in seeding.ROLLOUT.blocks(seed)), key=lambda r: r.start)
    for first, second in zip(blocks, blocks[1:]):
        assert first.stop <= second.start, f"rollout blocks {first} and {second} overlap"


@pytest.mark.parametrize("stream", seeding.EPISODE_STREAMS, ids=lambda stream: stream.name)
def test_every_seed_lies_in_the_blocks_the_collision_check_reads(stream) -> None:
    for seed in (0, 1, 99, 100, 101, 999, seeding.RUN_SEEDS.stop - 1):
        blocks = stream.blocks(seed)
        for index in (0, 1, 9_999, 10_000, 10_001, stream.capacity - 1):
            if index < stream.capacity:
                assert any(stream.seed(seed, index) in block for block in blocks), (seed, index)


def test_rollout_seeds_are_distinct_across_run_seeds_and_both_layouts() -> None:
    seeds, indices = range(0, 1000, 7), range(0, 20_000, 97)
    assert len({seeding.ROLLOUT.seed(seed, index) for seed in seeds for index in indices}) == len(seeds) * len(indices)


def test_the_seeds_of_published_runs_are_unchanged() -> None:
    """Run seeds 0..99 of a training run draw what they drew before the table (committed results reproduce)."""
    for seed in (0, 1, 2, 3, 4, 57, 99):
        assert seeding.EVAL.seeds(seed, 96) == [10_000_000 + i for i in range(96)]
        assert seeding.OFFLINE.seeds(seed, 256) == [2_000_000 + seed + i for i in range(256)]
        assert seeding.SFT.seeds(seed, 1024) == [3_000_000 + seed + i for i in range(1024)]
        assert seeding.OFFLINE.first(seed) == 2_000_000 + seed and seeding.SFT.first(seed) == 3_000_000 + seed
        for iteration, size in ((0, 16), (9, 16), (399, 16), (624, 16), (1, 4)):
            expected = [1_000_000 + seed * 10_000 + iteration * size + i for i in range(size)]
            assert seeding.ROLLOUT.iteration_seeds(seed, iteration, size) == expected
        assert seeding.process_seed(seed, 1) == seed + 1000
        assert seeding.iteration_task_seed(seed, 7) == seed * 100_003 + 7
        assert seeding.batch_seed(seed, 7, 1) == (seed * 1_000_003 + 7) * 64 + 1
        assert seeding.sampling_seed(seed, 123) == seed + 123
        assert seeding.train_task_seed(seed) == seed
    assert seeding.EVAL_TASK_SEED == 1_000_003


def test_seeds_from_100_on_leave_the_rollout_layout_that_reached_the_offline_stream() -> None:
    assert seeding.ROLLOUT.seed(99, 9_999) == 1_999_999  # the last seed of the original layout
    assert seeding.ROLLOUT.seed(100, 0) == 100_000_000 + 100 * 1_000_000  # was 2_000_000: the offline stream's
    assert seeding.ROLLOUT.seed(0, 10_000) == 100_000_000 + 10_000  # was seed 1's first rollout
    assert seeding.COLLECT.seed(0, 0) == 4_000_000  # was 3_000_000: the SFT stream's first seed


def test_the_task_generator_seeds_of_training_never_reach_the_evaluation_tasks() -> None:
    assert seeding.EVAL_TASK_SEED not in {seeding.train_task_seed(seed) for seed in seeding.RUN_SEEDS}


@pytest.mark.parametrize("scale", SCALES, ids=lambda path: path.stem)
def test_every_shipped_scale_fits_the_streams_and_keeps_the_original_rollout_layout(scale: Path) -> None:
    config = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(RunConfig), OmegaConf.load(scale)))
    train = config.train
    assert train.online_iterations * train.rollout_size <= seeding.ROLLOUT.legacy_capacity
    assert train.offline_episodes <= seeding.OFFLINE.capacity and train.sft_episodes <= seeding.SFT.capacity
    assert train.eval_episodes <= seeding.EVAL.capacity


def test_out_of_range_seeds_and_counts_are_one_clear_error() -> None:
    for bad in (-1, seeding.RUN_SEEDS.stop, 1.5, True):
        with pytest.raises(ConfigError, match="seed="):
            seeding.check_run_seed(bad)
    with pytest.raises(ConfigError, match=r"train.sft_seed=-3 is outside 0\.\.99999"):
        seeding.check_run_seed(-3, "train.sft_seed")
    with pytest.raises(ConfigError, match="rollout seed stream"):
        seeding.check_episode_count(seeding.ROLLOUT, seeding.ROLLOUT.capacity + 1, "train.rollout_size")
    with pytest.raises(ConfigError, match="offline seed stream"):
        seeding.OFFLINE.seeds(0, 2, start=seeding.OFFLINE.capacity - 1)
    with pytest.raises(ConfigError, match="seed=-1"):
        seeding.ROLLOUT.iteration_seeds(-1, 0, 4)


def test_a_run_with_an_out_of_range_seed_stops_before_writing(tmp_path) -> None:
    from hydra import compose, initialize_config_dir

    from coso.cli import CONFIG_DIR
    from coso.runs import execute

    for overrides in (["seed=-1"], ["seed=100000"], ["train.online_iterations=100000", "train.rollout_size=16"]):
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
            cfg = compose(config_name="digirl_online", overrides=overrides + [f"save_path={tmp_path / 'run'}"])
        with pytest.raises(ConfigError, match="docs/architecture.md"):
            execute(OmegaConf.to_object(cfg), OmegaConf.to_container(cfg, resolve=True))
        assert not (tmp_path / "run").exists()
