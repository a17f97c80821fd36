"""The trajectory dataset format: round trips, atomic writes, and one test per validation error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from coso.data import (
    FORMAT_NAME,
    FORMAT_VERSION,
    Trajectory,
    Transition,
    dataset_summary,
    load_datasets,
    load_trajectories,
    read_manifest,
    save_trajectories,
)
from coso.actions import Action, format_action, build_prompt
from coso.errors import DatasetError

FEATURE_DIM = 6


def make_trajectory(index: int, length: int, rng: np.random.Generator, success: bool = False) -> Trajectory:
    """A trajectory worded like AitW, with random float32 features and a final reward on success."""
    task = f"Search for item number {index} on Newegg"
    actions = [format_action(Action.tap(0.1 * (k % 9) + 0.05, 0.5)) for k in range(length - 1)]
    if length > 0:
        actions.append(format_action(Action.type_text(f"item {index} \"quoted\" ünïcode")))
    transitions = []
    previous = None
    for step, action in enumerate(actions):
        done = step == length - 1
        transitions.append(
            Transition(
                task=task,
                prompt=build_prompt(task, previous),
                action=action,
                reward=1.0 if (done and success) else 0.0,
                done=done,
                image_features=rng.standard_normal(2 * FEATURE_DIM).astype(np.float32),
                next_prompt=build_prompt(task, action),
                next_image_features=rng.standard_normal(2 * FEATURE_DIM).astype(np.float32),
                step=step,
                valid_action=step % 3 != 2,
                task_set="webshop",
                screenshot_path=f"shots/{index}_{step}.png",
                next_screenshot_path=f"shots/{index}_{step + 1}.png",
            )
        )
        previous = action
    trajectory = Trajectory(
        transitions, task, task_set="webshop", success=success, env_failed=index == 2, seed=100 + index,
        metadata={"difficulty": 0.5, "layout": [1, 2, 3], "note": "é"},
    )
    return trajectory.fill_mc_returns(0.5)


@pytest.fixture
def trajectories() -> list[Trajectory]:
    rng = np.random.default_rng(0)
    lengths = [3, 1, 4, 0, 2]  # includes an empty trajectory (environment failed before the first step)
    return [make_trajectory(i, n, rng, success=i % 2 == 0) for i, n in enumerate(lengths)]


@pytest.fixture
def saved(tmp_path: Path, trajectories: list[Trajectory]) -> Path:
    return save_trajectories(trajectories, tmp_path / "data")


def assert_same(loaded: list[Trajectory], original: list[Trajectory]) -> None:
    assert len(loaded) == len(original)
    for got, want in zip(loaded, original):
        assert (got.task, got.task_set, got.success, got.env_failed, got.seed, got.metadata) == (
            want.task, want.task_set, want.success, want.env_failed, want.seed, want.metadata
        )
        assert len(got) == len(want)
        for a, b in zip(got.transitions, want.transitions):
            for name in ("task", "prompt", "action", "reward", "done", "next_prompt", "mc_return", "step",
                         "valid_action", "task_set", "screenshot_path", "next_screenshot_path"):
                assert getattr(a, name) == getattr(b, name), name
            for name in ("image_features", "next_image_features"):
                assert getattr(a, name).dtype == np.float32
                assert getattr(a, name).tobytes() == getattr(b, name).tobytes()  # bit-identical


# ------------------------------------------------------------------------------------------ round trips


def test_data_round_trip_is_exact(saved: Path, trajectories: list[Trajectory]) -> None:
    assert sorted(p.name for p in saved.iterdir()) == [
        "image_features.npy", "manifest.json", "next_image_features.npy", "trajectories.jsonl", "transitions.jsonl"
    ]
    assert_same(load_trajectories(saved), trajectories)


def test_data_manifest_records_format_counts_and_creation(saved: Path) -> None:
    manifest = read_manifest(saved)
    assert (manifest.format, manifest.version) == (FORMAT_NAME, FORMAT_VERSION)
    assert (manifest.num_trajectories, manifest.num_transitions, manifest.feature_dim) == (5, 10, FEATURE_DIM)
    assert manifest.created["time_utc"] and manifest.created["python"]


def test_data_empty_dataset_round_trips(tmp_path: Path) -> None:
    path = save_trajectories([], tmp_path / "empty")
    assert load_trajectories(path) == []
    assert dataset_summary(path)["num_transitions"] == 0


def test_data_overwrite_requires_flag_and_replaces(tmp_path: Path, trajectories: list[Trajectory]) -> None:
    path = save_trajectories(trajectories, tmp_path / "data")
    with pytest.raises(DatasetError, match="already exists.*overwrite=True"):
        save_trajectories(trajectories[:1], path)
    save_trajectories(trajectories[:2], path, overwrite=True)
    assert_same(load_trajectories(path), trajectories[:2])
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # no temporary or backup left behind


def test_data_refuses_to_replace_a_directory_that_is_not_a_dataset(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not a coso dataset"):
        save_trajectories([], tmp_path / "notes", overwrite=True)
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"


def test_data_concatenating_loader_and_summary(tmp_path: Path, trajectories: list[Trajectory]) -> None:
    first = save_trajectories(trajectories[:2], tmp_path / "a")
    second = save_trajectories(trajectories[2:], tmp_path / "b")
    assert_same(load_datasets([first, second]), trajectories)
    summary = dataset_summary(first)
    assert summary["num_trajectories"] == 2 and summary["num_transitions"] == 4
    assert summary["success_rate"] == 0.5 and summary["task_sets"] == {"webshop": 2}
    assert summary["mean_length"] == 2.0 and summary["max_length"] == 3


def test_data_concatenating_loader_rejects_mixed_feature_dims(tmp_path: Path, trajectories: list[Trajectory]) -> None:
    first = save_trajectories(trajectories[:1], tmp_path / "a")
    wide = make_trajectory(9, 2, np.random.default_rng(1))
    for transition in wide.transitions:
        transition.image_features = np.zeros(4 * FEATURE_DIM, np.float32)
        transition.next_image_features = np.zeros(4 * FEATURE_DIM, np.float32)
    second = save_trajectories([wide], tmp_path / "b")
    with pytest.raises(DatasetError, match="feature_dim"):
        load_datasets([first, second])


def test_data_screenshots_are_copied_and_checked(tmp_path: Path) -> None:
    trajectory = make_trajectory(0, 2, np.random.default_rng(2))
    shots = tmp_path / "shots_root"
    for transition in trajectory.transitions:
        for name in (transition.screenshot_path, transition.next_screenshot_path):
            (shots / name).parent.mkdir(parents=True, exist_ok=True)
            (shots / name).write_bytes(b"\x89PNG fake " + name.encode())
    path = save_trajectories([trajectory], tmp_path / "data", screenshot_root=shots)
    assert (path / "shots/0_1.png").read_bytes().endswith(b"shots/0_1.png")
    load_trajectories(path, check_screenshots=True)
    (path / "shots/0_2.png").unlink()
    with pytest.raises(DatasetError, match=r"transitions.jsonl: line 2: field 'next_screenshot_path'"):
        load_trajectories(path, check_screenshots=True)


# ------------------------------------------------------------------------------------------- atomicity


def test_data_crash_mid_write_leaves_nothing(tmp_path: Path, trajectories: list[Trajectory], monkeypatch) -> None:
    calls = []

    def failing_save(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the first feature file is written, the second crashes
            raise OSError("disk full (simulated)")
        return real_save(*args, **kwargs)

    real_save = np.save
    monkeypatch.setattr(np, "save", failing_save)
    with pytest.raises(OSError, match="simulated"):
        save_trajectories(trajectories, tmp_path / "data")
    assert list(tmp_path.iterdir()) == []  # neither the target nor a partial temporary directory


def test_data_crash_during_overwrite_keeps_old_dataset(tmp_path: Path, trajectories: list[Trajectory], monkeypatch) -> None:
    path = save_trajectories(trajectories[:2], tmp_path / "data")

    def failing_save(*args, **kwargs):
        raise OSError("crash (simulated)")

    monkeypatch.setattr(np, "save", failing_save)
    with pytest.raises(OSError):
        save_trajectories(trajectories, path, overwrite=True)
    monkeypatch.undo()
    assert_same(load_trajectories(path), trajectories[:2])
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def test_data_invalid_trajectory_is_rejected_before_touching_disk(tmp_path: Path, trajectories: list[Trajectory]) -> None:
    trajectories[1].transitions[0].reward = float("nan")
    with pytest.raises(DatasetError, match=r"trajectory 1 transition 0 reward"):
        save_trajectories(trajectories, tmp_path / "data")
    trajectories[1].transitions[0].reward = 0.0
    trajectories[0].metadata = {"pair": (1, 2)}
    with pytest.raises(DatasetError, match="trajectory 0: metadata"):
        save_trajectories(trajectories, tmp_path / "data")
    trajectories[0].metadata = {}
    trajectories[2].transitions[1].image_features = np.zeros(2 * FEATURE_DIM + 2, np.float32)
    with pytest.raises(DatasetError, match=r"trajectory 2 transition 1 image_features.*same even width"):
        save_trajectories(trajectories, tmp_path / "data")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------ validation


def rewrite_line(path: Path, line: int, edit) -> None:
    """Apply ``edit`` to the JSON record on 1-based ``line`` of a jsonl file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[line - 1])
    edit(record)
    lines[line - 1] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_data_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no dataset at .*nowhere.*does not exist"):
        load_trajectories(tmp_path / "nowhere")


@pytest.mark.parametrize("name", ["manifest.json", "trajectories.jsonl", "transitions.jsonl", "image_features.npy",
                                  "next_image_features.npy"])
def test_data_missing_file(saved: Path, name: str) -> None:
    (saved / name).unlink()
    with pytest.raises(DatasetError, match=rf"{name}: missing file"):
        load_trajectories(saved)


def test_data_wrong_format_name(saved: Path) -> None:
    rewrite_line(saved / "manifest.json", 1, lambda r: r.update(format="something-else"))
    with pytest.raises(DatasetError, match=r"manifest.json: field 'format' is \"something-else\", expected \"coso-trajectories\""):
        load_trajectories(saved)


def test_data_unsupported_version(saved: Path) -> None:
    rewrite_line(saved / "manifest.json", 1, lambda r: r.update(version=99))
    with pytest.raises(DatasetError, match=r"manifest.json: field 'version' is 99.*upgrade coso"):
        load_trajectories(saved)


def test_data_manifest_missing_field(saved: Path) -> None:
    rewrite_line(saved / "manifest.json", 1, lambda r: r.pop("feature_dim"))
    with pytest.raises(DatasetError, match=r"manifest.json: missing field 'feature_dim'"):
        load_trajectories(saved)


def test_data_manifest_not_json(saved: Path) -> None:
    (saved / "manifest.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"manifest.json: not valid JSON"):
        load_trajectories(saved)


def test_data_transition_missing_field(saved: Path) -> None:
    rewrite_line(saved / "transitions.jsonl", 4, lambda r: r.pop("reward"))
    with pytest.raises(DatasetError, match=r"transitions.jsonl: line 4: missing field 'reward'"):
        load_trajectories(saved)


@pytest.mark.parametrize(
    "field, value, expected",
    [("reward", "1.0", "a finite number"), ("done", 1, "true or false"), ("step", 1.5, "an integer"),
     ("prompt", None, "a string"), ("trajectory", -1, "a non-negative integer")],
)
def test_data_transition_mistyped_field(saved: Path, field: str, value: object, expected: str) -> None:
    rewrite_line(saved / "transitions.jsonl", 2, lambda r: r.update({field: value}))
    with pytest.raises(DatasetError, match=rf"transitions.jsonl: line 2: field '{field}' must be {expected}"):
        load_trajectories(saved)


def test_data_transition_line_not_json(saved: Path) -> None:
    lines = (saved / "transitions.jsonl").read_text().splitlines()
    lines[2] = lines[2][:-5]
    (saved / "transitions.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"transitions.jsonl: line 3: not valid JSON"):
        load_trajectories(saved)


def test_data_trajectory_mistyped_field(saved: Path) -> None:
    rewrite_line(saved / "trajectories.jsonl", 3, lambda r: r.update(success="yes"))
    with pytest.raises(DatasetError, match=r"trajectories.jsonl: line 3: field 'success' must be true or false"):
        load_trajectories(saved)


def test_data_trajectory_metadata_mistyped(saved: Path) -> None:
    rewrite_line(saved / "trajectories.jsonl", 1, lambda r: r.update(metadata=[1]))
    with pytest.raises(DatasetError, match=r"trajectories.jsonl: line 1: field 'metadata' must be a JSON object"):
        load_trajectories(saved)


def test_data_line_count_disagrees_with_manifest(saved: Path) -> None:
    lines = (saved / "transitions.jsonl").read_text().splitlines()
    (saved / "transitions.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(DatasetError, match=r"transitions.jsonl: has 9 lines, but manifest.json field 'num_transitions' says 10"):
        load_trajectories(saved)


def test_data_transitions_out_of_trajectory_order(saved: Path) -> None:
    rewrite_line(saved / "transitions.jsonl", 2, lambda r: r.update(trajectory=1))
    with pytest.raises(DatasetError, match=r"transitions.jsonl: line 2: field 'trajectory' is 1, expected 0"):
        load_trajectories(saved)


def test_data_trajectory_index_out_of_order(saved: Path) -> None:
    rewrite_line(saved / "trajectories.jsonl", 2, lambda r: r.update(index=3))
    with pytest.raises(DatasetError, match=r"trajectories.jsonl: line 2: field 'index' is 3, expected 1"):
        load_trajectories(saved)


def test_data_blank_line(saved: Path) -> None:
    text = (saved / "trajectories.jsonl").read_text()
    (saved / "trajectories.jsonl").write_text(text.replace("\n", "\n\n", 1))
    with pytest.raises(DatasetError, match=r"trajectories.jsonl: line 2: empty line"):
        load_trajectories(saved)


def test_data_trajectory_counts_disagree_with_transitions(saved: Path) -> None:
    rewrite_line(saved / "trajectories.jsonl", 5, lambda r: r.update(num_transitions=1))
    with pytest.raises(DatasetError, match=r"trajectories.jsonl: the 'num_transitions' fields add up to 9"):
        load_trajectories(saved)


def test_data_feature_wrong_dtype(saved: Path) -> None:
    np.save(saved / "image_features.npy", np.zeros((10, 2 * FEATURE_DIM), np.float64))
    with pytest.raises(DatasetError, match=r"image_features.npy: feature array 'image_features' has dtype float64, expected float32"):
        load_trajectories(saved)


def test_data_feature_wrong_row_count(saved: Path) -> None:
    np.save(saved / "next_image_features.npy", np.zeros((9, 2 * FEATURE_DIM), np.float32))
    with pytest.raises(DatasetError, match=r"next_image_features.npy: feature array 'next_image_features' has shape \[9, 12\], expected \[10, 12\]"):
        load_trajectories(saved)


def test_data_feature_wrong_width(saved: Path) -> None:
    np.save(saved / "image_features.npy", np.zeros((10, FEATURE_DIM), np.float32))
    with pytest.raises(DatasetError, match=r"image_features.npy: .*shape \[10, 6\], expected \[10, 12\]"):
        load_trajectories(saved)


def test_data_feature_pickled_object_array_is_refused(saved: Path) -> None:
    np.save(saved / "image_features.npy", np.array([{"a": 1}] * 10, dtype=object), allow_pickle=True)
    with pytest.raises(DatasetError, match=r"image_features.npy: feature array 'image_features' is not a plain .npy array"):
        load_trajectories(saved)


def test_data_feature_file_truncated(saved: Path) -> None:
    (saved / "image_features.npy").write_bytes((saved / "image_features.npy").read_bytes()[:100])
    with pytest.raises(DatasetError, match=r"image_features.npy: feature array 'image_features'"):
        load_trajectories(saved)
