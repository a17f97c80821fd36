"""CogAgent as a remote, evaluation-only agent: screenshots go to an HTTP endpoint, its grounded operations come back.

The endpoint (a CogAgent server you run, e.g. next to the GPU) receives ``POST <url>`` with JSON
``{"image": <base64 PNG>, "task": <text>, "previous_action": <text or null>, "step": <int>}`` and answers
JSON ``{"response": <model text>}`` (a plain-text body is accepted too). The model text must contain a
line ``Grounded Operation: <operation>``; the last such line counts. Coordinates are thousandths of the
screen (0-1000), x first. Operations (case-insensitive):

=============================================  ===============================================
``tap [[x,y]]``                                 tap at the point
``tap [[x1,y1,x2,y2]]``                         tap the box centre
``swipe [[x1,y1]] to [[x2,y2]]``                swipe (also ``swipe [[x1,y1],[x2,y2]]``)
``scroll up|down|left|right``                   swipe across the middle of the screen; "down" shows
                                                what is below (the finger moves up)
``type "text"``                                 type (also ``type [text]``, ``type: text``)
``press back`` / ``press home`` / ``press enter``  keys (``back``, ``home``, ``enter`` alone also work)
``complete``                                    task complete (also ``task complete``, ``done``)
``impossible``                                  task impossible (also ``task impossible``)
=============================================  ===============================================

Each reply becomes AutoUI text through ``coso.actions.format_action``, so the agent plugs into the
rollout like any other. A malformed reply becomes an invalid action text (the episode ends as the
reference does), counted and logged, never an exception; transport failures are retried with backoff, and
only a run of ``max_consecutive_failures`` failed requests stops the evaluation with a clear error.
"""

from __future__ import annotations

import base64
import concurrent.futures
import io
import json
import logging
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PIL import Image

from coso.actions import Action, ActionType, format_action
from coso.config_mapping import dataclass_from_mapping
from coso.errors import ConfigError, UserInputError
from coso.retry import Backoff

if TYPE_CHECKING:
    from coso.env.base import Observation
    from coso.env.tasks import Task

logger = logging.getLogger(__name__)

COORDINATE_SCALE = 1000.0
INVALID_PREFIX = "Invalid CogAgent reply"
SCROLL_SWIPES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "down": ((0.5, 0.75), (0.5, 0.25)),
    "up": ((0.5, 0.25), (0.5, 0.75)),
    "right": ((0.75, 0.5), (0.25, 0.5)),
    "left": ((0.25, 0.5), (0.75, 0.5)),
}


@dataclass
class CogAgentConfig:
    """The endpoint and its limits (``agent.cogagent``)."""

    url: str = "http://127.0.0.1:7860/act"
    timeout_s: float = 120.0
    max_retries: int = 2  # retries of a failed request
    backoff_base_s: float = 1.0
    backoff_max_s: float = 10.0
    max_consecutive_failures: int = 5  # requests in a row that fail every retry before evaluation stops
    max_parallel_requests: int = 4
    image_max_side: int = 1120  # screenshots are shrunk to this before sending

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"agent.cogagent.url={self.url!r} must be an http:// or https:// URL")
        if self.timeout_s <= 0 or self.max_retries < 0 or self.max_consecutive_failures < 1:
            raise ConfigError("agent.cogagent: timeout_s must be positive, max_retries >= 0, "
                              "max_consecutive_failures >= 1")
        if self.max_parallel_requests < 1 or self.image_max_side < 32:
            raise ConfigError("agent.cogagent: max_parallel_requests must be >= 1 and image_max_side >= 32")
        Backoff(self.backoff_base_s, 2.0, self.backoff_max_s)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> CogAgentConfig:
        """Build from a config mapping; an unknown key is a ConfigError naming it."""
        return dataclass_from_mapping(cls, values, "agent.cogagent")


# ---------------------------------------------------------------------------------------------- grammar


@dataclass(frozen=True)
class GroundedParse:
    """The action a reply asks for, or ``action=None`` with the reason."""

    action: Action | None
    reason: str = ""


_OPERATION_RE = re.compile(r"grounded\s+operation\s*:\s*(.+)", re.IGNORECASE)
_INNER_BRACKETS_RE = re.compile(r"\[([^\[\]]*)\]")
_TYPE_RE = re.compile(r"^type\s*[:\-]?\s*(.*)$", re.IGNORECASE | re.DOTALL)


def _numbers(body: str) -> list[float] | str:
    try:
        values = [float(v) for v in body.replace(" ", "").split(",") if v != ""]
    except ValueError:
        return f"coordinates are not numbers: [{body}]"
    if any(not 0.0 <= v <= COORDINATE_SCALE for v in values):
        return f"coordinates outside 0-1000: [{body}]"
    return values


def _point(values: Sequence[float]) -> tuple[float, float]:
    return (values[0] / COORDINATE_SCALE, values[1] / COORDINATE_SCALE)


def _coordinates(argument: str) -> list[float] | str:
    """All numbers inside the innermost brackets: ``[[x,y]]``, ``[[x1,y1,x2,y2]]``, ``[[x1,y1]] to [[x2,y2]]``."""
    groups = _INNER_BRACKETS_RE.findall(argument)
    if not groups:
        return "no [[x,y]] coordinates"
    values: list[float] = []
    for body in groups:
        numbers = _numbers(body)
        if isinstance(numbers, str):
            return numbers
        values.extend(numbers)
    return values


def _parse_tap(argument: str) -> GroundedParse:
    values = _coordinates(argument)
    if isinstance(values, str):
        return GroundedParse(None, f"tap: {values}")
    if len(values) == 2:
        return GroundedParse(Action.tap(*_point(values)))
    if len(values) == 4:  # a box: tap its centre
        x1, y1, x2, y2 = values
        return GroundedParse(Action.tap(*_point(((x1 + x2) / 2, (y1 + y2) / 2))))
    return GroundedParse(None, f"tap needs 2 or 4 coordinates, got {len(values)}")


def _parse_swipe(argument: str) -> GroundedParse:
    values = _coordinates(argument)
    if isinstance(values, str):
        return GroundedParse(None, f"swipe: {values}")
    if len(values) != 4:
        return GroundedParse(None, f"swipe needs a start and an end point (4 coordinates), got {len(values)}")
    return GroundedParse(Action.swipe(_point(values[:2]), _point(values[2:])))


def _parse_scroll(argument: str) -> GroundedParse:
    direction = argument.strip().strip("[]").strip().lower()
    if direction not in SCROLL_SWIPES:
        return GroundedParse(None, f"scroll direction {direction!r} is not one of {sorted(SCROLL_SWIPES)}")
    start, end = SCROLL_SWIPES[direction]
    return GroundedParse(Action.swipe(start, end))


def _parse_type(operation: str) -> GroundedParse:
    match = _TYPE_RE.match(operation)
    text = match.group(1).strip() if match else ""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    elif text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if not text:
        return GroundedParse(None, "type without text")
    return GroundedParse(Action.type_text(text))


_KEYWORD_ACTIONS: dict[str, ActionType] = {
    "back": ActionType.GoBack, "press back": ActionType.GoBack,
    "home": ActionType.GoHome, "press home": ActionType.GoHome,
    "enter": ActionType.Enter, "press enter": ActionType.Enter,
    "complete": ActionType.TaskComplete, "task complete": ActionType.TaskComplete, "done": ActionType.TaskComplete,
    "impossible": ActionType.TaskImpossible, "task impossible": ActionType.TaskImpossible,
}

_VERB_PARSERS: dict[str, Callable[[str], GroundedParse]] = {
    "tap": _parse_tap, "click": _parse_tap, "swipe": _parse_swipe, "scroll": _parse_scroll,
}


def parse_grounded_operation(reply: str) -> GroundedParse:
    """Read the last "Grounded Operation:" line of a CogAgent reply; never raises."""
    if not isinstance(reply, str):
        return GroundedParse(None, f"the reply is {type(reply).__name__}, not text")
    lines = _OPERATION_RE.findall(reply)
    if not lines:
        return GroundedParse(None, "no 'Grounded Operation:' line")
    operation = lines[-1].strip().rstrip(".").strip()
    lowered = operation.lower()
    keyword = re.sub(r"[\s_]+", " ", lowered.strip("[]")).strip()
    if keyword in _KEYWORD_ACTIONS:
        return GroundedParse(Action(_KEYWORD_ACTIONS[keyword]))
    if lowered.startswith("type"):
        return _parse_type(operation)
    verb, _, argument = lowered.partition(" ")
    parser = _VERB_PARSERS.get(verb.strip(":"))
    if parser is None:
        return GroundedParse(None, f"unknown operation {operation[:60]!r}")
    try:
        return parser(operation[len(verb):])
    except (ValueError, IndexError) as error:
        return GroundedParse(None, f"could not read {operation[:60]!r}: {error}")


def invalid_action_text(reason: str) -> str:
    """Text the AutoUI parser rejects (no "Action Decision:"), saying why the reply was unusable."""
    return f"{INVALID_PREFIX}: {reason.replace('Action Decision', 'action decision')}"


def reply_to_action_text(reply: str) -> str:
    """A CogAgent reply as AutoUI action text, or an invalid action text."""
    parsed = parse_grounded_operation(reply)
    if parsed.action is None:
        return invalid_action_text(parsed.reason)
    return format_action(parsed.action)


# ---------------------------------------------------------------------------------------------- agent


@dataclass
class CogAgentStats:
    """Requests sent, failed, and replies that could not be parsed."""

    requests: int = 0
    request_errors: int = 0
    failed_observations: int = 0  # observations whose every retry failed
    malformed_replies: int = 0


def encode_png(image: Image.Image, max_side: int) -> str:
    """Base64 PNG of ``image`` shrunk so its longer side is at most ``max_side``."""
    image = image.convert("RGB")
    scale = max_side / max(image.size)
    if scale < 1.0:
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class CogAgent:
    """An evaluation-only ``Agent`` whose actions come from a CogAgent HTTP endpoint."""

    def __init__(self, config: CogAgentConfig | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config or CogAgentConfig()
        self.backoff = Backoff(self.config.backoff_base_s, 2.0, self.config.backoff_max_s)
        self.sleep = sleep
        self.stats = CogAgentStats()
        self._consecutive_failures = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"CogAgent(url={self.config.url!r})"

    def act(self, observations: Sequence[Observation], tasks: Sequence[Task] | None = None) -> list[str]:
        """One AutoUI action text per observation (invalid text for unusable replies)."""
        task_texts = [t.text for t in tasks] if tasks is not None else [o.task for o in observations]
        if len(task_texts) != len(observations):
            raise ValueError(f"CogAgent.act: {len(observations)} observations but {len(task_texts)} tasks")
        workers = min(self.config.max_parallel_requests, max(1, len(observations)))
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cogagent") as pool:
            texts = list(pool.map(self._act_one, observations, task_texts))
        if self._consecutive_failures >= self.config.max_consecutive_failures:
            raise UserInputError(
                f"the CogAgent endpoint {self.config.url} failed {self._consecutive_failures} requests in a row "
                "(after retries); check that the server runs and agent.cogagent.url is right"
            )
        return texts

    def _act_one(self, observation: Observation, task_text: str) -> str:
        payload = {
            "image": encode_png(observation.screenshot, self.config.image_max_side),
            "task": task_text,
            "previous_action": observation.previous_action,
            "step": observation.step,
        }
        reply = self._request(payload)
        if reply is None:
            return invalid_action_text("the endpoint did not answer")
        parsed = parse_grounded_operation(reply)
        if parsed.action is None:
            with self._lock:
                self.stats.malformed_replies += 1
            logger.warning("CogAgent reply not understood (%s); the action is invalid", parsed.reason)
            return invalid_action_text(parsed.reason)
        return format_action(parsed.action)

    def _request(self, payload: dict[str, Any]) -> str | None:
        body = json.dumps(payload).encode("utf-8")
        attempts = self.config.max_retries + 1
        for attempt in range(attempts):
            with self._lock:
                self.stats.requests += 1
            try:
                reply = self._post(body)
            except (OSError, ValueError, urllib.error.URLError) as error:
                with self._lock:
                    self.stats.request_errors += 1
                logger.warning("CogAgent request to %s failed (attempt %d of %d): %s: %s",
                               self.config.url, attempt + 1, attempts, type(error).__name__, error)
                if attempt + 1 < attempts:
                    self.sleep(self.backoff.delay(attempt))
                continue
            with self._lock:
                self._consecutive_failures = 0
            return reply
        with self._lock:
            self.stats.failed_observations += 1
            self._consecutive_failures += 1
        return None

    def _post(self, body: bytes) -> str:
        request = urllib.request.Request(self.config.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.config.timeout_s) as response:
            raw = response.read().decode("utf-8", errors="replace")
            content_type = response.headers.get("Content-Type", "")
        if "json" not in content_type:
            return raw
        data = json.loads(raw)
        if isinstance(data, dict):
            for key in ("response", "text", "output"):
                if isinstance(data.get(key), str):
                    return data[key]
        logger.warning("CogAgent JSON reply has no 'response' string: %.120s", raw)
        return ""  # parsed as an empty reply: a malformed one
