"""A pool of environments stepped concurrently, which survives crashing, hanging and blank-screen devices.

Each slot owns one environment (a ``PhoneEnv``, or another domain's) and one daemon worker thread that runs
that environment's calls in order;
the main thread waits on each call's future with a deadline (threads cannot be interrupted, and SIGALRM
only works in the main thread). A call that raises, or does not return in time, gets its slot a fresh
worker and a fresh environment from the factory; the old worker is never waited on, closes its
environment if its call ever returns, and dies with the process otherwise. The failed episode ends with
``info["env_failed"] = True``; the other slots go on. Screenshots are checked for blank (one colour) or
too small images and re-taken a few times, as the reference does for blank emulator screens, before the
device counts as failed. (The pool wraps each environment's ``device`` in a ``ScreenshotGuard`` for that.)
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, TypeVar

from PIL import Image

from coso.actions import parse_action
from coso.env.base import Device, DeviceWrapper, Environment, Observation, StepResult
from coso.env.tasks import Task
from coso.errors import ConfigError, DeviceError, DeviceTimeoutError, TooManyRestartsError

logger = logging.getLogger(__name__)

T = TypeVar("T")
EnvFactory = Callable[[int], Environment]


class CorruptedScreenshotError(DeviceError):
    """A device kept returning blank or too small screenshots."""


def screenshot_problem(image: object, window_size: tuple[int, int]) -> str:
    """Why ``image`` is not a usable screenshot of a device with ``window_size``, or "" when it is fine.

    Blank (one-colour) frames and frames smaller than the window in either dimension (truncated or
    downscaled) are corrupted. Larger frames pass: on real phones the window size Appium reports can
    leave out the system bars that the screenshot shows.
    """
    if not isinstance(image, Image.Image):
        return f"not an image but {type(image).__name__}"
    if image.size[0] < window_size[0] or image.size[1] < window_size[1]:
        return f"size {image.size[0]}x{image.size[1]} is smaller than the {window_size[0]}x{window_size[1]} window"
    # A sparse sample is enough to show that a normal screen is not blank; only a uniform-looking sample
    # costs a pass over every pixel.
    width, height = image.size
    probe = image.resize((max(1, width // 8), max(1, height // 8)), Image.Resampling.NEAREST)
    if _uniform_colour(probe) is None:
        return ""
    colour = _uniform_colour(image)
    return "" if colour is None else f"blank (every pixel is {colour})"


def _uniform_colour(image: Image.Image) -> tuple[int, ...] | None:
    """The single colour of an image whose pixels are all equal, else None."""
    extrema = image.getextrema()
    bands = extrema if isinstance(extrema[0], tuple) else (extrema,)
    if all(low == high for low, high in bands):
        return tuple(int(low) for low, _ in bands)
    return None


class ScreenshotGuard(DeviceWrapper):
    """A ``Device`` wrapper that re-takes blank or too small screenshots and fails after ``retries`` more."""

    def __init__(
        self,
        device: Device,
        on_corrupted: Callable[[str], None],
        retries: int = 3,
        retry_delay_s: float = 0.0,
    ) -> None:
        super().__init__(device)
        self.on_corrupted = on_corrupted
        self.retries = retries
        self.retry_delay_s = retry_delay_s
        self._window_size: tuple[int, int] | None = None

    def screenshot(self) -> Image.Image:
        """A checked RGB screenshot; raises CorruptedScreenshotError after ``1 + retries`` bad ones."""
        if self._window_size is None:
            width, height = self.device.window_size()
            self._window_size = (int(width), int(height))
        problem = ""
        for attempt in range(1 + self.retries):
            image = self.device.screenshot()
            problem = screenshot_problem(image, self._window_size)
            if not problem:
                return image if image.mode == "RGB" else image.convert("RGB")
            self.on_corrupted(problem)
            if attempt < self.retries and self.retry_delay_s > 0:
                time.sleep(self.retry_delay_s)
        raise CorruptedScreenshotError(f"{1 + self.retries} screenshots in a row were corrupted; last: {problem}")


@dataclass
class PoolCounters:
    """What the pool has done and survived, for metrics."""

    steps: int = 0  # environment steps that completed
    resets: int = 0  # episode starts that completed
    failures: int = 0  # env calls that raised, hung or saw only corrupted screenshots
    timeouts: int = 0  # of the failures, those that hung past their deadline
    restarts: int = 0  # environments rebuilt from the factory after a failure
    corrupted_screenshots: int = 0  # bad screenshots seen (each retry counts)

    def as_dict(self, prefix: str = "") -> dict[str, int]:
        """The counters as ``{prefix + name: value}``."""
        return {f"{prefix}{name}": value for name, value in asdict(self).items()}


_STOP = object()


class _SlotWorker:
    """One daemon thread that owns one environment and runs its calls one after another."""

    def __init__(self, name: str) -> None:
        self.env: Environment | None = None
        self.build_error: BaseException | None = None
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Queue ``job`` on this worker; its future carries the result or the exception."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((job, future))
        return future

    def _run(self) -> None:
        while True:
            item = self._jobs.get()
            if item is _STOP:
                return
            job, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(job())
            except BaseException as error:  # the main thread decides what a failure means
                future.set_exception(error)

    def require_env(self) -> Environment:
        """The environment this worker built, or the DeviceError saying why it could not."""
        if self.env is None:
            raise DeviceError(f"the environment could not be built: {self.build_error!r}")
        return self.env

    def retire(self) -> None:
        """Close the environment once the current call returns (if ever) and stop; never blocks."""
        self.submit(self._close_env)
        self._jobs.put(_STOP)

    def _close_env(self) -> None:
        env, self.env = self.env, None
        if env is not None:
            try:
                env.close()
            except Exception as error:  # a dying device may fail to close; nothing depends on it
                logger.debug("closing an abandoned environment failed: %r", error)


@dataclass
class _Slot:
    """The main thread's view of one environment slot."""

    index: int
    worker: _SlotWorker
    build_pending: bool = True  # a build job is queued whose success is not yet confirmed
    running: bool = False  # an episode is in progress
    last_observation: Observation | None = None
    consecutive_failures: int = 0
    generation: int = 0  # how many environments this slot has had


class EnvPool:
    """N environments stepped concurrently; failed environments are rebuilt and their episodes end failed.

    ``reset(tasks, seeds)`` starts up to ``num_envs`` episodes (slot i runs ``tasks[i]``); ``step(texts)``
    takes one text per slot, None for slots that should not act, and returns one StepResult per slot
    (None where no text was given). A failed environment is rebuilt in the background (on its slot's new
    worker) while the others go on; more than ``max_restarts`` consecutive failures of one slot (resets
    and steps alike) raise ``TooManyRestartsError``.
    """

    def __init__(
        self,
        env_factory: EnvFactory,
        num_envs: int,
        step_timeout_s: float = 60.0,
        reset_timeout_s: float = 120.0,
        max_restarts: int = 3,
        *,
        build_timeout_s: float = 300.0,
        screenshot_retries: int = 3,
        screenshot_retry_delay_s: float = 0.0,
    ) -> None:
        if num_envs < 1:
            raise ConfigError(f"env.num_envs must be >= 1, got {num_envs}")
        for name, value in (
            ("step_timeout_s", step_timeout_s),
            ("reset_timeout_s", reset_timeout_s),
            ("build_timeout_s", build_timeout_s),
        ):
            if not value > 0:
                raise ConfigError(f"env.{name} must be > 0 seconds, got {value}")
        if max_restarts < 0:
            raise ConfigError(f"env.max_restarts must be >= 0, got {max_restarts}")
        if screenshot_retries < 0:
            raise ConfigError(f"env.screenshot_retries must be >= 0, got {screenshot_retries}")
        self.env_factory = env_factory
        self.num_envs = int(num_envs)
        self.step_timeout_s = float(step_timeout_s)
        self.reset_timeout_s = float(reset_timeout_s)
        self.build_timeout_s = float(build_timeout_s)
        self.max_restarts = int(max_restarts)
        self.screenshot_retries = int(screenshot_retries)
        self.screenshot_retry_delay_s = float(screenshot_retry_delay_s)
        self._counters = PoolCounters()
        self._counter_lock = threading.Lock()
        self._closed = False
        self._slots = [self._new_slot(index) for index in range(self.num_envs)]

    # ---------------------------------------------------------------------------------------- public API

    @property
    def running(self) -> list[bool]:
        """Per slot: whether an episode is in progress."""
        return [slot.running for slot in self._slots]

    def counters(self, prefix: str = "") -> dict[str, int]:
        """A snapshot of the pool's counters (steps, failures, timeouts, restarts, corrupted screenshots)."""
        with self._counter_lock:
            return self._counters.as_dict(prefix)

    def reset(self, tasks: Sequence[Task], seeds: Sequence[int]) -> list[Observation | None]:
        """Start one episode per task (slot i gets ``tasks[i]``); one entry per slot, None where none started.

        None marks slots left without a task and slots whose reset failed (raised, hung or saw only
        corrupted screenshots): such a slot is rebuilt and its episode counts as failed. The reset is not
        retried with the same seed, since a seeded device would fail the same way again.
        """
        self._check_open()
        if len(tasks) > self.num_envs:
            raise ValueError(f"EnvPool.reset: {len(tasks)} tasks for {self.num_envs} environments")
        if len(seeds) != len(tasks):
            raise ValueError(f"EnvPool.reset: {len(seeds)} seeds for {len(tasks)} tasks")
        for slot in self._slots:
            slot.running = False
            slot.last_observation = None
        start = time.monotonic()
        futures = {}
        deadlines = {}
        for index, (task, seed) in enumerate(zip(tasks, seeds)):
            slot = self._slots[index]
            futures[index] = slot.worker.submit(self._reset_job(slot.worker, task, int(seed)))
            deadlines[index] = start + self.reset_timeout_s + (self.build_timeout_s if slot.build_pending else 0.0)
        observations: list[Observation | None] = [None] * self.num_envs
        failures: list[tuple[_Slot, BaseException]] = []
        for index, future in futures.items():
            outcome = self._wait(future, deadlines[index])
            slot = self._slots[index]
            if isinstance(outcome, Observation):
                observations[index] = outcome
                slot.build_pending = False
                slot.running = True
                slot.last_observation = outcome
                slot.consecutive_failures = 0
                self._count(resets=1)
            else:
                failures.append((slot, outcome))
        self._fail_all(failures, during="reset")
        return observations

    def step(self, action_texts: Sequence[str | None]) -> list[StepResult | None]:
        """Send each running slot its text (None: skip the slot); failed slots end with ``env_failed``."""
        self._check_open()
        if len(action_texts) > self.num_envs:
            raise ValueError(f"EnvPool.step: {len(action_texts)} actions for {self.num_envs} environments")
        futures = {}
        for index, text in enumerate(action_texts):
            if text is None:
                continue
            slot = self._slots[index]
            if not slot.running:
                raise ValueError(f"EnvPool.step: environment {index} has no episode running (reset it first)")
            futures[index] = slot.worker.submit(self._step_job(slot.worker, text))
        deadline = time.monotonic() + self.step_timeout_s
        results: list[StepResult | None] = [None] * len(action_texts)
        failures: list[tuple[_Slot, BaseException]] = []
        for index, future in futures.items():
            outcome = self._wait(future, deadline)
            slot = self._slots[index]
            if isinstance(outcome, StepResult):
                results[index] = outcome
                slot.last_observation = outcome.observation
                slot.running = not outcome.done
                slot.consecutive_failures = 0
                self._count(steps=1)
            else:
                text = action_texts[index]
                assert text is not None
                results[index] = self._failed_step(slot, text, outcome)
                slot.running = False
                failures.append((slot, outcome))
        self._fail_all(failures, during="step")
        return results

    def close(self) -> None:
        """Close every environment (waiting at most ``step_timeout_s`` for each) and stop the workers."""
        if self._closed:
            return
        self._closed = True
        closing = [(slot.worker, slot.worker.submit(slot.worker._close_env)) for slot in self._slots]
        deadline = time.monotonic() + self.step_timeout_s
        for worker, future in closing:
            self._wait(future, deadline)
            worker.retire()

    def __enter__(self) -> EnvPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------------------- internals

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("EnvPool is closed")

    def _count(self, **increments: int) -> None:
        with self._counter_lock:
            for name, value in increments.items():
                setattr(self._counters, name, getattr(self._counters, name) + value)

    def _on_corrupted(self, problem: str) -> None:
        logger.debug("corrupted screenshot: %s", problem)
        self._count(corrupted_screenshots=1)

    def _new_slot(self, index: int, generation: int = 0) -> _Slot:
        worker = _SlotWorker(name=f"coso-env-{index}-{generation}")
        worker.submit(self._build_job(worker, index))
        return _Slot(index=index, worker=worker, generation=generation)

    def _build_job(self, worker: _SlotWorker, index: int) -> Callable[[], None]:
        def build() -> None:
            try:
                env = self.env_factory(index)
                if hasattr(env, "device"):  # a phone: guard its device's screenshots
                    env.device = ScreenshotGuard(
                        env.device, self._on_corrupted, self.screenshot_retries, self.screenshot_retry_delay_s
                    )
                worker.env = env
            except BaseException as error:
                worker.build_error = error
                raise

        return build

    @staticmethod
    def _reset_job(worker: _SlotWorker, task: Task, seed: int) -> Callable[[], Observation]:
        return lambda: worker.require_env().reset(task, seed)

    @staticmethod
    def _step_job(worker: _SlotWorker, text: str) -> Callable[[], StepResult]:
        return lambda: worker.require_env().step(text)

    @staticmethod
    def _wait(future: concurrent.futures.Future[T], deadline: float) -> T | BaseException:
        """The future's result, its exception, or a DeviceTimeoutError once ``deadline`` has passed."""
        done, _ = concurrent.futures.wait([future], timeout=max(0.0, deadline - time.monotonic()))
        if not done:
            return DeviceTimeoutError("the environment did not answer before its deadline")
        error = future.exception()
        return error if error is not None else future.result()

    def _failed_step(self, slot: _Slot, text: str, error: BaseException) -> StepResult:
        """The StepResult that ends an episode whose environment failed: the last screen, reward 0, done."""
        last = slot.last_observation
        assert last is not None
        observation = replace(last, previous_action=text, step=last.step + 1, state=None, image_features=None)
        info = {"env_failed": True, "env_timeout": isinstance(error, DeviceTimeoutError), "error": repr(error)}
        return StepResult(observation, 0.0, True, False, parse_action(text), info)

    def _fail_all(self, failures: Sequence[tuple[_Slot, BaseException]], during: str) -> None:
        """Handle every failed slot, then raise the first TooManyRestartsError if any slot ran out of restarts."""
        exhausted: TooManyRestartsError | None = None
        for slot, error in failures:
            try:
                self._fail(slot, error, during)
            except TooManyRestartsError as too_many:
                exhausted = exhausted or too_many
        if exhausted is not None:
            raise exhausted

    def _fail(self, slot: _Slot, error: BaseException, during: str) -> None:
        """Count a failure, abandon the slot's worker, and rebuild it, unless it failed too often in a row."""
        timed_out = isinstance(error, DeviceTimeoutError)
        self._count(failures=1, timeouts=int(timed_out))
        slot.consecutive_failures += 1
        logger.warning(
            "environment %d failed during %s (%d in a row): %r", slot.index, during, slot.consecutive_failures, error
        )
        failures_in_a_row = slot.consecutive_failures
        slot.worker.retire()
        if failures_in_a_row > self.max_restarts:
            # Leave an empty worker behind (no environment), so close() still finishes at once.
            self._slots[slot.index] = _Slot(
                slot.index, _SlotWorker(name=f"coso-env-{slot.index}-dead"), build_pending=False,
                consecutive_failures=failures_in_a_row, generation=slot.generation + 1,
            )
            raise TooManyRestartsError(
                f"environment {slot.index} failed {failures_in_a_row} times in a row (env.max_restarts="
                f"{self.max_restarts}); last error during {during}: {error!r}"
            ) from (error if isinstance(error, Exception) else None)
        fresh = self._new_slot(slot.index, slot.generation + 1)
        fresh.consecutive_failures = failures_in_a_row
        self._slots[slot.index] = fresh
        self._count(restarts=1)
