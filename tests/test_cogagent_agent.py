"""The CogAgent remote agent: its grounded-operation grammar and its HTTP client against a local fake endpoint."""

from __future__ import annotations

import base64
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import pytest
from PIL import Image

from coso.actions import Action, ActionType, parse_action
from coso.agents import CogAgent, CogAgentConfig, parse_grounded_operation, reply_to_action_text
from coso.env.base import Observation
from coso.env.tasks import OpenAppGoal, Task
from coso.errors import ConfigError, UserInputError


@pytest.mark.parametrize("reply, expected", [
    ("Grounded Operation: tap [[500,250]]", Action.tap(0.5, 0.25)),
    ("Plan: open it.\nGrounded Operation: tap [[100, 200, 300, 400]]", Action.tap(0.2, 0.3)),
    ("Grounded Operation: CLICK [[0,1000]]", Action.tap(0.0, 1.0)),
    ("Grounded Operation: swipe [[500,800]] to [[500,200]]", Action.swipe((0.5, 0.8), (0.5, 0.2))),
    ("Grounded Operation: swipe [[100,500],[900,500]]", Action.swipe((0.1, 0.5), (0.9, 0.5))),
    ("Grounded Operation: scroll down", Action.swipe((0.5, 0.75), (0.5, 0.25))),
    ("Grounded Operation: scroll [left]", Action.swipe((0.25, 0.5), (0.75, 0.5))),
    ('Grounded Operation: type "macbook pro"', Action.type_text("macbook pro")),
    ("Grounded Operation: type [Best Buy]", Action.type_text("Best Buy")),
    ("Grounded Operation: type: weather in Paris", Action.type_text("weather in Paris")),
    ("Grounded Operation: press back", Action(ActionType.GoBack)),
    ("Grounded Operation: HOME", Action(ActionType.GoHome)),
    ("Grounded Operation: press_enter", Action(ActionType.Enter)),
    ("Grounded Operation: task complete.", Action(ActionType.TaskComplete)),
    ("Grounded Operation: done", Action(ActionType.TaskComplete)),
    ("Grounded Operation: impossible", Action(ActionType.TaskImpossible)),
    ("Grounded Operation: tap [[1,1]]\nGrounded Operation: press home", Action(ActionType.GoHome)),  # the last counts
])
def test_grounded_operations_become_autoui_actions(reply: str, expected: Action) -> None:
    assert parse_grounded_operation(reply).action == expected
    parsed = parse_action(reply_to_action_text(reply))
    assert parsed.valid and parsed.action == expected


@pytest.mark.parametrize("reply, reason", [
    ("I will tap the icon.", "no 'Grounded Operation:' line"),
    ("Grounded Operation: tap [[1200,30]]", "outside 0-1000"),
    ("Grounded Operation: tap [[a,b]]", "not numbers"),
    ("Grounded Operation: tap the icon", "no [[x,y]]"),
    ("Grounded Operation: tap [[1,2,3]]", "2 or 4 coordinates"),
    ("Grounded Operation: swipe [[1,2]]", "start and an end point"),
    ("Grounded Operation: scroll sideways", "scroll direction"),
    ('Grounded Operation: type ""', "type without text"),
    ("Grounded Operation: dance", "unknown operation"),
    ("Grounded Operation: jump Action Decision: \"action_type\": \"PRESS_HOME\"", "unknown operation"),
])
def test_malformed_replies_become_invalid_action_texts(reply: str, reason: str) -> None:
    parsed = parse_grounded_operation(reply)
    if parsed.action is None:
        assert reason in parsed.reason
    text = reply_to_action_text(reply)
    assert not parse_action(text).valid


class FakeCogAgentServer:
    """A loopback HTTP endpoint whose reply is computed from each request by ``respond``."""

    def __init__(self, respond: Callable[[dict], tuple[int, str, str]]) -> None:
        self.respond = respond
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                status, content_type, text = outer.respond(body)
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/act"

    def __enter__(self) -> "FakeCogAgentServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def observation(task: str, step: int = 0, previous: str | None = None) -> Observation:
    return Observation(task, Image.new("RGB", (1080, 2400), (30, 60, 90)), previous, step)


def json_reply(text: str) -> tuple[int, str, str]:
    return 200, "application/json", json.dumps({"response": text})


def test_agent_posts_screens_and_tasks_and_returns_autoui_texts() -> None:
    replies = {"open the clock": "Grounded Operation: tap [[250,750]]",
               "search for shoes": 'Grounded Operation: type "shoes"',
               "go back": "Grounded Operation: press back"}
    with FakeCogAgentServer(lambda body: json_reply(replies[body["task"]])) as server:
        agent = CogAgent(CogAgentConfig(url=server.url, image_max_side=600))
        tasks = [Task(t, OpenAppGoal("clock"), "general") for t in replies]
        observations = [observation(t, step=k, previous="prev" if k else None) for k, t in enumerate(replies)]
        texts = agent.act(observations, tasks)
    actions = [parse_action(t).action for t in texts]
    assert actions == [Action.tap(0.25, 0.75), Action.type_text("shoes"), Action(ActionType.GoBack)]
    by_task = {r["task"]: r for r in server.requests}
    assert set(by_task) == set(replies)
    image = Image.open(io.BytesIO(base64.b64decode(by_task["open the clock"]["image"])))
    assert image.format == "PNG" and image.size == (270, 600)
    assert by_task["search for shoes"]["step"] == 1 and by_task["search for shoes"]["previous_action"] == "prev"
    assert by_task["open the clock"]["previous_action"] is None
    assert agent.stats.requests == 3 and agent.stats.malformed_replies == 0


def test_malformed_and_odd_replies_never_crash() -> None:
    replies = iter([
        (200, "application/json", json.dumps({"response": "I cannot see the screen."})),
        (200, "application/json", json.dumps({"answer": "Grounded Operation: tap [[1,1]]"})),
        (200, "text/plain", "Grounded Operation: press home"),
        (200, "application/json", "{not json"),
    ])
    with FakeCogAgentServer(lambda body: next(replies)) as server:
        agent = CogAgent(CogAgentConfig(url=server.url, max_parallel_requests=1, max_retries=0), sleep=lambda s: None)
        texts = [agent.act([observation("t")])[0] for _ in range(4)]
    assert [parse_action(t).valid for t in texts] == [False, False, True, False]
    assert parse_action(texts[2]).action == Action(ActionType.GoHome)
    assert agent.stats.malformed_replies == 2 and agent.stats.request_errors == 1  # bad JSON is a failed request


def test_server_errors_are_retried_with_backoff() -> None:
    statuses = iter([500, 503, 200])

    def respond(body: dict) -> tuple[int, str, str]:
        status = next(statuses)
        return (status, "application/json", json.dumps({"response": "Grounded Operation: done"}))

    sleeps: list[float] = []
    with FakeCogAgentServer(respond) as server:
        agent = CogAgent(CogAgentConfig(url=server.url, backoff_base_s=0.5), sleep=sleeps.append)
        (text,) = agent.act([observation("t")])
    assert parse_action(text).action == Action(ActionType.TaskComplete)
    assert sleeps == [0.5, 1.0] and agent.stats.request_errors == 2 and agent.stats.requests == 3


def test_an_unreachable_endpoint_stops_evaluation_with_a_clear_error() -> None:
    with FakeCogAgentServer(lambda body: json_reply("")) as server:
        url = server.url
    config = CogAgentConfig(url=url, max_retries=1, max_consecutive_failures=3, timeout_s=2.0)
    agent = CogAgent(config, sleep=lambda s: None)
    texts = agent.act([observation("a"), observation("b")])  # two failures: invalid actions, no error yet
    assert all(not parse_action(t).valid for t in texts)
    assert agent.stats.failed_observations == 2 and agent.stats.request_errors == 4
    with pytest.raises(UserInputError, match=f"CogAgent endpoint {url} failed 3 requests in a row"):
        agent.act([observation("c")])


def test_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="must be an http"):
        CogAgentConfig(url="localhost:7860")
    with pytest.raises(ConfigError, match="agent.cogagent.adress is not a setting"):
        CogAgentConfig.from_mapping({"adress": "http://x"})
    with pytest.raises(ValueError, match="2 observations but 1 tasks"):
        CogAgent().act([observation("a"), observation("b")], [Task("a", OpenAppGoal("x"), "general")])


def test_eval_only_scores_a_remote_cogagent(tmp_path) -> None:
    """eval_only policy=cogagent runs evaluation episodes through the HTTP agent on the simulated phone."""
    from test_training_runs import run_in_process

    with FakeCogAgentServer(lambda body: json_reply("Grounded Operation: press home")) as server:
        summary = run_in_process("eval_only", ["policy=cogagent", f"agent.cogagent.url={server.url}",
                                               "train.eval_episodes=2", "logging.progress=false",
                                               f"save_path={tmp_path}"])
    assert summary["policy"] == "cogagent" and summary["episodes"] == 2
    assert summary["eval_success_rate"]["eval"] == 0.0 and summary["env_steps"] > 2
    assert server.requests and all(request["task"] for request in server.requests)
