"""The replay buffer: FIFO eviction by transition count, deterministic sampling, splits and persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from coso.actions import Action, build_prompt, format_action
from coso.data import ReplayBuffer, Trajectory, Transition, collate_transitions, split_trajectories
from coso.errors import ConfigError, DatasetError

WIDTH = 8  # 2 * D with D = 4


def make_trajectory(index: int, length: int, success: bool = True) -> Trajectory:
    """A trajectory whose features encode (trajectory index, step) so batches can be traced back."""
    task = f"Open the Settings app ({index})"
    transitions = []
    for step in range(length):
        done = step == length - 1
        action = format_action(Action.tap(0.5, 0.5)) if not done else "garbled output"
        transitions.append(
            Transition(
                task=task,
                prompt=build_prompt(task, None if step == 0 else "tap"),
                action=action,
                reward=1.0 if done and success else 0.0,
                done=done,
                image_features=np.full(WIDTH, index * 100 + step, np.float32),
                next_prompt=build_prompt(task, action),
                next_image_features=np.full(WIDTH, index * 100 + step + 1, np.float32),
                step=step,
                valid_action=not done,
            )
        )
    return Trajectory(transitions, task, success=success, seed=index).fill_mc_returns(0.5)


def trajectory_ids(buffer: ReplayBuffer) -> list[int]:
    return [t.seed for t in buffer.trajectories()]


def test_data_buffer_counts_transitions_and_evicts_oldest_whole_trajectories() -> None:
    buffer = ReplayBuffer(capacity=10)
    assert buffer.add([make_trajectory(0, 4), make_trajectory(1, 3)]) == 0
    assert len(buffer) == 7 and buffer.num_trajectories == 2
    assert buffer.add(make_trajectory(2, 3)) == 0  # exactly at capacity: nothing evicted
    assert len(buffer) == 10
    assert buffer.add(make_trajectory(3, 2)) == 1  # 12 > 10: the oldest (4 steps) goes
    assert trajectory_ids(buffer) == [1, 2, 3] and len(buffer) == 8
    assert buffer.add([make_trajectory(4, 5)]) == 1  # 13 > 10: dropping trajectory 1 (3 steps) makes it fit
    assert trajectory_ids(buffer) == [2, 3, 4] and len(buffer) == 10
    expected = [100 * index + step for index, length in [(2, 3), (3, 2), (4, 5)] for step in range(length)]
    assert [int(t.image_features[0]) for t in buffer.transitions()] == expected


def test_data_buffer_eviction_is_exact_fifo() -> None:
    buffer = ReplayBuffer(capacity=6)
    for index in range(5):
        buffer.add(make_trajectory(index, 2))
    assert trajectory_ids(buffer) == [2, 3, 4] and len(buffer) == 6
    buffer.add(make_trajectory(5, 5))
    assert trajectory_ids(buffer) == [5] and len(buffer) == 5


def test_data_buffer_rejects_trajectory_longer_than_capacity_without_changing() -> None:
    buffer = ReplayBuffer(capacity=4, trajectories=[make_trajectory(0, 3)])
    with pytest.raises(ConfigError, match="capacity 4 is smaller than a 5-step trajectory"):
        buffer.add([make_trajectory(1, 1), make_trajectory(2, 5)])
    assert trajectory_ids(buffer) == [0]


@pytest.mark.parametrize("capacity", [0, -3, 2.5, True])
def test_data_buffer_bad_capacity(capacity: object) -> None:
    with pytest.raises(ConfigError, match="capacity must be a positive integer"):
        ReplayBuffer(capacity)  # type: ignore[arg-type]


def test_data_buffer_sampling_is_deterministic_and_shaped() -> None:
    buffer = ReplayBuffer(100, [make_trajectory(i, 1 + i % 4) for i in range(8)])
    first = buffer.sample(16, torch.Generator().manual_seed(7))
    second = buffer.sample(16, 7)  # an integer seed is the same as a seeded generator
    third = buffer.sample(16, 8)
    assert torch.equal(first.image_features, second.image_features) and first.prompts == second.prompts
    assert not torch.equal(first.image_features, third.image_features)
    assert len(first) == 16
    assert first.image_features.shape == (16, WIDTH) and first.image_features.dtype == torch.float32
    assert first.next_image_features.shape == (16, WIDTH)
    assert first.rewards.dtype == torch.float32 and first.dones.dtype == torch.float32
    assert first.valid.dtype == torch.bool and first.steps.dtype == torch.int64
    # each row is internally consistent: the features encode (trajectory, step)
    for row in range(16):
        code = int(first.image_features[row, 0])
        assert int(first.steps[row]) == code % 100
        assert int(first.next_image_features[row, 0]) == code + 1
        assert bool(first.valid[row]) == (first.dones[row].item() == 0.0)
        assert first.prompts[row].endswith(f"({code // 100})</s>")


def test_data_buffer_sample_uses_generator_state() -> None:
    buffer = ReplayBuffer(100, [make_trajectory(i, 3) for i in range(6)])
    generator = torch.Generator().manual_seed(0)
    a = buffer.sample(8, generator)
    b = buffer.sample(8, generator)
    replay = torch.Generator().manual_seed(0)
    assert torch.equal(buffer.sample(8, replay).image_features, a.image_features)
    assert torch.equal(buffer.sample(8, replay).image_features, b.image_features)


def test_data_buffer_iterate_covers_each_transition_once_per_epoch() -> None:
    buffer = ReplayBuffer(100, [make_trajectory(i, 3) for i in range(5)])
    batches = list(buffer.iterate(4, shuffle=True, generator=3))
    assert [len(b) for b in batches] == [4, 4, 4, 3]
    seen = sorted(int(v) for b in batches for v in b.image_features[:, 0])
    assert seen == sorted(100 * i + s for i in range(5) for s in range(3))
    again = list(buffer.iterate(4, shuffle=True, generator=3))
    assert all(torch.equal(x.image_features, y.image_features) for x, y in zip(batches, again))
    ordered = list(buffer.iterate(4, shuffle=False, drop_last=True))
    assert [len(b) for b in ordered] == [4, 4, 4]
    assert [int(v) for v in ordered[0].image_features[:, 0]] == [0, 1, 2, 100]


def test_data_buffer_empty_sampling_is_a_clear_error() -> None:
    with pytest.raises(DatasetError, match="replay buffer is empty"):
        ReplayBuffer(10).sample(4, 0)
    with pytest.raises(ConfigError, match="batch_size"):
        ReplayBuffer(10, [make_trajectory(0, 2)]).sample(0, 0)


def test_data_split_is_by_trajectory_and_deterministic() -> None:
    trajectories = [make_trajectory(i, 1 + i % 3) for i in range(16)]
    train, val = split_trajectories(trajectories, 0.8, 5)
    assert (len(train), len(val)) == (12, 4)  # int(16 * 0.8), as the reference
    assert sorted(t.seed for t in train + val) == list(range(16))
    again_train, _ = split_trajectories(trajectories, 0.8, 5)
    assert [t.seed for t in again_train] == [t.seed for t in train]
    other_train, _ = split_trajectories(trajectories, 0.8, 6)
    assert [t.seed for t in other_train] != [t.seed for t in train]
    assert [len(part) for part in split_trajectories(trajectories[:1], 0.8, 0)] == [1, 0]
    with pytest.raises(ConfigError, match="train fraction"):
        split_trajectories(trajectories, 1.5)


def test_data_buffer_train_val_split_keeps_trajectories_whole() -> None:
    buffer = ReplayBuffer(50, [make_trajectory(i, 1 + i % 4) for i in range(10)])
    train, val = buffer.train_val_split(0.8, generator=1)
    assert (train.num_trajectories, val.num_trajectories) == (8, 2)
    assert train.capacity == val.capacity == 50
    assert len(train) + len(val) == len(buffer)
    train_codes = {int(t.image_features[0]) // 100 for t in train.transitions()}
    val_codes = {int(t.image_features[0]) // 100 for t in val.transitions()}
    assert not train_codes & val_codes  # no trajectory is split across the two


def test_data_buffer_save_and_load_round_trip(tmp_path: Path) -> None:
    buffer = ReplayBuffer(12, [make_trajectory(i, 3) for i in range(4)])
    buffer.save(tmp_path / "buffer")
    buffer.add(make_trajectory(9, 2))
    buffer.save(tmp_path / "buffer")  # a second save replaces the first atomically
    restored = ReplayBuffer.load(tmp_path / "buffer")
    assert restored.capacity == 12 and len(restored) == len(buffer)
    assert trajectory_ids(restored) == trajectory_ids(buffer)
    assert torch.equal(restored.sample(6, 2).image_features, buffer.sample(6, 2).image_features)
    smaller = ReplayBuffer.load(tmp_path / "buffer", capacity=5)
    assert trajectory_ids(smaller) == [3, 9]


def test_data_buffer_load_of_plain_dataset_needs_capacity(tmp_path: Path) -> None:
    from coso.data import save_trajectories

    path = save_trajectories([make_trajectory(0, 2)], tmp_path / "plain")
    with pytest.raises(DatasetError, match="pass capacity="):
        ReplayBuffer.load(path)
    assert len(ReplayBuffer.load(path, capacity=10)) == 2


def test_data_collate_matches_transitions_and_moves_device() -> None:
    trajectory = make_trajectory(3, 3)
    batch = collate_transitions(trajectory.transitions).to("cpu")
    assert batch.actions == [t.action for t in trajectory.transitions]
    assert batch.mc_returns.tolist() == pytest.approx([0.25, 0.5, 1.0])
    assert batch.dones.tolist() == [0.0, 0.0, 1.0]
    assert collate_transitions([]).image_features.shape == (0, 0)


def test_data_buffer_split_on_entry_keeps_each_trajectory_on_its_side(tmp_path: Path) -> None:
    buffer = ReplayBuffer(200, [make_trajectory(i, 2) for i in range(10)])
    train, val = buffer.split_on_entry(0.8, generator=1)
    assert (train.num_trajectories, val.num_trajectories) == (8, 2)
    first_val = {t.seed for t in val.trajectories()}
    # a later round with other generator draws and new data: the old trajectories stay where they were
    buffer.add([make_trajectory(i, 2) for i in range(10, 15)])
    train, val = buffer.split_on_entry(0.8, generator=99)
    assert first_val <= {t.seed for t in val.trajectories()}
    assert not {t.seed for t in train.trajectories()} & first_val
    newcomers_in_val = {t.seed for t in val.trajectories()} - first_val
    assert len(newcomers_in_val) == 1 and newcomers_in_val <= set(range(10, 15))  # int(5 * 0.8) = 4 train
    # the reshuffling split (DigiRL's release) moves old trajectories between the sides
    moved = [buffer.train_val_split(0.8, generator=seed)[1] for seed in range(6)]
    assert any({t.seed for t in part.trajectories()} != first_val | newcomers_in_val for part in moved)
    # the sides survive a save and load (the resumed run splits as the unbroken one)
    buffer.save(tmp_path / "buffer")
    reloaded = ReplayBuffer.load(tmp_path / "buffer")
    assert {t.seed for t in reloaded.split_on_entry(0.8, generator=5)[1].trajectories()} == first_val | newcomers_in_val
