"""The simulated phone over the W3C WebDriver protocol: routes, W3C errors, pointer actions and injected faults.

Requests here are plain HTTP (urllib) so the server is checked independently of the client library.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import select
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from PIL import Image

from coso.env.sim import SimConfig, SimPhone
from coso.fakes.webdriver_server import (
    W3C_ELEMENT_KEY,
    Fault,
    SimWebDriverServer,
    key_text,
    pixel_to_fraction,
    pointer_gestures,
)
from coso.errors import ConfigError

NEW_SESSION = {"capabilities": {"alwaysMatch": {"platformName": "Android", "appium:automationName": "UiAutomator2"},
                                "firstMatch": [{}]}}


def call(server: SimWebDriverServer, method: str, path: str, body: Any = None, timeout: float = 5.0) -> tuple[int, Any]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(server.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture()
def served():
    phone = SimPhone(SimConfig(), seed=3)
    with SimWebDriverServer(phone) as server:
        yield server, phone


def open_session(server: SimWebDriverServer) -> str:
    status, body = call(server, "POST", "/session", NEW_SESSION)
    assert status == 200
    return body["value"]["sessionId"]


def test_status_session_and_window(served) -> None:
    server, phone = served
    status, body = call(server, "GET", "/status")
    assert status == 200 and body["value"]["ready"] is True
    status, body = call(server, "POST", "/session", NEW_SESSION)
    assert status == 200
    value = body["value"]
    assert value["capabilities"]["platformName"] == "Android"
    assert value["capabilities"]["deviceScreenSize"] == f"{phone.config.width}x{phone.config.height}"
    sid = value["sessionId"]
    assert call(server, "GET", f"/session/{sid}/window/rect")[1]["value"] == {
        "x": 0, "y": 0, "width": phone.config.width, "height": phone.config.height}
    assert call(server, "GET", f"/wd/hub/session/{sid}/window/rect")[0] == 200  # Appium 1 base path
    assert call(server, "DELETE", f"/session/{sid}")[0] == 200
    status, body = call(server, "GET", f"/session/{sid}/window/rect")
    assert status == 404 and body["value"]["error"] == "invalid session id"


def test_screenshot_is_the_phone_screen_as_base64_png(served) -> None:
    server, phone = served
    sid = open_session(server)
    status, body = call(server, "GET", f"/session/{sid}/screenshot")
    image = Image.open(io.BytesIO(base64.b64decode(body["value"])))
    assert status == 200 and image.format == "PNG"
    assert list(image.convert("RGB").getdata()) == list(phone.screenshot().getdata())


def test_w3c_errors(served) -> None:
    server, _ = served
    sid = open_session(server)
    cases = [
        ("GET", f"/session/{sid}/url", None, 404, "unknown command"),
        ("GET", f"/session/{sid}/actions", None, 405, "unknown method"),
        ("GET", "/session/not-a-session/screenshot", None, 404, "invalid session id"),
        ("POST", f"/session/{sid}/actions", b"{broken", 400, "invalid argument"),
        ("POST", f"/session/{sid}/actions", {"actions": "tap"}, 400, "invalid argument"),
        ("POST", f"/session/{sid}/execute/sync", {"script": "return 1", "args": []}, 500, "unsupported operation"),
        ("POST", f"/session/{sid}/execute/sync", {"script": "mobile: pressKey", "args": [{"keycode": 24}]},
         400, "invalid argument"),
        ("POST", f"/session/{sid}/execute/sync", {"script": "mobile: cosoReset", "args": [{"seed": "x"}]},
         400, "invalid argument"),
        ("POST", f"/session/{sid}/element/other-element/value", {"text": "a"}, 404, "no such element"),
        ("POST", "/session", {"capabilities": {"alwaysMatch": {"platformName": "iOS"}}}, 500, "session not created"),
    ]
    for method, path, body, status, error in cases:
        got_status, got = call(server, method, path, body)
        assert (got_status, got["value"]["error"]) == (status, error), (method, path)
        assert got["value"]["message"]


def test_keys_typing_and_reset_reach_the_phone(served) -> None:
    server, phone = served
    sid = open_session(server)
    reference = SimPhone(SimConfig(), seed=3)
    assert call(server, "POST", f"/session/{sid}/execute/sync",
                {"script": "mobile: cosoReset", "args": [{"seed": 11}]})[0] == 200
    reference.reset(11)
    assert phone.screenshot().tobytes() == reference.screenshot().tobytes()
    element = call(server, "GET", f"/session/{sid}/element/active")[1]["value"][W3C_ELEMENT_KEY]
    width, height = phone.window_size()
    # swipe up on the home screen opens the app drawer, in the served and the reference phone alike
    swipe = {"actions": [{"type": "pointer", "id": "touch", "parameters": {"pointerType": "touch"}, "actions": [
        {"type": "pointerMove", "duration": 0, "x": width // 2, "y": int(height * 0.8), "origin": "viewport"},
        {"type": "pointerDown", "button": 0},
        {"type": "pointerMove", "duration": 250, "x": width // 2, "y": int(height * 0.3), "origin": "viewport"},
        {"type": "pointerUp", "button": 0}]}]}
    assert call(server, "POST", f"/session/{sid}/actions", swipe)[0] == 200
    reference.swipe(pixel_to_fraction(width // 2, width), pixel_to_fraction(int(height * 0.8), height),
                    pixel_to_fraction(width // 2, width), pixel_to_fraction(int(height * 0.3), height))
    assert phone.privileged_state().page.view == reference.privileged_state().page.view == "drawer"
    assert call(server, "POST", f"/session/{sid}/element/{element}/value", {"text": "abc", "value": list("abc")})[0] == 200
    assert call(server, "POST", f"/session/{sid}/back", {})[0] == 200
    reference.type_text("abc")
    reference.press_back()
    for keycode, press in ((66, reference.press_enter), (3, reference.press_home)):
        assert call(server, "POST", f"/session/{sid}/execute/sync",
                    {"script": "mobile: pressKey", "args": [{"keycode": keycode}]})[0] == 200
        press()
    assert phone.screenshot().tobytes() == reference.screenshot().tobytes()
    assert list(server.commands)[-3:] == ["POST /session/{sid}/back", "POST /session/{sid}/execute/sync",
                                          "POST /session/{sid}/execute/sync"]


def test_pointer_and_key_sources_are_decoded() -> None:
    tap = {"actions": [{"type": "pointerMove", "x": 10, "y": 20}, {"type": "pointerDown"}, {"type": "pause", "duration": 100},
                       {"type": "pointerUp"}]}
    (gesture,) = pointer_gestures(tap)
    assert gesture.is_tap and gesture.start == (10.0, 20.0)
    relative = {"actions": [{"type": "pointerMove", "x": 50, "y": 300}, {"type": "pointerDown"},
                            {"type": "pointerMove", "x": 0, "y": -200, "origin": "pointer"}, {"type": "pointerUp"},
                            {"type": "pointerMove", "x": 5, "y": 5}, {"type": "pointerDown"}, {"type": "pointerUp"}]}
    swipe, second_tap = pointer_gestures(relative)
    assert not swipe.is_tap and swipe.end == (50.0, 100.0) and second_tap.is_tap
    assert key_text({"actions": [{"type": "keyDown", "value": "h"}, {"type": "keyUp", "value": "h"},
                                 {"type": "pause"}, {"type": "keyDown", "value": "i"}]}) == "hi"
    assert pixel_to_fraction(0, 270) == pytest.approx(0.5 / 270)
    assert pixel_to_fraction(269, 270) == pytest.approx(269.5 / 270)


def test_faults_drop_fail_or_hang_the_kth_request() -> None:
    phone = SimPhone(SimConfig(), seed=0)
    faults = [Fault("drop", at_request=2), Fault("error", at_request=3), Fault("hang", at_request=4, hang_s=0.4)]
    with SimWebDriverServer(phone, faults=faults) as server:
        sid = open_session(server)  # request 1
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError, urllib.error.URLError)):
            call(server, "GET", f"/session/{sid}/window/rect")  # request 2: dropped
        status, body = call(server, "GET", f"/session/{sid}/window/rect")  # request 3
        assert status == 500 and body["value"]["error"] == "unknown error"
        assert call(server, "GET", "/status")[0] == 200  # /status is never counted or faulted
        start = time.monotonic()
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError, urllib.error.URLError)):
            call(server, "GET", f"/session/{sid}/window/rect")  # request 4: silent for 0.4 s, then dropped
        assert 0.35 <= time.monotonic() - start < 2.0
        assert call(server, "GET", f"/session/{sid}/window/rect")[0] == 200  # request 5: normal again
        assert server.requests_served == 5
    with pytest.raises(ConfigError, match="Fault kind"):
        Fault("explode", 1)
    with pytest.raises(ConfigError, match="loopback"):
        SimWebDriverServer(phone, host="0.0.0.0")


def test_stop_releases_a_hanging_request_quickly() -> None:
    phone = SimPhone(SimConfig(), seed=0)
    server = SimWebDriverServer(phone, faults=[Fault("hang", at_request=1, hang_s=30)]).start()
    import threading

    outcome: list[Any] = []

    def request() -> None:
        try:
            outcome.append(call(server, "POST", "/session", NEW_SESSION, 10))
        except (ConnectionError, urllib.error.URLError, http.client.HTTPException) as error:
            outcome.append(error)

    worker = threading.Thread(target=request, daemon=True)
    worker.start()
    time.sleep(0.2)
    start = time.monotonic()
    server.stop()
    worker.join(5)
    assert time.monotonic() - start < 3.0 and not worker.is_alive()
    assert isinstance(outcome[0], (ConnectionError, urllib.error.URLError, http.client.HTTPException))


# -- hardening: every request gets an answer -----------------------------------------------------------------


def raw_request(server: SimWebDriverServer, data: bytes, method: str = "GET", timeout: float = 5.0) -> tuple[int, Any]:
    """Send raw bytes on a fresh connection and read one response (its JSON body, None for HEAD)."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock, method=method)
        response.begin()
        body = response.read()
        assert response.getheader("Content-Type", "").startswith("application/json")
        return response.status, (json.loads(body) if body else None)


def pointer(*actions: dict[str, Any]) -> dict[str, Any]:
    return {"actions": [{"type": "pointer", "id": "touch", "actions": list(actions)}]}


def test_malformed_bodies_get_w3c_json_errors(served) -> None:
    server, _ = served
    sid = open_session(server)
    actions, execute = f"/session/{sid}/actions", f"/session/{sid}/execute/sync"
    bad = [
        (actions, pointer({"type": "pointerMove", "x": "inf", "y": 0})),
        (actions, pointer({"type": "pointerMove", "x": "12", "y": 0})),
        (actions, pointer({"type": "pointerMove", "x": True, "y": 0})),
        (actions, b'{"actions": [{"type": "pointer", "actions": [{"type": "pointerMove", "x": 1e400, "y": 0}]}]}'),
        (actions, b'{"actions": [{"type": "pointer", "actions": [{"type": "pointerMove", "x": NaN, "y": 0}]}]}'),
        (actions, {"actions": [{"type": "pointer", "actions": "tap"}]}),
        (actions, {"actions": [{"type": "pointer", "actions": [1, None]}]}),
        (actions, {"actions": [{"type": "key", "actions": [{"type": "keyDown", "value": 5}]}]}),
        (actions, {"actions": [{"type": "key", "actions": {"type": "keyDown"}}]}),
        (actions, {"actions": [{"type": ["pointer"]}]}),
        (actions, [1, 2]),
        (actions, b"[" * 100_000),  # RecursionError in the JSON decoder
        (actions, b'{"a":' * 50_000),
        (actions, b"\xff\xfe not utf-8"),
        ("/session", {"capabilities": {"alwaysMatch": []}}),
        ("/session", {"capabilities": {"firstMatch": 5}}),
        ("/session", {"capabilities": "android"}),
        (execute, {"script": "mobile: cosoReset", "args": [{"seed": 10**30}]}),
        (execute, {"script": "mobile: pressKey", "args": [{"keycode": True}]}),
    ]
    for path, body in bad:
        status, got = call(server, "POST", path, body)
        assert status == 400 and got["value"]["error"] == "invalid argument" and got["value"]["message"], (path, body)
    assert call(server, "GET", f"/session/{sid}/window/rect")[0] == 200  # the server and the session live on


def test_bad_framing_and_every_http_method_get_json(served) -> None:
    server, _ = served
    head = "POST /session HTTP/1.1\r\nHost: x\r\n"
    cases = [
        (head + "Content-Length: abc\r\n\r\n", 400, "invalid argument"),
        (head + "Content-Length: -5\r\n\r\n", 400, "invalid argument"),
        (head + "Content-Length: 99999999999999999999999\r\n\r\n", 413, "invalid argument"),
        (head + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 411, "invalid argument"),
        ("garbage\r\n\r\n", 400, "invalid argument"),
        ("GET /status HTTP/9.9\r\n\r\n", 505, "unknown error"),
        ("GET /" + "a" * 70_000 + " HTTP/1.1\r\n\r\n", 414, "invalid argument"),
    ]
    for method in ("PUT", "PATCH", "OPTIONS", "TRACE", "CONNECT", "FOO"):
        cases.append((f"{method} /session HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405, "unknown method"))
    cases.append(("PUT /nowhere HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 404, "unknown command"))
    for data, status, error in cases:
        got_status, got = raw_request(server, data.encode())
        assert (got_status, got["value"]["error"]) == (status, error), data[:60]
    assert raw_request(server, b"HEAD /status HTTP/1.1\r\n\r\n", method="HEAD")[0] == 405
    assert call(server, "GET", "/status")[0] == 200


def test_short_body_idle_and_slow_connections_time_out() -> None:
    phone = SimPhone(SimConfig(), seed=0)
    with SimWebDriverServer(phone, read_timeout_s=0.5) as server:
        start = time.monotonic()  # Content-Length promises 1000 bytes, 10 come: timeout JSON, not a hung handler
        status, got = raw_request(server, b"POST /session HTTP/1.1\r\nContent-Length: 1000\r\n\r\n" + b"{" * 10)
        assert (status, got["value"]["error"]) == (408, "timeout") and "10 of 1000" in got["value"]["message"]
        assert 0.4 <= time.monotonic() - start < 2.0

        idle = [socket.create_connection((server.host, server.port), timeout=3.0) for _ in range(20)]
        start = time.monotonic()
        for sent_at_once in (b"", b"GET /status HTTP/1.1\r\n"):  # slow request line, then slow headers
            with socket.create_connection((server.host, server.port), timeout=3.0) as slow:
                slow.sendall(sent_at_once)
                answer, began = b"", time.monotonic()
                for byte in b"GET /status HTTP/1.1\r\nX-Slow: " + b"z" * 100:  # a byte every 50 ms, never done
                    try:
                        slow.sendall(bytes([byte]))
                    except OSError:
                        break
                    readable, _, _ = select.select([slow], [], [], 0.05)
                    if readable:
                        answer = b"".join(iter(lambda: slow.recv(65536), b""))  # up to the server's close
                        break
                assert answer.startswith(b"HTTP/1.1 408") and b'"timeout"' in answer, answer
                assert time.monotonic() - began < 1.5
        for sock in idle:  # idle connections are closed by the server (recv sees the end of the stream)
            assert sock.recv(1) == b""
            sock.close()
        assert time.monotonic() - start < 3.0
        assert call(server, "GET", "/status")[0] == 200


def test_200_simultaneous_session_requests_all_get_an_answer(served) -> None:
    server, _ = served
    outcomes: list[Any] = []
    barrier = threading.Barrier(200)

    def request() -> None:
        barrier.wait(10)
        try:
            outcomes.append(call(server, "POST", "/session", NEW_SESSION, 20)[0])
        except Exception as error:  # noqa: BLE001 - a reset or timeout is the failure under test
            outcomes.append(error)

    start = time.monotonic()
    workers = [threading.Thread(target=request, daemon=True) for _ in range(200)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert len(outcomes) == 200 and outcomes.count(200) == 200, [o for o in outcomes if o != 200][:5]
    assert time.monotonic() - start < 20.0


def test_connections_beyond_the_bound_get_a_clear_503() -> None:
    phone = SimPhone(SimConfig(), seed=0)
    with SimWebDriverServer(phone, max_connections=2, max_waiting=3, queue_wait_s=0.3, read_timeout_s=5.0) as server:
        holders = [socket.create_connection((server.host, server.port), timeout=3.0) for _ in range(2)]
        time.sleep(0.1)  # both slots are taken by idle connections
        outcomes: list[Any] = []

        def request() -> None:
            try:
                outcomes.append(call(server, "GET", "/status", timeout=5.0))
            except Exception as error:  # noqa: BLE001
                outcomes.append(error)

        workers = [threading.Thread(target=request, daemon=True) for _ in range(12)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(5)
        assert len(outcomes) == 12, outcomes
        for outcome in outcomes:  # 3 waited queue_wait_s, 9 found the queue full: all a JSON 503, none a reset
            assert isinstance(outcome, tuple), outcome
            status, body = outcome
            assert status == 503 and body["value"]["error"] == "unknown error"
            assert "busy" in body["value"]["message"] and "max_connections" in body["value"]["message"]
        for holder in holders:
            holder.close()
        time.sleep(0.2)
        assert call(server, "GET", "/status")[0] == 200  # the slots are free again
