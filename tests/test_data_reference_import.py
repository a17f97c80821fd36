"""The importer of the reference's trajectory .pt files: conversion, and refusal of anything but plain data."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from coso.actions import Action, build_prompt, format_action
from coso.data import import_reference_pt, load_trajectories, save_trajectories
from coso.data.reference_import import main
from coso.errors import ConfigError, DatasetError

D = 1408


def reference_step(task: str, step: int, rng: np.random.Generator, done: bool, reward: float, **overrides) -> dict:
    """One step dict as the reference stores it (features as a stacked [2, 1408] numpy array)."""
    action = format_action(Action.tap(0.25, 0.75))
    record = {
        "observation": build_prompt(task, None if step == 0 else action),
        "next_observation": build_prompt(task, action),
        "action": action,
        "image_features": rng.standard_normal((2, D)).astype(np.float32),
        "next_image_features": rng.standard_normal((2, D)).astype(np.float32),
        "reward": np.float32(reward),
        "done": done,
        "mc_return": np.float64(reward),
        "task": task,
        "trajectory_reward": reward,
    }
    record.update(overrides)
    return record


def reference_file(tmp_path: Path) -> tuple[Path, list[list[dict]]]:
    rng = np.random.default_rng(0)
    first = [reference_step("Open the clock app", 0, rng, False, 1.0), reference_step("Open the clock app", 1, rng, True, 1.0)]
    for step in first:
        step["mc_return"] = np.float64(0.5 if step is first[0] else 1.0)
    # Second trajectory: no mc_return, torch tensors, flat single-screen features, no next_* keys, no task key.
    task = "Search for a good pizza place on Maps"
    second = []
    for step in range(3):
        record = reference_step(task, step, rng, step == 2, 1.0 if step == 2 else 0.0)
        for key in ("mc_return", "next_observation", "next_image_features", "task", "trajectory_reward"):
            record.pop(key)
        record["image_features"] = torch.from_numpy(rng.standard_normal(D).astype(np.float32))
        record["reward"] = torch.tensor(record["reward"].item())
        record["image_path"] = f"images/{step}.png"
        second.append(record)
    second[1]["action"] = "Action Plan: [] ; no decision"  # an unparseable model output
    content = [first, second]
    path = tmp_path / "trajectories.pt"
    torch.save(content, path)
    return path, content


def test_data_import_converts_reference_trajectories(tmp_path: Path) -> None:
    path, content = reference_file(tmp_path)
    first, second = import_reference_pt(path, gamma=0.5)

    assert first.task == "Open the clock app" and first.success and len(first) == 2
    assert [t.mc_return for t in first.transitions] == [0.5, 1.0]  # stored returns are kept
    step = first.transitions[0]
    assert step.image_features.dtype == np.float32 and step.image_features.shape == (2 * D,)
    assert np.array_equal(step.image_features, content[0][0]["image_features"].reshape(-1))
    assert np.array_equal(step.next_image_features, content[0][0]["next_image_features"].reshape(-1))
    assert step.prompt == content[0][0]["observation"] and step.action == content[0][0]["action"]
    assert step.valid_action and step.reward == 0.0 + 1.0 and not step.done

    assert second.task == "Search for a good pizza place on Maps"  # recovered from the prompt's goal
    assert second.success  # no trajectory_reward key: the summed reward decides
    assert [t.mc_return for t in second.transitions] == pytest.approx([0.25, 0.5, 1.0])  # recomputed, gamma 0.5
    assert [t.valid_action for t in second.transitions] == [True, False, True]
    assert [t.step for t in second.transitions] == [0, 1, 2]
    assert second.transitions[2].screenshot_path == "images/2.png"
    screens = [content[1][k]["image_features"].numpy() for k in range(3)]
    # a single [1408] screen is stacked after the previous one (after itself at step 0)
    assert np.array_equal(second.transitions[0].image_features, np.concatenate([screens[0], screens[0]]))
    assert np.array_equal(second.transitions[2].image_features, np.concatenate([screens[1], screens[2]]))
    # missing next_* keys come from the following step; the last step repeats its own observation
    assert np.array_equal(second.transitions[0].next_image_features, second.transitions[1].image_features)
    assert second.transitions[0].next_prompt == second.transitions[1].prompt
    assert second.transitions[2].next_prompt == second.transitions[2].prompt


def test_data_import_then_save_round_trips(tmp_path: Path) -> None:
    path, _ = reference_file(tmp_path)
    imported = import_reference_pt(path)
    saved = save_trajectories(imported, tmp_path / "dataset")
    loaded = load_trajectories(saved)
    assert [t.task for t in loaded] == [t.task for t in imported]
    assert all(
        a.image_features.tobytes() == b.image_features.tobytes()
        for x, y in zip(loaded, imported) for a, b in zip(x.transitions, y.transitions)
    )


def test_data_import_command_line(tmp_path: Path, capsys) -> None:
    path, _ = reference_file(tmp_path)
    assert main([str(path), str(tmp_path / "out")]) == 0
    assert "imported 2 trajectories (5 transitions)" in capsys.readouterr().out
    assert main([str(tmp_path / "missing.pt"), str(tmp_path / "out2")]) == 2
    assert "missing.pt: no such file" in capsys.readouterr().err


def test_data_import_reads_numpy1_era_files(tmp_path: Path) -> None:
    """Files pickled before numpy 2 name numpy.core.multiarray; those names are allowed too."""
    path, content = reference_file(tmp_path)
    old = tmp_path / "numpy1.pt"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(old, "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename.endswith("data.pkl"):
                assert b"numpy._core.multiarray" in data
                data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
            target.writestr(info, data)
    trajectories = import_reference_pt(old)
    assert np.array_equal(trajectories[0].transitions[1].image_features, content[0][1]["image_features"].reshape(-1))


class _RunsShellCommand:
    """A pickle payload that would run a shell command when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("legacy", [False, True])
def test_data_import_refuses_malicious_file_without_running_it(tmp_path: Path, legacy: bool) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save([[{"observation": _RunsShellCommand(marker)}]], path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(DatasetError, match=rf"evil.pt: refused to load: .*{os.system.__module__}.system"):
        import_reference_pt(path)
    assert not marker.exists()


class _CustomRecord:
    """A harmless but non-plain class: still refused, since only plain data may be unpickled."""

    def __init__(self) -> None:
        self.value = 1


def test_data_import_refuses_unknown_classes_and_object_arrays(tmp_path: Path) -> None:
    path = tmp_path / "custom.pt"
    torch.save([[{"observation": _CustomRecord()}]], path)
    with pytest.raises(DatasetError, match=r"refused to load: .*_CustomRecord"):
        import_reference_pt(path)
    objects = tmp_path / "objects.pt"
    torch.save([[{"image_features": np.array([{"a": 1}], dtype=object)}]], objects)
    with pytest.raises(DatasetError, match=r"objects.pt: refused to load"):
        import_reference_pt(objects)


def test_data_import_missing_required_key_names_position(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    steps = [reference_step("Open the clock app", k, rng, k == 2, 0.0) for k in range(3)]
    del steps[2]["action"]
    path = tmp_path / "incomplete.pt"
    torch.save([[reference_step("Open the camera", 0, rng, True, 1.0)], steps], path)
    with pytest.raises(DatasetError, match=r"incomplete.pt: trajectory 1, step 2, key 'action': missing required key"):
        import_reference_pt(path)


def test_data_import_wrong_feature_shape_names_position(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    step = reference_step("Open the camera", 0, rng, True, 1.0, image_features=np.zeros((3, D), np.float32))
    path = tmp_path / "shape.pt"
    torch.save([[step]], path)
    with pytest.raises(DatasetError, match=r"trajectory 0, step 0, key 'image_features'.*shape \[3, 1408\]"):
        import_reference_pt(path)


def test_data_import_rejects_non_list_and_non_torch_files(tmp_path: Path) -> None:
    path = tmp_path / "dict.pt"
    torch.save({"trajectories": []}, path)
    with pytest.raises(DatasetError, match="dict.pt: holds a dict, expected a list of trajectories"):
        import_reference_pt(path)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a torch file")
    with pytest.raises(DatasetError, match="junk.pt: "):
        import_reference_pt(junk)
    with pytest.raises(ConfigError, match="gamma"):
        import_reference_pt(path, gamma=2.0)
