"""The Gemini success judge for real phones: a few-shot screenshot evaluator with caching, retries and a rate limit.

Follows the reference evaluator's semantics: a screen identical to the one judged just before is not sent
again (it gets the previous verdict), recently judged (task, screen) pairs come from a cache, each task set
(general / webshop) has its own criteria and the user's own example screenshots, and the model's answer
must end in "Status: success" or "Status: failure" (anything else counts as failure, logged and counted).
API errors are retried with exponential backoff under a requests-per-minute limit; a persistent failure
gives reward 0 and is counted, never raised. The API key comes from ``$GEMINI_API_KEY`` or
``$GOOGLE_API_KEY`` and is kept in a ``Secret`` that is never logged, printed, pickled or saved.
google-genai is imported only when the real transport is built (``pip install coso[gemini]``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from PIL import Image

from coso.config_mapping import dataclass_from_mapping
from coso.errors import ConfigError, UserInputError
from coso.retry import Backoff

if TYPE_CHECKING:
    from coso.actions import Action
    from coso.env.tasks import Task

logger = logging.getLogger(__name__)

DEFAULT_KEY_ENV = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
INSTALL_HINT = "the Gemini judge needs google-genai: pip install coso[gemini]"


class Secret:
    """A credential that shows as ``***`` in reprs and messages and refuses to be pickled."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The credential itself, for the one call that needs it."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled or saved")

    def scrub(self, text: str) -> str:
        """``text`` with every occurrence of the credential replaced by ``***``."""
        return text.replace(self._value, "***") if self._value else text


def load_api_key(env_names: Sequence[str] = DEFAULT_KEY_ENV, required: bool = True) -> Secret:
    """The API key from the first set environment variable; ConfigError naming them when ``required`` and unset."""
    for name in env_names:
        value = os.environ.get(name, "").strip()
        if value:
            return Secret(value)
    if required:
        raise ConfigError(
            f"the Gemini judge needs an API key in ${' or $'.join(env_names)} (an environment variable; "
            "never put keys in config files)"
        )
    return Secret("")


@dataclass
class FewShotExample:
    """One example for the prompt: a screenshot file the user supplies, its task and the right verdict."""

    image: str  # path to a PNG/JPEG screenshot
    task: str
    success: bool
    reasoning: str = ""


@dataclass
class GeminiJudgeConfig:
    """Model, limits, cache and per-task-set few-shot examples of the Gemini judge (``env.gemini``)."""

    model: str = "gemini-2.5-flash"
    api_key_env: list[str] = field(default_factory=lambda: list(DEFAULT_KEY_ENV))
    requests_per_minute: float = 30.0
    max_retries: int = 4  # retries after the first failed request
    backoff_base_s: float = 2.0
    backoff_max_s: float = 60.0
    request_timeout_s: float = 60.0
    cache_size: int = 256  # recent (task, screen) verdicts kept
    temperature: float = 0.0
    max_output_tokens: int = 1024
    image_max_side: int = 768  # screenshots are shrunk to this before sending (cost and latency)
    few_shot: dict[str, list[Any]] = field(default_factory=dict)  # task set -> FewShotExample fields

    def __post_init__(self) -> None:
        where = "env.gemini"
        if self.requests_per_minute <= 0:
            raise ConfigError(f"{where}.requests_per_minute={self.requests_per_minute} must be positive")
        if self.max_retries < 0 or self.cache_size < 0:
            raise ConfigError(f"{where}.max_retries and {where}.cache_size must be >= 0")
        if self.request_timeout_s <= 0 or self.image_max_side < 32:
            raise ConfigError(f"{where}.request_timeout_s must be positive and image_max_side at least 32")
        Backoff(self.backoff_base_s, 2.0, self.backoff_max_s)
        examples = {}
        for task_set, items in dict(self.few_shot or {}).items():
            examples[task_set] = [
                item if isinstance(item, FewShotExample)
                else _example_from_mapping(item, f"{where}.few_shot.{task_set}")
                for item in items
            ]
        self.few_shot = examples

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> GeminiJudgeConfig:
        """Build from ``env.gemini``; an unknown key is a ConfigError naming it."""
        return dataclass_from_mapping(cls, values, "env.gemini")


def _example_from_mapping(item: Any, where: str) -> FewShotExample:
    if not isinstance(item, Mapping) or not {"image", "task", "success"} <= set(item):
        raise ConfigError(f"{where}: each example needs image (a path), task and success (true/false); got {item!r}")
    return FewShotExample(str(item["image"]), str(item["task"]), bool(item["success"]), str(item.get("reasoning", "")))


# ---------------------------------------------------------------------------------------------- prompt

JUDGE_INSTRUCTION = (
    "You grade an agent that operates an Android phone. You are given the task the agent was asked to do "
    "and a screenshot of the phone taken after its latest action. Decide from the screenshot alone whether "
    "the task is now accomplished. Judge the end state, not the effort: a task with several steps counts "
    "only when its last step is visible. Be strict about names, queries and sites: the right kind of page "
    "for a different query, app or website is a failure.\n"
    "Write one or two sentences of reasoning, then a final line that is exactly 'Status: success' or "
    "'Status: failure'."
)

TASK_SET_CRITERIA: dict[str, str] = {
    "general": (
        "Criteria for everyday phone tasks:\n"
        "- A question to look up: success when a search results page for a query that asks the same thing is "
        "shown; the answer itself need not be visible.\n"
        "- Open an app, a settings page or an app's settings: success when that screen is in front.\n"
        "- Turn a setting on or off: success when its switch shows the requested state.\n"
        "- Install an app: success when the store shows it installing or installed.\n"
        "- The home screen, a different app or an unrelated search is a failure."
    ),
    "webshop": (
        "Criteria for shopping-site tasks:\n"
        "- 'Go to <site>': success when that site is loaded in the browser.\n"
        "- 'Search <site> for <item>': success when the site's own results page for that item is shown; a web "
        "search engine's results or another shop's page is a failure.\n"
        "- 'Select the first entry': success when the product page of the first result is open.\n"
        "- A half-typed query, an open keyboard before searching or the site's front page after a search was "
        "asked is a failure."
    ),
}

QUERY_TEXT = "Now judge this screenshot.\nTask: {task}"
FINAL_TEXT = "Give your reasoning, then the final line 'Status: success' or 'Status: failure'."


@dataclass(frozen=True)
class JudgeRequest:
    """One request to the model: an instruction and an ordered mix of text and screenshots."""

    instruction: str
    parts: tuple[str | Image.Image, ...]


def shrink(image: Image.Image, max_side: int) -> Image.Image:
    """``image`` in RGB, scaled down (aspect kept) so its longer side is at most ``max_side``."""
    image = image.convert("RGB")
    scale = max_side / max(image.size)
    if scale >= 1.0:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR)


def load_examples(examples: Sequence[FewShotExample], max_side: int) -> list[tuple[FewShotExample, Image.Image]]:
    """Open the example screenshots; a missing or unreadable file is a UserInputError naming it."""
    loaded = []
    for example in examples:
        path = os.path.expanduser(example.image)
        try:
            with Image.open(path) as image:
                loaded.append((example, shrink(image, max_side)))
        except (OSError, ValueError) as error:
            raise UserInputError(
                f"env.gemini.few_shot: cannot read example screenshot {path!r} ({error}); fix the path or "
                "remove the example"
            ) from error
    return loaded


def build_request(
    task_text: str, task_set: str, screenshot: Image.Image,
    examples: Sequence[tuple[FewShotExample, Image.Image]], max_side: int,
) -> JudgeRequest:
    """The few-shot request: the task set's criteria, the examples with their verdicts, then the screen to judge."""
    instruction = JUDGE_INSTRUCTION + "\n\n" + TASK_SET_CRITERIA.get(task_set, TASK_SET_CRITERIA["general"])
    parts: list[str | Image.Image] = []
    for number, (example, image) in enumerate(examples, start=1):
        verdict = "success" if example.success else "failure"
        parts += [f"Example {number}.\nTask: {example.task}", image,
                  (f"Reasoning: {example.reasoning}\n" if example.reasoning else "") + f"Status: {verdict}"]
    parts += [QUERY_TEXT.format(task=task_text), shrink(screenshot, max_side), FINAL_TEXT]
    return JudgeRequest(instruction, tuple(parts))


_STATUS_RE = re.compile(r"status\s*[:=\-]?\s*[*_`\"']*\s*(success(?:ful)?|fail(?:ure|ed)?)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Verdict:
    """A parsed answer: success, failure, or malformed (``success`` None) with the reason."""

    success: bool | None
    reason: str = ""


def parse_verdict(answer: str) -> Verdict:
    """Read the last "Status: success/failure" in the answer; anything else is malformed."""
    if not isinstance(answer, str) or not answer.strip():
        return Verdict(None, "empty answer")
    matches = _STATUS_RE.findall(answer)
    if not matches:
        return Verdict(None, f"no 'Status: success/failure' in the answer: {answer.strip()[-160:]!r}")
    return Verdict(matches[-1].lower().startswith("success"))


def screen_digest(image: Image.Image) -> str:
    """A hash of the exact pixels, to recognise a screen seen before."""
    rgb = image.convert("RGB")
    digest = hashlib.sha256(f"{rgb.width}x{rgb.height}".encode())
    digest.update(rgb.tobytes())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------- transport


class JudgeTransport(Protocol):
    """Sends one request to a vision-language model and returns its text answer."""

    def generate(self, request: JudgeRequest) -> str:
        """The model's answer; raises on API or network failure."""


class GoogleGenAITransport:
    """The real transport: google-genai's ``models.generate_content`` (the library's own retries turned off)."""

    def __init__(self, config: GeminiJudgeConfig, api_key: Secret) -> None:
        try:
            from google import genai
            from google.genai import types
        except ImportError as error:
            raise ConfigError(INSTALL_HINT) from error
        self._types = types
        self.model = config.model
        self.config = config
        http_options = types.HttpOptions(
            timeout=int(config.request_timeout_s * 1000), retry_options=types.HttpRetryOptions(attempts=1)
        )
        self._client = genai.Client(api_key=api_key.reveal(), http_options=http_options)

    def __repr__(self) -> str:
        return f"GoogleGenAITransport(model={self.model!r})"

    def _part(self, item: str | Image.Image) -> Any:
        if isinstance(item, str):
            return self._types.Part.from_text(text=item)
        buffer = io.BytesIO()
        item.save(buffer, format="PNG")
        return self._types.Part.from_bytes(data=buffer.getvalue(), mime_type="image/png")

    def contents(self, request: JudgeRequest) -> list[Any]:
        """The request's parts as google-genai content: one user turn of text and PNG parts."""
        return [self._types.Content(role="user", parts=[self._part(p) for p in request.parts])]

    def generate(self, request: JudgeRequest) -> str:
        """One generate_content call with the instruction as the system prompt."""
        contents = self.contents(request)
        config = self._types.GenerateContentConfig(
            system_instruction=request.instruction, temperature=self.config.temperature,
            max_output_tokens=self.config.max_output_tokens,
        )
        response = self._client.models.generate_content(model=self.model, contents=contents, config=config)
        return response.text or ""


# ---------------------------------------------------------------------------------------------- judge


class RateLimiter:
    """At most ``requests_per_minute`` requests, spaced evenly; thread-safe, so judges can share one."""

    def __init__(self, requests_per_minute: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval_s = 60.0 / requests_per_minute
        self.clock = clock
        self.sleep = sleep
        self._next_free = -float("inf")
        self._lock = threading.Lock()
        self.waited_s = 0.0

    def acquire(self) -> None:
        """Wait until a request may go out."""
        with self._lock:
            now = self.clock()
            start = max(now, self._next_free)
            self._next_free = start + self.interval_s
        wait = start - now
        if wait > 0:
            self.waited_s += wait
            self.sleep(wait)


@dataclass
class JudgeStats:
    """What the judge did: calls, requests, skips, cache hits, malformed answers and API failures."""

    calls: int = 0
    requests: int = 0  # API requests sent (retries included)
    skipped_unchanged: int = 0
    cache_hits: int = 0
    successes: int = 0
    malformed_answers: int = 0
    request_errors: int = 0  # failed requests (each retry counts)
    api_failures: int = 0  # verdicts given as failure because every retry failed

    def as_dict(self, prefix: str = "judge/") -> dict[str, int]:
        """The counters as ``{prefix + name: value}``."""
        return {f"{prefix}{name}": value for name, value in dataclasses.asdict(self).items()}


class VerdictCache:
    """The most recent (task, screen) verdicts, least recently used evicted first; thread-safe."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], bool] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> bool | None:
        """The cached verdict, or None."""
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: tuple[str, str], verdict: bool) -> None:
        """Remember a verdict."""
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = verdict
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class GeminiJudge:
    """``coso.env.base.Judge`` asking Gemini whether each new screenshot shows the task done."""

    def __init__(
        self, config: GeminiJudgeConfig | None = None, transport: JudgeTransport | None = None,
        rate_limiter: RateLimiter | None = None, cache: VerdictCache | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config or GeminiJudgeConfig()
        self._secret = load_api_key(self.config.api_key_env, required=transport is None)
        self.transport: JudgeTransport = transport or GoogleGenAITransport(self.config, self._secret)
        self.rate_limiter = rate_limiter or RateLimiter(self.config.requests_per_minute)
        self.cache = cache or VerdictCache(self.config.cache_size)
        self.backoff = Backoff(self.config.backoff_base_s, 2.0, self.config.backoff_max_s)
        self.sleep = sleep
        self.examples = {
            task_set: load_examples(items, self.config.image_max_side)
            for task_set, items in self.config.few_shot.items()
        }
        self.stats = JudgeStats()
        self._previous: tuple[tuple[str, str], bool] | None = None  # ((task, screen digest), verdict) judged last

    def __repr__(self) -> str:
        return f"GeminiJudge(model={self.config.model!r}, transport={self.transport!r})"

    def __reduce__(self) -> Any:
        raise TypeError("a GeminiJudge holds an API key and cannot be pickled")

    def reset(self, task: Task) -> None:
        """Forget the previous screen (a new episode); the cache of recent verdicts stays."""
        self._previous = None

    def is_success(self, task: Task, screenshot: Image.Image, action: Action | None) -> bool:
        """The verdict for this screen: repeated screens and cached ones are not sent again."""
        self.stats.calls += 1
        key = (task.text, screen_digest(screenshot))
        if self._previous is not None and self._previous[0] == key:
            self.stats.skipped_unchanged += 1
            return self._record(self._previous[1])
        cached = self.cache.get(key)
        if cached is not None:
            self.stats.cache_hits += 1
            self._previous = (key, cached)
            return self._record(cached)
        verdict = self._ask(task, screenshot)
        if verdict is None:  # no usable answer: failure now, asked again next time
            self._previous = None
            return False
        self.cache.put(key, verdict)
        self._previous = (key, verdict)
        return self._record(verdict)

    def _record(self, verdict: bool) -> bool:
        self.stats.successes += int(verdict)
        return verdict

    def _ask(self, task: Task, screenshot: Image.Image) -> bool | None:
        request = build_request(task.text, task.task_set, screenshot, self.examples.get(task.task_set, []),
                                self.config.image_max_side)
        attempts = self.config.max_retries + 1
        for attempt in range(attempts):
            self.rate_limiter.acquire()
            self.stats.requests += 1
            try:
                answer = self.transport.generate(request)
            except Exception as error:  # any API or network failure is retried, then becomes reward 0
                self.stats.request_errors += 1
                logger.warning("Gemini request failed (attempt %d of %d): %s", attempt + 1, attempts,
                               self._secret.scrub(f"{type(error).__name__}: {error}"))
                if attempt + 1 < attempts:
                    self.sleep(self.backoff.delay(attempt))
                continue
            verdict = parse_verdict(answer)
            if verdict.success is None:
                self.stats.malformed_answers += 1
                logger.warning("Gemini answer not understood, counted as failure: %s",
                               self._secret.scrub(verdict.reason))
                return None
            return verdict.success
        self.stats.api_failures += 1
        logger.warning("Gemini judge gave up after %d attempts; the step gets reward 0", attempts)
        return None


class GeminiJudgeFactory:
    """Makes one judge per environment slot, all sharing one transport, rate limit and verdict cache."""

    def __init__(self, config: GeminiJudgeConfig, transport: JudgeTransport | None = None) -> None:
        self.config = config
        secret = load_api_key(config.api_key_env, required=transport is None)
        self.transport = transport or GoogleGenAITransport(config, secret)
        self.rate_limiter = RateLimiter(config.requests_per_minute)
        self.cache = VerdictCache(config.cache_size)
        self.judges: list[GeminiJudge] = []

    def __repr__(self) -> str:
        return f"GeminiJudgeFactory(model={self.config.model!r})"

    def __call__(self, index: int = 0) -> GeminiJudge:
        """A judge for slot ``index``."""
        judge = GeminiJudge(self.config, self.transport, self.rate_limiter, self.cache)
        self.judges.append(judge)
        return judge

    def stats(self) -> JudgeStats:
        """The counters of every judge made so far, summed (for run metrics)."""
        total = JudgeStats()
        for judge in self.judges:
            for name, value in dataclasses.asdict(judge.stats).items():
                setattr(total, name, getattr(total, name) + value)
        return total
