"""Episode recordings: one animated file per episode, each action drawn on the screen it was taken on.

A frame is the task as a header line, the screenshot, and a caption band. Taps are a red ring with a
filled centre at the tap point, swipes a red arrow from touch to lift point, typed text, key presses and
status actions a caption; text that does not parse is flagged in the caption with the parser's reason.
The last frame shows the final screen. ``NullRecorder`` stands in for runs that do not record.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from PIL import Image, ImageDraw, ImageFont

from coso.actions import Action, ActionGrammar, ActionType, ParsedAction, parse_action
from coso.env.tasks import Task
from coso.errors import ConfigError

MARKER_COLOUR = (255, 0, 0)
INVALID_COLOUR = (200, 0, 0)
HEADER_COLOUR = (20, 20, 20)
CAPTION_COLOUR = (245, 245, 245)
TEXT_ON_DARK = (255, 255, 255)
TEXT_ON_LIGHT = (0, 0, 0)


class Recorder(Protocol):
    """Writes an episode's screens and actions somewhere (or nowhere)."""

    def record(
        self, screens: Sequence[Image.Image], actions: Sequence[str], task: Task | str, path: str | Path
    ) -> Path | None:
        """Record one episode; returns the written file, or None when nothing was written."""


class NullRecorder:
    """The recorder of runs that do not record: accepts everything, writes nothing."""

    def record(
        self, screens: Sequence[Image.Image], actions: Sequence[str], task: Task | str, path: str | Path
    ) -> Path | None:
        """Write nothing."""
        return None


@dataclass(frozen=True)
class FrameLayout:
    """Where the screenshot sits in a frame: below a header band of ``header_height`` pixels."""

    screen_width: int
    screen_height: int
    header_height: int
    caption_height: int

    @property
    def size(self) -> tuple[int, int]:
        """The frame's ``(width, height)``."""
        return self.screen_width, self.header_height + self.screen_height + self.caption_height

    def to_frame(self, point: tuple[float, float]) -> tuple[int, int]:
        """Frame pixel of a normalised ``(x, y)`` screen point."""
        x, y = point
        column = min(self.screen_width - 1, max(0, round(x * (self.screen_width - 1))))
        row = min(self.screen_height - 1, max(0, round(y * (self.screen_height - 1))))
        return column, self.header_height + row


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType support: the fixed bitmap font
        return ImageFont.load_default()


def _wrap(text: str, width_px: int, font_size: int, max_lines: int) -> list[str]:
    chars_per_line = max(8, int(width_px / (0.55 * font_size)))
    lines = textwrap.wrap(text, chars_per_line) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(0, chars_per_line - 1)] + "…"
    return lines


def _draw_tap(draw: ImageDraw.ImageDraw, layout: FrameLayout, action: Action, radius: int) -> None:
    assert action.touch_point is not None
    cx, cy = layout.to_frame(action.touch_point)
    draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], outline=MARKER_COLOUR, width=3)
    inner = max(2, radius // 3)
    draw.ellipse([cx - inner, cy - inner, cx + inner, cy + inner], fill=MARKER_COLOUR)


def _draw_swipe(draw: ImageDraw.ImageDraw, layout: FrameLayout, action: Action, radius: int) -> None:
    assert action.touch_point is not None and action.lift_point is not None
    start = layout.to_frame(action.touch_point)
    end = layout.to_frame(action.lift_point)
    draw.line([start, end], fill=MARKER_COLOUR, width=4)
    draw.ellipse([start[0] - radius // 2, start[1] - radius // 2, start[0] + radius // 2, start[1] + radius // 2],
                 outline=MARKER_COLOUR, width=3)
    angle = math.atan2(end[1] - start[1], end[0] - start[0])
    head = 2 * radius // 3 + 4
    left = (end[0] - head * math.cos(angle - math.pi / 6), end[1] - head * math.sin(angle - math.pi / 6))
    right = (end[0] - head * math.cos(angle + math.pi / 6), end[1] - head * math.sin(angle + math.pi / 6))
    draw.polygon([end, left, right], fill=MARKER_COLOUR)


def describe_action(parsed: ParsedAction) -> str:
    """A short human caption of a parsed action (``INVALID: reason`` for text that did not parse)."""
    action = parsed.action
    if action is None:
        return f"INVALID: {parsed.reason}"
    if action.type == ActionType.DualPoint:
        assert action.touch_point is not None and action.lift_point is not None
        if action.is_tap:
            return f"TAP ({action.touch_point[0]:.3f}, {action.touch_point[1]:.3f})"
        return (f"SWIPE ({action.touch_point[0]:.3f}, {action.touch_point[1]:.3f}) -> "
                f"({action.lift_point[0]:.3f}, {action.lift_point[1]:.3f})")
    if action.type == ActionType.Type:
        return f'TYPE "{action.typed_text}"'
    return action.type.autoui_name


def grammar_caption(grammar: ActionGrammar, action_text: str) -> tuple[str, bool]:
    """A domain's caption of an action text: its action class, or INVALID; and whether it parsed."""
    label = grammar.classify(action_text)
    if label is None:
        return "INVALID: the text names none of the actions", False
    return f"ACTION {grammar.action_classes[label]}", True


def annotate_frame(
    screen: Image.Image, action_text: str | None, task_text: str, caption_prefix: str = "",
    grammar: ActionGrammar | None = None,
) -> Image.Image:
    """One frame: the task header, ``screen`` with the action drawn on it, and the action's caption (AutoUI's
    with its tap and swipe markers, or with ``grammar`` another domain's action class)."""
    layout = frame_layout(screen.size)
    frame = Image.new("RGB", layout.size, CAPTION_COLOUR)
    frame.paste(screen.convert("RGB"), (0, layout.header_height))
    draw = ImageDraw.Draw(frame)
    font_size = _font_size(screen.size)
    font = _font(font_size)
    draw.rectangle([0, 0, layout.screen_width, layout.header_height - 1], fill=HEADER_COLOUR)
    for line_index, line in enumerate(_wrap(task_text, layout.screen_width - 8, font_size, 2)):
        draw.text((4, 3 + line_index * (font_size + 2)), line, fill=TEXT_ON_DARK, font=font)
    caption_top = layout.header_height + layout.screen_height
    if action_text is None:
        caption, colour = "end of episode", TEXT_ON_LIGHT
    else:
        if grammar is not None:
            caption, valid = grammar_caption(grammar, action_text)
        else:
            parsed = parse_action(action_text)
            if parsed.action is not None:
                draw_marker = _MARKERS.get(_marker_kind(parsed.action), _draw_nothing)
                draw_marker(draw, layout, parsed.action, 3 * font_size // 2)
            caption, valid = describe_action(parsed), parsed.valid
        colour = TEXT_ON_LIGHT if valid else INVALID_COLOUR
        if not valid:
            draw.rectangle(
                [0, caption_top, layout.screen_width - 1, layout.size[1] - 1], outline=INVALID_COLOUR, width=3
            )
    for line_index, line in enumerate(_wrap(caption_prefix + caption, layout.screen_width - 8, font_size, 2)):
        draw.text((4, caption_top + 3 + line_index * (font_size + 2)), line, fill=colour, font=font)
    return frame


def _draw_nothing(draw: ImageDraw.ImageDraw, layout: FrameLayout, action: Action, radius: int) -> None:
    """Actions without a screen position are shown by their caption only."""


_MARKERS: dict[str, Callable[[ImageDraw.ImageDraw, FrameLayout, Action, int], None]] = {
    "tap": _draw_tap,
    "swipe": _draw_swipe,
}


def _marker_kind(action: Action) -> str:
    if action.type != ActionType.DualPoint:
        return "caption"
    return "tap" if action.is_tap else "swipe"


def _font_size(screen_size: tuple[int, int]) -> int:
    return max(10, screen_size[0] // 24)


def frame_layout(screen_size: tuple[int, int]) -> FrameLayout:
    """The layout of frames for screens of ``screen_size`` (two text lines above and below the screen)."""
    band = 2 * (_font_size(screen_size) + 2) + 6
    return FrameLayout(screen_size[0], screen_size[1], band, band)


def _write_gif(frames: Sequence[Image.Image], path: Path, frame_ms: int) -> None:
    frames[0].save(path, save_all=True, append_images=list(frames[1:]), duration=frame_ms, loop=0, optimize=False)


def _write_webp(frames: Sequence[Image.Image], path: Path, frame_ms: int) -> None:
    frames[0].save(path, save_all=True, append_images=list(frames[1:]), duration=frame_ms, loop=0, lossless=True)


RECORDING_FORMATS: dict[str, Callable[[Sequence[Image.Image], Path, int], None]] = {
    "gif": _write_gif,
    "webp": _write_webp,
}


class EpisodeRecorder:
    """Writes one animated file per episode under ``out_dir`` (``fmt`` "gif", or "webp" for lossless frames)."""

    def __init__(self, out_dir: str | Path, fmt: str = "gif", frame_ms: int = 700,
                 grammar: ActionGrammar | None = None) -> None:
        """``grammar``: another domain's action grammar for the captions (None: the phone's AutoUI)."""
        if fmt not in RECORDING_FORMATS:
            raise ConfigError(f"recording format {fmt!r} is not one of {sorted(RECORDING_FORMATS)}")
        if frame_ms < 1:
            raise ConfigError(f"recording frame_ms must be >= 1, got {frame_ms}")
        self.out_dir = Path(out_dir)
        self.fmt = fmt
        self.frame_ms = int(frame_ms)
        self.grammar = grammar

    def record(
        self, screens: Sequence[Image.Image], actions: Sequence[str], task: Task | str, path: str | Path
    ) -> Path | None:
        """Write ``screens`` (the first screen, then the screen after each action) as one animation.

        ``screens`` holds ``len(actions) + 1`` images (the final screen gets an "end" frame) or
        ``len(actions)`` when the episode has no final screen (its environment failed). A relative ``path``
        is placed under ``out_dir``; the format's suffix is added when missing.
        """
        if len(screens) not in (len(actions), len(actions) + 1) or not screens:
            raise ValueError(
                f"EpisodeRecorder.record: {len(screens)} screens for {len(actions)} actions "
                "(need one per action, plus optionally the final screen)"
            )
        task_text = task.text if isinstance(task, Task) else str(task)
        total = len(actions)
        frames = []
        for index, screen in enumerate(screens):
            action_text = actions[index] if index < total else None
            prefix = f"{index + 1}/{total}: " if action_text is not None else ""
            frames.append(annotate_frame(screen, action_text, task_text, prefix, self.grammar))
        target = Path(path)
        if not target.is_absolute():
            target = self.out_dir / target
        if target.suffix.lower() != f".{self.fmt}":
            target = target.with_name(target.name + f".{self.fmt}")
        target.parent.mkdir(parents=True, exist_ok=True)
        RECORDING_FORMATS[self.fmt](frames, target, self.frame_ms)
        return target
