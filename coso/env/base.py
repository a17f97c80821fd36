"""The environment interfaces of every domain, the phone's device and judge contracts, and its episode rules.

An ``Environment`` is what the pool and the rollout drive in any domain (``coso.env.domains``): episodes of a
task from a seed, one action text per step, an ``Observation`` (image, text prompt) and a ``StepResult`` back.
For the phone, a ``Device`` can be touched and photographed, a ``Judge`` says whether a task is done, and
``PhoneEnv`` combines them with the AutoUI action grammar and the episode rules of the reference (reward 1 on
success, an unparseable action ends the episode, a step limit per task set).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import numpy as np
from PIL import Image

from coso.actions import Action, ActionType, build_prompt, parse_action
from coso.errors import ConfigError

if TYPE_CHECKING:
    from coso.env.tasks import Task

T = TypeVar("T")


@runtime_checkable
class Device(Protocol):
    """Low-level phone control, implemented by the simulator and by the Appium-driven emulator."""

    def reset(self, seed: int) -> None:
        """Return to the home screen with a fresh, seeded state."""

    def screenshot(self) -> Image.Image:
        """The current screen as an RGB image."""

    def window_size(self) -> tuple[int, int]:
        """Screen ``(width, height)`` in pixels."""

    def tap(self, x: float, y: float) -> None:
        """Tap at normalised ``(x, y)``."""

    def swipe(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """Swipe from normalised ``(x0, y0)`` to ``(x1, y1)``."""

    def type_text(self, text: str) -> None:
        """Type into the focused field."""

    def press_back(self) -> None:
        """The Android Back key."""

    def press_home(self) -> None:
        """The Android Home key."""

    def press_enter(self) -> None:
        """The Enter key."""

    def close(self) -> None:
        """Release the device's resources."""

    def privileged_state(self) -> object | None:
        """The simulator's internal state for scripted experts; None on real devices."""


class DeviceWrapper:
    """A ``Device`` that forwards every call to the device it wraps through ``_forward``; subclasses override a
    call (a screenshot check) or ``_forward`` itself (flagging a failed emulator) instead of restating all ten."""

    def __init__(self, device: Device) -> None:
        self.device = device

    def _forward(self, what: str, call: Callable[[], T]) -> T:
        """Run one call on the wrapped device; ``what`` names it for error messages."""
        del what
        return call()

    def reset(self, seed: int) -> None:
        """Reset the wrapped device."""
        self._forward("resetting", lambda: self.device.reset(seed))

    def screenshot(self) -> Image.Image:
        """The wrapped device's screen."""
        return self._forward("taking a screenshot", self.device.screenshot)

    def window_size(self) -> tuple[int, int]:
        """The wrapped device's screen size."""
        return self._forward("reading the window size", self.device.window_size)

    def tap(self, x: float, y: float) -> None:
        """Tap on the wrapped device."""
        self._forward("tapping", lambda: self.device.tap(x, y))

    def swipe(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """Swipe on the wrapped device."""
        self._forward("swiping", lambda: self.device.swipe(x0, y0, x1, y1))

    def type_text(self, text: str) -> None:
        """Type on the wrapped device."""
        self._forward("typing", lambda: self.device.type_text(text))

    def press_back(self) -> None:
        """Back key on the wrapped device."""
        self._forward("pressing Back", self.device.press_back)

    def press_home(self) -> None:
        """Home key on the wrapped device."""
        self._forward("pressing Home", self.device.press_home)

    def press_enter(self) -> None:
        """Enter key on the wrapped device."""
        self._forward("pressing Enter", self.device.press_enter)

    def close(self) -> None:
        """Close the wrapped device."""
        self.device.close()

    def privileged_state(self) -> object | None:
        """The wrapped device's privileged state (simulator only)."""
        return self.device.privileged_state()


class Judge(Protocol):
    """Decides whether a task is accomplished, after every step."""

    def reset(self, task: Task) -> None:
        """Forget what was seen in the previous episode."""

    def is_success(self, task: Task, screenshot: Image.Image, action: Action | None) -> bool:
        """True when the current screen (and, for the simulator, its state) shows the task done."""


def execute_action(device: Device, action: Action) -> None:
    """Carry out one parsed action on a device; status actions touch nothing."""
    if action.type == ActionType.DualPoint:
        assert action.touch_point is not None and action.lift_point is not None
        if action.is_tap:
            device.tap(*action.touch_point)
        else:
            device.swipe(*action.touch_point, *action.lift_point)
    elif action.type == ActionType.Type:
        device.type_text(action.typed_text)
    elif action.type == ActionType.GoBack:
        device.press_back()
    elif action.type == ActionType.GoHome:
        device.press_home()
    elif action.type == ActionType.Enter:
        device.press_enter()


@dataclass(frozen=True)
class Observation:
    """What the agent sees: the task, the screen, the previous action text and the step index."""

    task: str
    screenshot: Image.Image
    previous_action: str | None = None
    step: int = 0
    state: object | None = field(default=None, repr=False, compare=False)  # privileged sim state, or None
    # previous + current screen features, filled in by the rollout (environments know nothing of encoders)
    image_features: np.ndarray | None = field(default=None, repr=False, compare=False)
    # the domain's own prompt (its text observation included); None: the phone's AutoUI prompt
    text_prompt: str | None = None

    @property
    def prompt(self) -> str:
        """The policy's prompt: the domain's, or AutoUI's from the task and the previous action."""
        if self.text_prompt is not None:
            return self.text_prompt
        return build_prompt(self.task, self.previous_action)


class ParsedText(Protocol):
    """What a domain's grammar made of an action text: whether it holds an action, and why not."""

    @property
    def valid(self) -> bool:
        """True when the text held an executable action."""

    @property
    def reason(self) -> str:
        """Why the text holds no action ("" when it does)."""


class NoisyExpert:
    """What a domain's scripted expert shares: a noise level in [0, 1] checked once, its seeded random stream, and
    ``act`` over a batch as ``act_one`` per observation (the subclass plans one observation)."""

    def __init__(self, noise: float = 0.0, seed: int = 0) -> None:
        if not 0.0 <= float(noise) <= 1.0:
            raise ConfigError(f"demonstrator noise level {noise!r} must be a number in [0, 1] (0 = a perfect expert)")
        self.noise = float(noise)
        self.rng = random.Random(seed)

    def act(self, observations: Sequence[Observation], tasks: Sequence[Task]) -> list[str]:
        """One action text per observation, planned from the state the environment exposes."""
        return [self.act_one(observation) for observation in observations]

    def act_one(self, observation: Observation) -> str:
        """The expert's action text for one observation."""
        raise NotImplementedError


@dataclass(frozen=True)
class StepResult:
    """The outcome of one ``PhoneEnv.step``."""

    observation: Observation
    reward: float
    done: bool
    success: bool
    parsed: ParsedText  # the phone's ParsedAction, or another domain's parse
    info: dict[str, Any] = field(default_factory=dict)


class Environment(Protocol):
    """A domain's environment: episodes of a task from a seed, one action text per step (``PhoneEnv`` is one)."""

    def reset(self, task: Task, seed: int) -> Observation:
        """Start an episode of ``task``; the seed fixes everything random in it."""

    def step(self, action_text: str) -> StepResult:
        """Parse and carry out one action text; reward, done and success come with the next observation."""

    def close(self) -> None:
        """Release the environment's resources."""


INVALID_ACTION_MODES = ("terminate", "penalize")


@dataclass
class EpisodeConfig:
    """Episode rules: step limits per task set and what an unparseable action does."""

    max_steps_general: int = 10
    max_steps_webshop: int = 20
    invalid_action: str = "terminate"  # the reference's rule; "penalize" continues with a penalty
    invalid_action_penalty: float = 0.0  # reward given for an unparseable action in "penalize" mode
    # "penalize" mode: the episode times out after this many consecutive unparseable actions (0: never), and
    # the action that times it out is rewarded -invalid_timeout_penalty instead (AFSFT's reward shaping)
    invalid_timeout_after: int = 0
    invalid_timeout_penalty: float = 0.0

    def __post_init__(self) -> None:
        if self.invalid_action not in INVALID_ACTION_MODES:
            raise ConfigError(
                f"env.episode.invalid_action={self.invalid_action!r} is not one of {INVALID_ACTION_MODES}"
            )
        if self.invalid_timeout_after < 0:
            raise ConfigError(f"env.invalid_timeout_after={self.invalid_timeout_after} must be >= 0 (0: never)")

    def max_steps(self, task_set: str) -> int:
        """The horizon of an episode of the given task set."""
        return self.max_steps_webshop if task_set == "webshop" else self.max_steps_general


class PhoneEnv:
    """One phone running AitW-style episodes: text actions in, screenshots and rewards out."""

    def __init__(self, device: Device, judge: Judge, config: EpisodeConfig | None = None) -> None:
        self.device = device
        self.judge = judge
        self.config = config or EpisodeConfig()
        self.task: Task | None = None
        self.steps = 0
        self.done = True
        self._previous_action: str | None = None
        self._invalid_streak = 0  # consecutive unparseable actions (the invalid-action timeout)

    def reset(self, task: Task, seed: int) -> Observation:
        """Start an episode of ``task`` from the home screen."""
        self.device.reset(seed)
        self.judge.reset(task)
        self.task = task
        self.steps = 0
        self.done = False
        self._previous_action = None
        self._invalid_streak = 0
        return self._observe(self.device.screenshot(), None)

    def step(self, action_text: str) -> StepResult:
        """Parse and execute one model utterance, then judge the new screen."""
        if self.task is None or self.done:
            raise RuntimeError("PhoneEnv.step called before reset() or after the episode ended")
        task = self.task
        parsed = parse_action(action_text)
        self.steps += 1
        horizon = self.config.max_steps(task.task_set)
        if not parsed.valid:
            self._invalid_streak += 1
            terminate = self.config.invalid_action == "terminate"
            limit = self.config.invalid_timeout_after
            timed_out = not terminate and limit > 0 and self._invalid_streak >= limit
            reward = 0.0 if terminate else -self.config.invalid_action_penalty
            if timed_out:
                reward = -self.config.invalid_timeout_penalty
            self.done = terminate or timed_out or self.steps >= horizon
            observation = self._observe(self.device.screenshot(), action_text)
            self._previous_action = action_text
            info = {"invalid_reason": parsed.reason, "invalid_timeout": timed_out}
            return StepResult(observation, reward, self.done, False, parsed, info)
        self._invalid_streak = 0
        action = parsed.action
        assert action is not None
        execute_action(self.device, action)
        screenshot = self.device.screenshot()
        success = self.judge.is_success(task, screenshot, action)
        self.done = success or action.ends_episode or self.steps >= horizon
        self._previous_action = action_text
        observation = self._observe(screenshot, action_text)
        info = {"timeout": self.steps >= horizon and not success and not action.ends_episode}
        return StepResult(observation, 1.0 if success else 0.0, self.done, success, parsed, info)

    def _observe(self, screenshot: Image.Image, previous_action: str | None) -> Observation:
        assert self.task is not None
        state = self.device.privileged_state()
        return Observation(self.task.text, screenshot, previous_action, self.steps, state)

    def close(self) -> None:
        """Release the device."""
        self.device.close()
