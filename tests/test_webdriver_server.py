"""The simulated phone over the W3C WebDriver protocol: routes, W3C errors, pointer actions and injected faults.

Requests here are plain HTTP (urllib) so the server is checked independently of the client library.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from PIL import Image

from coso.env.sim import SimConfig, SimPhone
from coso.env.webdriver_server import (
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
