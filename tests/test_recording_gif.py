"""Episode recordings: one GIF per episode, a frame per screen, actions drawn where they happened."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

from coso.actions import Action, format_action, parse_action
from coso.env.recording import (
    MARKER_COLOUR,
    EpisodeRecorder,
    NullRecorder,
    annotate_frame,
    describe_action,
    frame_layout,
)
from coso.errors import ConfigError

SCREEN = (270, 480)


def _screens(count: int) -> list[Image.Image]:
    """Distinct plain screens (light grey levels), so GIF frames never merge."""
    return [Image.new("RGB", SCREEN, (230 - 10 * i, 235, 240)) for i in range(count)]


def _frames(path: Path) -> list[Image.Image]:
    with Image.open(path) as gif:
        return [frame.convert("RGB") for frame in ImageSequence.Iterator(gif)]


def test_gif_has_one_frame_per_screen(tmp_path: Path) -> None:
    actions = [
        format_action(Action.tap(0.5, 0.5)),
        format_action(Action.swipe((0.5, 0.8), (0.5, 0.2))),
        format_action(Action.type_text("bestbuy.com")),
        "this is not an action",
    ]
    recorder = EpisodeRecorder(tmp_path / "videos")
    path = recorder.record(_screens(5), actions, "Go to bestbuy.com", "episode_00003")
    assert path == tmp_path / "videos" / "episode_00003.gif"
    frames = _frames(path)
    assert len(frames) == 5
    assert frames[0].size == frame_layout(SCREEN).size


def test_gif_of_failed_episode_has_no_final_frame(tmp_path: Path) -> None:
    actions = [format_action(Action.tap(0.2, 0.3)), format_action(Action.tap(0.4, 0.3))]
    path = EpisodeRecorder(tmp_path).record(_screens(2), actions, "Open the settings", "ep")
    assert len(_frames(path)) == 2


def test_tap_marker_is_drawn_at_the_tap_pixel(tmp_path: Path) -> None:
    x, y = 0.25, 0.7
    path = EpisodeRecorder(tmp_path).record(
        [Image.new("RGB", SCREEN, "white")] * 2, [format_action(Action.tap(x, y))], "Open Chrome", "tap"
    )
    frame = np.asarray(_frames(path)[0], dtype=np.int32)
    layout = frame_layout(SCREEN)
    column, row = layout.to_frame((x, y))
    assert row == layout.header_height + round(y * (SCREEN[1] - 1))
    assert np.abs(frame[row, column] - np.array(MARKER_COLOUR)).max() <= 8
    # The marker is local: the screen far from the tap stays white.
    far_column, far_row = layout.to_frame((0.9, 0.1))
    assert frame[far_row, far_column].min() >= 245
    # The final frame has no marker at that spot.
    last = np.asarray(_frames(path)[1], dtype=np.int32)
    assert last[row, column].min() >= 245


def test_swipe_arrow_runs_between_touch_and_lift() -> None:
    frame = annotate_frame(
        Image.new("RGB", SCREEN, "white"), format_action(Action.swipe((0.5, 0.8), (0.5, 0.2))), "Scroll"
    )
    pixels = np.asarray(frame, dtype=np.int32)
    layout = frame_layout(SCREEN)
    for y in (0.3, 0.5, 0.7):
        column, row = layout.to_frame((0.5, y))
        assert np.abs(pixels[row, column] - np.array(MARKER_COLOUR)).max() <= 8


def test_captions_describe_actions_and_flag_invalid_text() -> None:
    assert describe_action(parse_action(format_action(Action.type_text("lamp")))) == 'TYPE "lamp"'
    assert describe_action(parse_action(format_action(Action.tap(0.1, 0.2)))).startswith("TAP (0.100, 0.200)")
    assert describe_action(parse_action("garbage")).startswith("INVALID:")


def test_null_recorder_writes_nothing(tmp_path: Path) -> None:
    assert NullRecorder().record(_screens(2), ["x"], "task", tmp_path / "nothing") is None
    assert list(tmp_path.iterdir()) == []


def test_bad_input_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="recording format"):
        EpisodeRecorder(tmp_path, fmt="avi")
    with pytest.raises(ValueError, match="screens"):
        EpisodeRecorder(tmp_path).record(_screens(4), ["a"], "task", "ep")
