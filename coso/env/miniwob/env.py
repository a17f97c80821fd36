"""MiniWoB++ as a coso environment: one ``miniwob`` gymnasium environment (a real headless Chromium driven by
Selenium) per pool slot.

``MiniWoBEnv.reset(task, seed)`` starts an episode of the task with ``Math.seedrandom(seed)`` (MiniWoB++'s own
seeding), ``step(text)`` parses ``click(x, y)`` / ``type("text")`` (``grammar``) and performs it through
MiniWoB++'s coordinate click and typing actions. The observation is the task's screenshot (160 x 210) with the
utterance in the prompt; ``Observation.state`` is a ``PageState`` (utterance, fields, the DOM elements with their
positions) for the scripted expert. Success is MiniWoB++'s raw reward > 0 when the page ends the episode; the
training reward is that success indicator (``env.miniwob.reward=success``, as DigiRL's critics read rewards) or
the benchmark's reward (``benchmark``: MiniWoB++'s time-discounted reward, -1 for a failure). ``info`` holds the
benchmark's reward, raw reward and reason either way. A text that names no action performs nothing and follows
``env.invalid_action`` (``penalize``: the step counts, reward ``-env.invalid_action_penalty``, and after
``env.invalid_timeout_after`` in a row the episode times out; ``terminate``: the episode ends). The episode also
ends after ``env.miniwob.max_steps`` steps, and when the task's own clock runs out (10 s for most tasks;
``env.miniwob.time_limit_s`` replaces it).

Any failure of the browser or its driver (a crashed Chromium, a dead ChromeDriver, a page that does not load)
is raised as ``BrowserError``, a ``DeviceError``: the environment pool rebuilds the slot and counts it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
from PIL import Image

from coso.env.base import Observation, StepResult
from coso.env.miniwob.grammar import SCREEN_HEIGHT, SCREEN_WIDTH, WebAction, WebGrammar
from coso.env.tasks import Goal, Task
from coso.errors import ConfigError, DeviceError

logger = logging.getLogger(__name__)
T = TypeVar("T")

# MiniWoB++'s click-* tasks as the installed miniwob 1.1.0 registers them, without the "-nodelay" copies of
# click-collapsible, click-collapsible-2 and click-pie (the same tasks without their animation delay): 28 tasks
MINIWOB_CLICK_TASKS = (
    "click-button", "click-button-sequence", "click-checkboxes", "click-checkboxes-large",
    "click-checkboxes-soft", "click-checkboxes-transfer", "click-collapsible", "click-collapsible-2",
    "click-color", "click-dialog", "click-dialog-2", "click-link", "click-menu", "click-menu-2", "click-option",
    "click-pie", "click-scroll-list", "click-shades", "click-shape", "click-tab", "click-tab-2", "click-tab-2-easy",
    "click-tab-2-hard", "click-tab-2-medium", "click-test", "click-test-2", "click-test-transfer", "click-widget",
)
REWARD_MODES = ("success", "benchmark")
INSTALL_HINT = ("install the browser and the package: apt-get install -y chromium chromium-driver && "
                "pip install -e '.[miniwob]'")
_BROWSER_PATHS = {"chrome_binary": ("chromium", "chromium-browser", "google-chrome"),
                  "chromedriver": ("chromedriver",)}


class BrowserError(DeviceError):
    """The headless Chromium of a MiniWoB++ environment (or its ChromeDriver) failed: the pool restarts it."""


@dataclass(frozen=True)
class MiniWoBGoal(Goal):
    """Do one episode of a MiniWoB++ task (the utterance and page come from the episode seed)."""

    kind: ClassVar[str] = "miniwob"
    task: str


@dataclass(frozen=True)
class Element:
    """One DOM element of the page, positioned in screenshot pixels (MiniWoB++'s ``dom_elements``)."""

    ref: int
    parent: int
    tag: str
    text: str
    value: str
    id: str
    classes: str
    left: float
    top: float
    width: float
    height: float
    focused: bool
    tampered: bool  # clicked, focused or typed into during this episode
    is_leaf: bool
    bg_color: tuple[float, float, float, float]  # RGBA in [0, 1]
    fill: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # an SVG shape's or text's fill, RGBA in [0, 1]

    @property
    def center(self) -> tuple[float, float]:
        """The element's centre."""
        return self.left + self.width / 2, self.top + self.height / 2


@dataclass(frozen=True)
class PageState:
    """What the scripted expert reads: the task, its utterance, MiniWoB++'s fields and the DOM elements."""

    task: str
    utterance: str
    fields: tuple[tuple[str, str], ...]
    elements: tuple[Element, ...]
    step: int = 0
    query_classes: tuple[str, ...] = ()  # the class attributes of what the query shows besides text (an icon)


def miniwob_task(name: str) -> Task:
    """The task of one MiniWoB++ page; the seed of each episode draws its utterance and layout."""
    return Task(f"MiniWoB++ {name}", MiniWoBGoal(name), "miniwob")


def miniwob_prompt(utterance: str, previous: str | None) -> str:
    """The policy's prompt: the utterance and the previous action (the page itself is the screenshot)."""
    return f"Goal: {utterance} Previous action: {previous or 'None'}</s>"


# What miniwob's dom_elements leave out and the expert needs, read from the page after each observation: the
# computed fill of every SVG element (click-shape draws its shapes and letters in colours of their fill) and the
# class attributes of the query's own elements (click-menu-2 shows an icon in the query, a span of ui-icon classes)
_EXTRAS_JS = """
var fills = {}, query = [];
document.querySelectorAll('svg [data-wob_ref]').forEach(function (e) {
  fills[e.dataset.wob_ref] = window.getComputedStyle(e).fill;
});
var box = document.getElementById('query');
if (box) box.querySelectorAll('[class]').forEach(function (e) { query.push(e.getAttribute('class')); });
return {fills: fills, query: query, svg: !!document.querySelector('svg'), jquery: !!window.jQuery};
"""
# True while jQuery animates an element (an accordion section sliding open): a page still moving after an action
# is read again when it stops. Only jQuery's animations: click-pie's wheel (Raphael) is left as it is, since its
# initially selected item answers a click only while the wheel is still spreading (at rest, the hover that comes
# before the click redraws it and the click goes astray)
_ANIMATING_JS = "return !!(window.jQuery && window.jQuery(':animated').length);"
SETTLE_MAX_S = 1.0  # the longest env.step waits for a page's animation to end after an action
SETTLE_POLL_S = 0.04


class _EndedPageNoOp(logging.Filter):
    """Drops miniwob's warning that its no-op action was refused on a page that had just ended: each step reads the
    page with that no-op after performing the action, so the warning would come once per finished episode."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.module == "selenium_instance" and str(record.msg).startswith("Cannot call")
                    and isinstance(record.args, tuple) and "'action_type': 0}" in str(record.args[:1]))


logging.getLogger().addFilter(_EndedPageNoOp())  # miniwob warns through the root logger


def css_rgba(text: str) -> tuple[float, float, float, float]:
    """An ``rgb(r, g, b)`` / ``rgba(r, g, b, a)`` CSS colour as RGBA in [0, 1]; transparent for anything else."""
    found = re.fullmatch(r"\s*rgba?\(([^)]*)\)\s*", text or "")
    try:
        parts = [float(part) for part in found.group(1).replace("/", ",").replace(" ", ",").split(",") if part] \
            if found else []
    except ValueError:
        parts = []
    if len(parts) not in (3, 4):
        return 0.0, 0.0, 0.0, 0.0
    alpha = parts[3] if len(parts) == 4 else 1.0
    return parts[0] / 255.0, parts[1] / 255.0, parts[2] / 255.0, alpha


def _page_state(task: str, observation: dict[str, Any], step: int) -> PageState:
    extras = observation.get("coso_extras") or {}
    fills = {int(ref): css_rgba(str(fill)) for ref, fill in (extras.get("fills") or {}).items()}
    elements = tuple(
        Element(
            ref=int(raw["ref"]), parent=int(raw["parent"]), tag=str(raw["tag"]), text=str(raw["text"]),
            value=str(raw["value"]), id=str(raw["id"]), classes=str(raw["classes"]),
            left=float(np.asarray(raw["left"]).reshape(-1)[0]), top=float(np.asarray(raw["top"]).reshape(-1)[0]),
            width=float(np.asarray(raw["width"]).reshape(-1)[0]),
            height=float(np.asarray(raw["height"]).reshape(-1)[0]),
            focused=bool(raw["flags"][0]), tampered=bool(raw["flags"][1]), is_leaf=bool(raw["flags"][3]),
            bg_color=tuple(float(channel) for channel in np.asarray(raw["bg_color"]).reshape(-1)[:4]),  # type: ignore[arg-type]
            fill=fills.get(int(raw["ref"]), (0.0, 0.0, 0.0, 0.0)),
        )
        for raw in observation.get("dom_elements", ())
    )
    fields = tuple((str(key), str(value)) for key, value in observation.get("fields", ()))
    query_classes = tuple(str(classes) for classes in extras.get("query") or ())
    return PageState(task, str(observation.get("utterance", "")), fields, elements, step, query_classes)


def find_browser(chrome_binary: str = "", chromedriver: str = "") -> tuple[str, str]:
    """The Chromium binary and the ChromeDriver to use: the configured paths, else the first found on PATH."""
    found = {}
    for name, configured in (("chrome_binary", chrome_binary), ("chromedriver", chromedriver)):
        path = configured or next((hit for hit in map(shutil.which, _BROWSER_PATHS[name]) if hit), "")
        if not path or not Path(path).exists():
            what = f"env.miniwob.{name}={configured}" if configured else f"no {' / '.join(_BROWSER_PATHS[name])}"
            raise ConfigError(f"{what}: MiniWoB++ needs a Chromium and its ChromeDriver; {INSTALL_HINT}")
        found[name] = path
    return found["chrome_binary"], found["chromedriver"]


class BrowserSession:
    """One ``miniwob`` gymnasium environment with coordinate clicks and typing; every failure a BrowserError."""

    def __init__(self, task: str, chrome_binary: str = "", chromedriver: str = "") -> None:
        binary, driver = find_browser(chrome_binary, chromedriver)
        # miniwob reads these two when it starts ChromeDriver (miniwob.selenium_instance.create_driver); set
        # together they keep Selenium from looking for (or downloading) another browser
        os.environ["MINIWOB_CHROME_BINARY"] = binary
        os.environ["MINIWOB_CHROMEDRIVER"] = driver
        try:
            import gymnasium
            import miniwob  # noqa: F401  (registers the miniwob/ environments with gymnasium)
            from miniwob.action import ActionSpaceConfig, ActionTypes
        except ImportError as error:
            raise ConfigError(f"env.domain=miniwob needs the miniwob package ({error}); {INSTALL_HINT}") from error
        self.task = task
        self.action_types = (ActionTypes.NONE, ActionTypes.CLICK_COORDS, ActionTypes.TYPE_TEXT)
        config = ActionSpaceConfig(action_types=list(self.action_types))
        self.env: Any = None
        self.env = self._call("starting the browser", lambda: gymnasium.make(
            f"miniwob/{task}-v1", render_mode=None, action_space_config=config))
        self.started: set[int] = set()  # the processes it started (killed on close if they outlive the driver)
        self._extras: dict[str, Any] = {}  # what _EXTRAS_JS read when the episode started
        self._note_processes()

    def _note_processes(self) -> None:
        try:
            self.started.update(self.process_ids())
        except Exception as error:  # a dead driver: the processes noted before still count
            logger.debug("reading MiniWoB++ %s's processes failed: %r", self.task, error)

    def _call(self, what: str, call: Callable[[], T]) -> T:
        """Run one browser call; any failure becomes a BrowserError naming the task and the call."""
        try:
            return call()
        except ConfigError:
            raise
        except Exception as error:
            first_line = next(iter(str(error).strip().splitlines()), "")[:200]
            raise BrowserError(f"MiniWoB++ {self.task}: the browser failed while {what}: "
                               f"{type(error).__name__}: {first_line} (the environment pool restarts it)") from error

    @property
    def driver(self) -> Any:
        """The Selenium WebDriver miniwob started (its instance's ``driver``)."""
        return self.env.unwrapped.instance.driver

    def set_time_limit(self, seconds: float) -> None:
        """Replace the task's episode clock (``core.EPISODE_MAX_TIME``) for the episodes that start after this."""
        milliseconds = int(seconds * 1000)
        self._call("setting the episode clock",
                   lambda: self.driver.execute_script(f"core.EPISODE_MAX_TIME = {milliseconds};"))

    def reset(self, seed: int) -> dict[str, Any]:
        """A new episode seeded with ``seed``: miniwob's observation."""
        observation, _ = self._call("starting an episode", lambda: self.env.reset(seed=int(seed)))
        self._note_processes()
        observation = self._with_extras(observation)
        # what the page holds decides what each step reads (a round trip to a loaded browser is not free): the
        # fills again only where there is an SVG, the animations only where there is jQuery
        self._extras = observation["coso_extras"]
        return observation

    def step(self, action: WebAction | None) -> tuple[dict[str, Any], float, bool, dict[str, Any]]:
        """Perform an action (None: nothing, only read the page): observation, reward, done, info. The action is
        performed first (miniwob's own coordinate click and typing; Selenium's for ``ctrl_click``), then a page
        that still animates (jQuery's ``:animated``) is given up to ``SETTLE_MAX_S`` to come to rest, then the
        page is read once, so the observation shows where things stopped."""
        if action is not None:
            command: dict[str, Any] = {"action_type": 0}
            if action.verb == "click":
                command = {"action_type": 1, "coords": np.array([action.x, action.y], dtype=np.float32)}
            elif action.verb == "type":
                command = {"action_type": 2, "text": action.text}
            if action.verb == "ctrl_click":
                self._call("performing ctrl_click", lambda: self._ctrl_click(action.x, action.y))
            else:
                environment = self.env.unwrapped
                self._call(f"performing {action.verb}",
                           lambda: environment.instance.perform(command, environment.action_space_config))
            if self._extras.get("jquery", True):
                self._settle()
        observation, reward, terminated, truncated, info = self._call(
            "reading the page", lambda: self.env.step({"action_type": 0}))
        done = bool(terminated or truncated)
        if done:
            return observation, float(reward), done, info
        if self._extras.get("svg", True):
            return self._with_extras(observation), float(reward), done, info
        return {**observation, "coso_extras": self._extras}, float(reward), done, info

    def _ctrl_click(self, x: float, y: float) -> None:
        """A click at (x, y) with the Control key held (miniwob has no such action: Selenium's own actions)."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        if self.driver.execute_script("return WOB_DONE_GLOBAL;"):
            return  # the page already ended the episode: nothing to click (as miniwob's own actions do)
        chain = ActionChains(self.driver, duration=0)
        chain.key_down(Keys.CONTROL)
        chain.w3c_actions.pointer_action.move_to_location(int(x), int(y))
        chain.w3c_actions.key_action.pause(0)
        chain.click()
        chain.key_up(Keys.CONTROL)
        chain.perform()

    def _settle(self) -> None:
        """Wait (at most ``SETTLE_MAX_S``) while jQuery animates the page."""
        deadline = time.monotonic() + SETTLE_MAX_S
        while (time.monotonic() < deadline and self._call(
                "reading the page's animations", lambda: bool(self.driver.execute_script(_ANIMATING_JS)))):
            time.sleep(SETTLE_POLL_S)

    def _with_extras(self, observation: dict[str, Any]) -> dict[str, Any]:
        """The observation with what miniwob's DOM reading leaves out (``_EXTRAS_JS``) under ``coso_extras``."""
        extras = self._call("reading the page's extras", lambda: self.driver.execute_script(_EXTRAS_JS))
        return {**observation, "coso_extras": extras if isinstance(extras, dict) else {}}

    def process_ids(self) -> list[int]:
        """ChromeDriver's process id and those of every process under it (the browser and its helpers)."""
        root = int(self.driver.service.process.pid)
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        found, queue = [], [root]
        while queue:
            pid = queue.pop()
            found.append(pid)
            queue.extend(children.get(pid, []))
        return found

    def close(self) -> None:
        """Quit the browser and its driver; a browser that already died is not an error here, and whatever of
        it outlives a dead driver (ChromeDriver killed before Chromium) is killed by process id."""
        if self.env is None:
            return
        self._note_processes()
        env, self.env = self.env, None
        try:
            env.close()
        except Exception as error:
            logger.debug("closing MiniWoB++ %s failed: %r", self.task, error)
        for pid in sorted(self.started):
            _kill_if_browser(pid)


def _kill_if_browser(pid: int) -> None:
    """SIGKILL a still-running Chromium or ChromeDriver process this environment started."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] != "Z" and Path(f"/proc/{pid}/comm").read_text().startswith("chrom"):
            os.kill(pid, signal.SIGKILL)
    except (OSError, IndexError):
        pass  # gone already


class MiniWoBEnv:
    """One MiniWoB++ task in a headless Chromium, driven by action texts; the task's screenshot is the screen."""

    def __init__(self, task: str, *, reward: str = "success", max_steps: int = 10, time_limit_s: float = 0.0,
                 invalid_action: str = "penalize", invalid_action_penalty: float = 0.0,
                 invalid_timeout_after: int = 0, invalid_timeout_penalty: float = 0.0,
                 chrome_binary: str = "", chromedriver: str = "") -> None:
        if reward not in REWARD_MODES:
            raise ConfigError(f"env.miniwob.reward={reward!r} is not one of {REWARD_MODES}")
        self.name = task
        self.grammar = WebGrammar()
        self.reward_mode = reward
        self.max_steps = int(max_steps)
        self.time_limit_s = float(time_limit_s)
        self.invalid_action = str(invalid_action)
        self.invalid_action_penalty = float(invalid_action_penalty)
        self.invalid_timeout_after = int(invalid_timeout_after)
        self.invalid_timeout_penalty = float(invalid_timeout_penalty)
        self.session = BrowserSession(task, chrome_binary, chromedriver)
        self.task: Task | None = None
        self.steps = 0
        self.done = True
        self._previous: str | None = None
        self._invalid_streak = 0
        self._screenshot = Image.new("RGB", (SCREEN_WIDTH, SCREEN_HEIGHT), "white")
        self._state: PageState | None = None

    def reset(self, task: Task, seed: int) -> Observation:
        """Start an episode of the task from ``seed``."""
        goal = task.goal
        if not isinstance(goal, MiniWoBGoal) or goal.task != self.name:
            raise ConfigError(f"task {task.text!r} is not the MiniWoB++ task {self.name} (env.miniwob.task)")
        if self.time_limit_s > 0:
            self.session.set_time_limit(self.time_limit_s)
        observation = self.session.reset(seed)
        self.task = task
        self.steps = 0
        self.done = False
        self._previous = None
        self._invalid_streak = 0
        self._read(observation)
        return self._observe()

    def step(self, action_text: str) -> StepResult:
        """Parse one action text, perform it in the browser, and score the page."""
        if self.task is None or self.done:
            raise RuntimeError("MiniWoBEnv.step called before reset() or after the episode ended")
        action = self.grammar.parse(action_text)
        self.steps += 1
        observation, benchmark_reward, page_done, info = self.session.step(action if action.valid else None)
        raw_reward = float(info.get("raw_reward", 0.0) or 0.0)
        success = page_done and raw_reward > 0
        invalid_timeout = False
        if action.valid:
            self._invalid_streak = 0
            penalty = 0.0
        else:
            self._invalid_streak += 1
            limit = self.invalid_timeout_after
            invalid_timeout = self.invalid_action == "penalize" and limit > 0 and self._invalid_streak >= limit
            penalty = self.invalid_timeout_penalty if invalid_timeout else self.invalid_action_penalty
            if self.invalid_action == "terminate":
                penalty = 0.0
        timeout = not page_done and self.steps >= self.max_steps
        self.done = page_done or timeout or invalid_timeout or (not action.valid and self.invalid_action == "terminate")
        if self.reward_mode == "benchmark":
            reward = (benchmark_reward if page_done else 0.0) - penalty
        else:
            reward = (1.0 if success else 0.0) - penalty
        if not page_done:
            self._read(observation)  # a finished page gives an empty frame: keep the last screen
        self._previous = action_text
        details = {"benchmark_reward": benchmark_reward if page_done else 0.0, "raw_reward": raw_reward,
                   "page_done": page_done, "timeout": timeout, "invalid_timeout": invalid_timeout,
                   "outcome": str(info.get("reason") or "")}
        if not action.valid:
            details["invalid_reason"] = action.reason
        return StepResult(self._observe(), reward, self.done, success, action, details)

    def _read(self, observation: dict[str, Any]) -> None:
        screenshot = np.asarray(observation["screenshot"], dtype=np.uint8)
        self._screenshot = Image.fromarray(screenshot, "RGB")
        self._state = _page_state(self.name, observation, self.steps)

    def _observe(self) -> Observation:
        assert self.task is not None and self._state is not None
        state = replace(self._state, step=self.steps)
        return Observation(state.utterance, self._screenshot.copy(), self._previous, self.steps, state,
                           text_prompt=miniwob_prompt(state.utterance, self._previous))

    def close(self) -> None:
        """Quit the browser."""
        self.session.close()
