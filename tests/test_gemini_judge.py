"""The Gemini judge with an in-process transport (no network): prompts, parsing, caching, retries, rate limit, secrecy."""

from __future__ import annotations

import logging
import pickle
import sys

import pytest
from PIL import Image, ImageDraw

from coso.env.gemini_judge import (
    GeminiJudge,
    GeminiJudgeConfig,
    GeminiJudgeFactory,
    GoogleGenAITransport,
    JudgeRequest,
    RateLimiter,
    Secret,
    VerdictCache,
    build_request,
    load_api_key,
    parse_verdict,
)
from coso.env.tasks import OpenAppGoal, Task, WebShopGoal
from coso.errors import ConfigError, UserInputError

KEY = "AIzaSy-test-key-0123456789abcdef"
SHOP_TASK = Task("Go to bestbuy.com, search for macbook pro", WebShopGoal("bestbuy.com", "macbook pro"), "webshop")
APP_TASK = Task("Open the calculator app", OpenAppGoal("calculator"), "general")


def screen(label: str, size: tuple[int, int] = (270, 480)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).text((10, 10), label, fill="black")
    return image


class ScriptedTransport:
    """Answers from a script: a string is returned, an exception raised; records every request."""

    def __init__(self, *script: object) -> None:
        self.script = list(script)
        self.requests: list[JudgeRequest] = []

    def generate(self, request: JudgeRequest) -> str:
        self.requests.append(request)
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, BaseException):
            raise item
        return str(item)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_judge(transport: ScriptedTransport, time: FakeTime | None = None, **config) -> GeminiJudge:
    time = time or FakeTime()
    cfg = GeminiJudgeConfig(**config)
    limiter = RateLimiter(cfg.requests_per_minute, clock=time.clock, sleep=time.sleep)
    return GeminiJudge(cfg, transport, rate_limiter=limiter, sleep=time.sleep)


def test_prompt_has_task_set_criteria_examples_then_the_screen(tmp_path) -> None:
    paths = []
    for name, colour in (("good.png", "green"), ("bad.png", "red")):
        Image.new("RGB", (1080, 2400), colour).save(tmp_path / name)
        paths.append(str(tmp_path / name))
    config = GeminiJudgeConfig(image_max_side=400, few_shot={"webshop": [
        {"image": paths[0], "task": "Go to ebay.com", "success": True, "reasoning": "eBay is open."},
        {"image": paths[1], "task": "Search newegg.com for a mouse", "success": False},
    ]})
    transport = ScriptedTransport("Reasoning: the results page is open.\nStatus: success")
    judge = GeminiJudge(config, transport)
    assert judge.is_success(SHOP_TASK, screen("results", (1080, 2400)), None) is True
    request = transport.requests[0]
    assert "shopping-site" in request.instruction and "Status: success" in request.instruction
    kinds = ["image" if isinstance(p, Image.Image) else p for p in request.parts]
    assert kinds == [
        "Example 1.\nTask: Go to ebay.com", "image", "Reasoning: eBay is open.\nStatus: success",
        "Example 2.\nTask: Search newegg.com for a mouse", "image", "Status: failure",
        f"Now judge this screenshot.\nTask: {SHOP_TASK.text}", "image",
        "Give your reasoning, then the final line 'Status: success' or 'Status: failure'.",
    ]
    assert all(max(p.size) <= 400 for p in request.parts if isinstance(p, Image.Image))
    assert request.parts[7].size == (180, 400)  # aspect ratio kept
    general = build_request(APP_TASK.text, "general", screen("home"), [], 768)
    assert "everyday phone tasks" in general.instruction and len(general.parts) == 3


@pytest.mark.parametrize("answer, expected", [
    ("Reasoning: done.\nStatus: success", True),
    ("Status: failure", False),
    ("**Status:** Success", True),
    ("status - successful", True),
    ("It says Status: success at first... on reflection\nStatus: failed", False),
    ("Status: `failure`.", False),
    ("The task looks complete to me.", None),
    ("", None),
    ("Status: unknown", None),
])
def test_parse_verdict(answer: str, expected: bool | None) -> None:
    assert parse_verdict(answer).success is expected


def test_unchanged_and_recent_screens_are_not_sent_again() -> None:
    transport = ScriptedTransport("Status: failure")
    judge = make_judge(transport)
    home, app = screen("home"), screen("calculator")
    judge.reset(APP_TASK)
    assert judge.is_success(APP_TASK, home, None) is False
    assert judge.is_success(APP_TASK, home.copy(), None) is False  # identical pixels: skipped
    assert len(transport.requests) == 1 and judge.stats.skipped_unchanged == 1
    transport.script = ["Status: success"]
    assert judge.is_success(APP_TASK, app, None) is True
    judge.reset(APP_TASK)  # a new episode revisits both screens: both come from the cache
    assert judge.is_success(APP_TASK, home, None) is False
    assert judge.is_success(APP_TASK, app, None) is True
    assert len(transport.requests) == 2 and judge.stats.cache_hits == 2
    assert judge.is_success(SHOP_TASK, app, None) is True  # same screen, another task: asked
    assert len(transport.requests) == 3
    assert judge.stats.calls == 6 and judge.stats.successes == 3


def test_verdict_cache_keeps_the_most_recent() -> None:
    cache = VerdictCache(2)
    cache.put(("t", "a"), True)
    cache.put(("t", "b"), False)
    assert cache.get(("t", "a")) is True  # a is now the most recent
    cache.put(("t", "c"), True)
    assert cache.get(("t", "b")) is None and cache.get(("t", "a")) is True and cache.get(("t", "c")) is True


def test_malformed_answer_is_a_counted_logged_failure_asked_again_later(caplog) -> None:
    transport = ScriptedTransport("I believe the calculator is open.")
    judge = make_judge(transport)
    with caplog.at_level(logging.WARNING, logger="coso.env.gemini_judge"):
        assert judge.is_success(APP_TASK, screen("calculator"), None) is False
    assert judge.stats.malformed_answers == 1
    assert "not understood" in caplog.text and "calculator is open" in caplog.text
    transport.script = ["Status: success"]
    assert judge.is_success(APP_TASK, screen("calculator"), None) is True  # not cached, not skipped
    assert len(transport.requests) == 2


def test_api_errors_are_retried_with_exponential_backoff() -> None:
    time = FakeTime()
    transport = ScriptedTransport(ConnectionError("reset by peer"), TimeoutError("slow"), "Status: success")
    judge = make_judge(transport, time, backoff_base_s=2.0, requests_per_minute=6000)
    assert judge.is_success(APP_TASK, screen("calculator"), None) is True
    assert [s for s in time.sleeps if s >= 1] == [2.0, 4.0]
    assert judge.stats.request_errors == 2 and judge.stats.requests == 3 and judge.stats.api_failures == 0


def test_a_persistent_api_failure_gives_reward_zero_not_a_crash() -> None:
    time = FakeTime()
    transport = ScriptedTransport(RuntimeError("503 service unavailable"))
    judge = make_judge(transport, time, max_retries=4, backoff_base_s=1.0, backoff_max_s=5.0, requests_per_minute=6000)
    assert judge.is_success(APP_TASK, screen("calculator"), None) is False
    assert [s for s in time.sleeps if s >= 1] == [1.0, 2.0, 4.0, 5.0]  # capped at backoff_max_s
    assert judge.stats.api_failures == 1 and judge.stats.request_errors == 5
    transport.script = ["Status: success"]
    assert judge.is_success(APP_TASK, screen("calculator"), None) is True  # a failure is not cached


def test_rate_limit_spaces_requests() -> None:
    time = FakeTime()
    transport = ScriptedTransport("Status: failure")
    judge = make_judge(transport, time, requests_per_minute=30)  # one request every 2 s
    for k in range(4):
        judge.is_success(APP_TASK, screen(f"screen {k}"), None)
    assert len(transport.requests) == 4
    assert time.sleeps == [2.0, 2.0, 2.0] and judge.rate_limiter.waited_s == 6.0
    limiter = RateLimiter(60, clock=time.clock, sleep=time.sleep)
    time.now += 100.0  # idle for a while: the next request goes out at once
    time.sleeps.clear()
    limiter.acquire()
    assert time.sleeps == []


def test_the_api_key_never_shows_in_logs_reprs_or_errors(monkeypatch, caplog) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    transport = ScriptedTransport(PermissionError(f"API key {KEY} not valid. Please pass a valid API key."))
    judge = make_judge(transport, max_retries=1, backoff_base_s=0.0)
    with caplog.at_level(logging.DEBUG):
        assert judge.is_success(APP_TASK, screen("x"), None) is False
    assert judge.stats.request_errors == 2
    assert KEY not in caplog.text and "***" in caplog.text
    real = GoogleGenAITransport(GeminiJudgeConfig(), load_api_key())
    factory_judge = GeminiJudgeFactory(GeminiJudgeConfig())(0)
    for shown in (repr(judge), str(judge.stats), repr(real), repr(factory_judge), repr(load_api_key()),
                  str(load_api_key()), repr(GeminiJudgeConfig())):
        assert KEY not in shown
    with pytest.raises(TypeError):
        pickle.dumps(judge)
    with pytest.raises(TypeError):
        pickle.dumps(load_api_key())
    assert Secret(KEY).scrub(f"url?key={KEY}") == "url?key=***"


def test_real_transport_builds_text_and_png_parts(monkeypatch) -> None:
    transport = GoogleGenAITransport(GeminiJudgeConfig(), Secret(KEY))
    request = build_request(APP_TASK.text, "general", screen("home"), [], 256)
    (content,) = transport.contents(request)
    assert content.role == "user"
    assert content.parts[0].text.endswith(APP_TASK.text)
    assert content.parts[1].inline_data.mime_type == "image/png"
    assert content.parts[1].inline_data.data.startswith(b"\x89PNG")


def test_setup_errors_are_clear(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"\$GEMINI_API_KEY or \$GOOGLE_API_KEY"):
        GeminiJudge(GeminiJudgeConfig())
    monkeypatch.setitem(sys.modules, "google.genai", None)
    with pytest.raises(ConfigError, match=r"pip install coso\[gemini\]"):
        GoogleGenAITransport(GeminiJudgeConfig(), Secret(KEY))
    missing = str(tmp_path / "nope.png")
    with pytest.raises(UserInputError, match="nope.png"):
        GeminiJudge(GeminiJudgeConfig(few_shot={"general": [{"image": missing, "task": "t", "success": True}]}),
                    ScriptedTransport("Status: success"))
    with pytest.raises(ConfigError, match="each example needs image"):
        GeminiJudgeConfig(few_shot={"general": [{"task": "t"}]})
    with pytest.raises(ConfigError, match="env.gemini.modle is not a setting"):
        GeminiJudgeConfig.from_mapping({"modle": "x"})
    with pytest.raises(ConfigError, match="requests_per_minute"):
        GeminiJudgeConfig(requests_per_minute=0)


def test_factory_judges_share_cache_and_sum_their_stats() -> None:
    transport = ScriptedTransport("Status: success")
    factory = GeminiJudgeFactory(GeminiJudgeConfig(requests_per_minute=6000), transport)
    first, second = factory(0), factory(1)
    assert first.is_success(APP_TASK, screen("calculator"), None) is True
    assert second.is_success(APP_TASK, screen("calculator"), None) is True  # from the shared cache
    assert second.is_success(SHOP_TASK, screen("bestbuy"), None) is True
    assert len(transport.requests) == 2
    total = factory.stats()
    assert (total.calls, total.requests, total.cache_hits, total.successes) == (3, 2, 1, 3)
    assert second.rate_limiter is first.rate_limiter
