"""The simulated phone served over the W3C WebDriver / Appium wire protocol on loopback.

``SimWebDriverServer`` wraps any ``coso.env.base.Device`` (normally a ``SimPhone``) in a small HTTP server
(standard library, one thread per connection, port 0 -> a free port) that answers the subset of the
protocol ``AppiumDevice`` uses, so the real-device code path (appium-python-client included) runs end to
end without an emulator:

====================================================  ==============================================
``GET /status``                                        readiness
``POST /session`` / ``DELETE /session/{id}``           open / close a session (a new one replaces the old)
``GET /session/{id}/screenshot``                       base64 PNG
``GET /session/{id}/window/rect``                      screen size in pixels
``POST /session/{id}/actions``                         W3C pointer actions -> tap or swipe
``DELETE /session/{id}/actions``                       release actions (nothing is held)
``POST /session/{id}/back``                            Back key
``POST /session/{id}/execute/sync``                    ``mobile: pressKey`` (keycodes 3/4/66) and
                                                       ``mobile: cosoReset`` {seed} (simulator only)
``GET /session/{id}/element/active``                   the focused element
``POST /session/{id}/element/{eid}/value``             type into it
====================================================  ==============================================

Anything else gets W3C error JSON (``unknown command``, ``invalid session id``, ...). ``Fault`` entries
make the k-th request drop its connection, answer 500, or hang (no answer for N seconds, then the
connection drops); a faulted request's command is never run, so what the phone did stays deterministic. The
``/wd/hub`` prefix of Appium 1 is accepted too.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import re
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Sequence

from coso.env.base import Device
from coso.errors import ConfigError, DeviceError

logger = logging.getLogger(__name__)

W3C_ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"
FAULT_KINDS = ("drop", "error", "hang")
KEY_ENTER = ("\ue007", "\ue006")  # WebDriver's Enter and Return keys
LEGACY_PREFIX = "/wd/hub"


@dataclass(frozen=True)
class Fault:
    """An injected failure: requests ``at_request`` .. ``at_request + count - 1`` (1-based) drop, fail or hang."""

    kind: str  # "drop": close the connection unanswered; "error": HTTP 500; "hang": silence for hang_s, then drop
    at_request: int
    count: int = 1
    hang_s: float = 5.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ConfigError(f"Fault kind {self.kind!r} is not one of {FAULT_KINDS}")
        if self.at_request < 1 or self.count < 1 or self.hang_s < 0:
            raise ConfigError(f"Fault needs at_request >= 1, count >= 1 and hang_s >= 0, got {self}")

    def applies_to(self, request_number: int) -> bool:
        """True when this fault hits the request with this number."""
        return self.at_request <= request_number < self.at_request + self.count


class W3CError(Exception):
    """A protocol error answered as W3C error JSON."""

    STATUS = {
        "invalid argument": HTTPStatus.BAD_REQUEST,
        "invalid session id": HTTPStatus.NOT_FOUND,
        "no such element": HTTPStatus.NOT_FOUND,
        "unknown command": HTTPStatus.NOT_FOUND,
        "unknown method": HTTPStatus.METHOD_NOT_ALLOWED,
        "session not created": HTTPStatus.INTERNAL_SERVER_ERROR,
        "unsupported operation": HTTPStatus.INTERNAL_SERVER_ERROR,
        "unknown error": HTTPStatus.INTERNAL_SERVER_ERROR,
    }

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message

    @property
    def status(self) -> int:
        """The HTTP status the W3C spec gives this error."""
        return int(self.STATUS.get(self.error, HTTPStatus.INTERNAL_SERVER_ERROR))

    def body(self) -> dict[str, Any]:
        """The W3C error JSON."""
        return {"value": {"error": self.error, "message": self.message, "stacktrace": ""}}


@dataclass(frozen=True)
class Gesture:
    """A completed touch gesture in pixels: a tap when start == end, else a swipe."""

    start: tuple[float, float]
    end: tuple[float, float]

    @property
    def is_tap(self) -> bool:
        """True when the finger did not move."""
        return math.dist(self.start, self.end) < 1.0


def pixel_to_fraction(pixel: float, size: int) -> float:
    """The centre of pixel ``pixel`` as a normalised coordinate (inverse of ``to_pixel`` up to half a pixel)."""
    return min(1.0, max(0.0, (math.floor(pixel) + 0.5) / size))


def pointer_gestures(source: dict[str, Any]) -> list[Gesture]:
    """The gestures one W3C pointer input source performs (viewport and pointer origins)."""
    position = (0.0, 0.0)
    down_at: tuple[float, float] | None = None
    gestures = []
    for action in source.get("actions", []):
        kind = action.get("type")
        if kind == "pointerMove":
            origin = action.get("origin", "viewport")
            try:
                x, y = float(action.get("x", 0)), float(action.get("y", 0))
            except (TypeError, ValueError):
                raise W3CError("invalid argument", f"pointerMove needs numeric x and y, got {action}") from None
            if origin == "viewport":
                position = (x, y)
            elif origin == "pointer":
                position = (position[0] + x, position[1] + y)
            else:
                raise W3CError("invalid argument", f"pointerMove origin {origin!r} is not supported (viewport, pointer)")
        elif kind == "pointerDown":
            down_at = position
        elif kind == "pointerUp":
            if down_at is not None:
                gestures.append(Gesture(down_at, position))
            down_at = None
        elif kind not in ("pause", "pointerCancel"):
            raise W3CError("invalid argument", f"unknown pointer action type {kind!r}")
    return gestures


def key_text(source: dict[str, Any]) -> str:
    """The characters a W3C key input source presses (keyDown values, in order)."""
    return "".join(str(a.get("value", "")) for a in source.get("actions", []) if a.get("type") == "keyDown")


@dataclass
class _Session:
    session_id: str
    capabilities: dict[str, Any]

    @property
    def focused_element(self) -> str:
        return f"{self.session_id}-focused"


Handler = Callable[["SimWebDriverServer", _Session | None, dict[str, Any], dict[str, str]], Any]


class SimWebDriverServer:
    """A loopback HTTP server speaking enough WebDriver/Appium for ``AppiumDevice`` to drive ``device``."""

    def __init__(
        self, device: Device, host: str = "127.0.0.1", port: int = 0, faults: Sequence[Fault] = (),
        session_override: bool = True,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ConfigError(f"SimWebDriverServer host={host!r}: the simulator server only listens on loopback")
        self.device = device
        self.host = host
        self.requested_port = port
        self.faults = tuple(faults)
        self.session_override = session_override
        self.requests_served = 0  # session requests seen (``/status`` is not counted); faults are keyed on it
        self.commands: deque[str] = deque(maxlen=1000)  # "METHOD route" of recent session requests (tests, debugging)
        self._session: _Session | None = None
        self._device_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> "SimWebDriverServer":
        """Bind (port 0 -> a free port) and serve in a daemon thread."""
        server = self
        self._stopping.clear()

        class RequestHandler(_RequestHandler):
            app = server

        self._httpd = ThreadingHTTPServer((self.host, self.requested_port), RequestHandler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="sim-webdriver-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; hanging fault handlers are released."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def __enter__(self) -> "SimWebDriverServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port actually bound."""
        if self._httpd is None:
            raise RuntimeError("SimWebDriverServer is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The base URL to give ``AppiumDevice``."""
        return f"http://{self.host}:{self.port}"

    @property
    def session_id(self) -> str | None:
        """The open session's id, if any."""
        return self._session.session_id if self._session else None

    # -- request dispatch ----------------------------------------------------------------------------

    def next_fault(self, path: str) -> Fault | None:
        """Count this request and return the fault that hits it, if any (``/status`` is never faulted)."""
        if _route_path(path) == "/status":
            return None
        with self._count_lock:
            self.requests_served += 1
            number = self.requests_served
        return next((fault for fault in self.faults if fault.applies_to(number)), None)

    def wait_hang(self, seconds: float) -> None:
        """Sleep for a hang fault, cut short when the server stops."""
        self._stopping.wait(seconds)

    def dispatch(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """Route one request; returns (HTTP status, JSON body)."""
        route = _route_path(path)
        try:
            payload = json.loads(body.decode("utf-8")) if body.strip() else {}
        except (UnicodeDecodeError, ValueError) as error:
            bad_body = W3CError("invalid argument", f"the request body is not JSON: {error}")
            return bad_body.status, bad_body.body()
        if not isinstance(payload, dict):
            payload = {}
        allowed = []
        for route_method, pattern, handler, needs_session in ROUTES:
            match = pattern.fullmatch(route)
            if match is None:
                continue
            if route_method != method:
                allowed.append(route_method)
                continue
            params = match.groupdict()
            if route != "/status":
                self.commands.append(f"{method} {_route_label(pattern)}")
            try:
                session = self._require_session(params.get("sid")) if needs_session else None
                with self._device_lock:
                    value = handler(self, session, payload, params)
            except W3CError as error:
                return error.status, error.body()
            except DeviceError as error:
                failure = W3CError("unknown error", f"the device failed: {type(error).__name__}: {error}")
                return failure.status, failure.body()
            return HTTPStatus.OK, {"value": value}
        if allowed:
            error = W3CError("unknown method", f"{method} is not allowed on {route} (use {', '.join(allowed)})")
        else:
            error = W3CError("unknown command", f"{method} {route} is not a command this server knows")
        return error.status, error.body()

    def _require_session(self, session_id: str | None) -> _Session:
        if self._session is None or session_id != self._session.session_id:
            raise W3CError("invalid session id", f"no open session with id {session_id!r}")
        return self._session

    # -- command handlers ----------------------------------------------------------------------------

    def _status(self, session: _Session | None, payload: dict, params: dict) -> Any:
        return {"ready": True, "message": "coso simulated phone", "build": {"version": "coso-sim"}}

    def _new_session(self, session: _Session | None, payload: dict, params: dict) -> Any:
        requested = payload.get("capabilities", {})
        always = dict(requested.get("alwaysMatch", {})) if isinstance(requested, dict) else {}
        first = requested.get("firstMatch", [{}]) if isinstance(requested, dict) else [{}]
        merged = {**always, **(first[0] if first and isinstance(first[0], dict) else {})}
        platform = str(merged.get("platformName", "Android"))
        if platform.lower() != "android":
            raise W3CError("session not created", f"platformName {platform!r}: this server is an Android phone")
        if self._session is not None and not self.session_override:
            raise W3CError("session not created", "a session is already open on this phone")
        width, height = self.device.window_size()
        capabilities = {key.split(":", 1)[-1]: value for key, value in merged.items()}
        capabilities.update({"platformName": "Android", "automationName": "UiAutomator2",
                             "deviceScreenSize": f"{width}x{height}", "deviceName": "coso-sim"})
        self._session = _Session(uuid.uuid4().hex, capabilities)
        return {"sessionId": self._session.session_id, "capabilities": capabilities}

    def _delete_session(self, session: _Session | None, payload: dict, params: dict) -> Any:
        self._session = None
        return None

    def _screenshot(self, session: _Session | None, payload: dict, params: dict) -> Any:
        buffer = io.BytesIO()
        self.device.screenshot().convert("RGB").save(buffer, format="PNG", compress_level=1)
        return base64.b64encode(buffer.getvalue()).decode("ascii")

    def _window_rect(self, session: _Session | None, payload: dict, params: dict) -> Any:
        width, height = self.device.window_size()
        return {"x": 0, "y": 0, "width": width, "height": height}

    def _perform_actions(self, session: _Session | None, payload: dict, params: dict) -> Any:
        sources = payload.get("actions")
        if not isinstance(sources, list):
            raise W3CError("invalid argument", "POST /actions needs an 'actions' list of input sources")
        width, height = self.device.window_size()
        for source in sources:
            kind = source.get("type") if isinstance(source, dict) else None
            if kind == "pointer":
                for gesture in pointer_gestures(source):
                    x0, y0 = pixel_to_fraction(gesture.start[0], width), pixel_to_fraction(gesture.start[1], height)
                    if gesture.is_tap:
                        self.device.tap(x0, y0)
                    else:
                        x1, y1 = pixel_to_fraction(gesture.end[0], width), pixel_to_fraction(gesture.end[1], height)
                        self.device.swipe(x0, y0, x1, y1)
            elif kind == "key":
                self._type_keys(key_text(source))
            elif kind not in ("none", "wheel"):
                raise W3CError("invalid argument", f"input source type {kind!r} is not supported")
        return None

    def _type_keys(self, text: str) -> None:
        chunk = ""
        for char in text:
            if char in KEY_ENTER:
                if chunk:
                    self.device.type_text(chunk)
                    chunk = ""
                self.device.press_enter()
            elif not "\ue000" <= char <= "\uf8ff":  # other WebDriver special keys are ignored
                chunk += char
        if chunk:
            self.device.type_text(chunk)

    def _release_actions(self, session: _Session | None, payload: dict, params: dict) -> Any:
        return None

    def _back(self, session: _Session | None, payload: dict, params: dict) -> Any:
        self.device.press_back()
        return None

    def _execute(self, session: _Session | None, payload: dict, params: dict) -> Any:
        script = str(payload.get("script", "")).strip()
        args = payload.get("args") or [{}]
        arguments = args[0] if isinstance(args, list) and args and isinstance(args[0], dict) else {}
        command = MOBILE_COMMANDS.get(script)
        if command is None:
            raise W3CError("unsupported operation",
                           f"script {script!r} is not supported; use one of {sorted(MOBILE_COMMANDS)}")
        return command(self, arguments)

    def _active_element(self, session: _Session | None, payload: dict, params: dict) -> Any:
        assert session is not None
        return {W3C_ELEMENT_KEY: session.focused_element}

    def _element_value(self, session: _Session | None, payload: dict, params: dict) -> Any:
        assert session is not None
        if params.get("eid") != session.focused_element:
            raise W3CError("no such element", f"element {params.get('eid')!r} is not on the screen")
        text = payload.get("text")
        if not isinstance(text, str):
            value = payload.get("value")
            text = "".join(str(v) for v in value) if isinstance(value, list) else None
        if text is None:
            raise W3CError("invalid argument", "element value needs 'text' (a string) or 'value' (a list)")
        self._type_keys(text)
        return None

    # -- mobile: commands ----------------------------------------------------------------------------

    def _press_key(self, arguments: dict[str, Any]) -> Any:
        keycode = arguments.get("keycode")
        press = KEYCODE_ACTIONS.get(keycode) if isinstance(keycode, int) else None
        if press is None:
            raise W3CError("invalid argument",
                           f"keycode {keycode!r} is not supported; use one of {sorted(KEYCODE_ACTIONS)}")
        press(self.device)
        return None

    def _reset(self, arguments: dict[str, Any]) -> Any:
        seed = arguments.get("seed")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise W3CError("invalid argument", f"mobile: cosoReset needs an integer 'seed', got {seed!r}")
        self.device.reset(seed)
        return None


KEYCODE_ACTIONS: dict[int, Callable[[Device], None]] = {
    3: lambda device: device.press_home(),
    4: lambda device: device.press_back(),
    66: lambda device: device.press_enter(),
}

MOBILE_COMMANDS: dict[str, Callable[[SimWebDriverServer, dict[str, Any]], Any]] = {
    "mobile: pressKey": SimWebDriverServer._press_key,
    "mobile: cosoReset": SimWebDriverServer._reset,
}

_SID = r"(?P<sid>[^/]+)"
ROUTES: list[tuple[str, re.Pattern[str], Handler, bool]] = [
    (method, re.compile(pattern), handler, needs_session)
    for method, pattern, handler, needs_session in [
        ("GET", r"/status", SimWebDriverServer._status, False),
        ("POST", r"/session", SimWebDriverServer._new_session, False),
        ("DELETE", rf"/session/{_SID}", SimWebDriverServer._delete_session, True),
        ("GET", rf"/session/{_SID}/screenshot", SimWebDriverServer._screenshot, True),
        ("GET", rf"/session/{_SID}/window/rect", SimWebDriverServer._window_rect, True),
        ("POST", rf"/session/{_SID}/actions", SimWebDriverServer._perform_actions, True),
        ("DELETE", rf"/session/{_SID}/actions", SimWebDriverServer._release_actions, True),
        ("POST", rf"/session/{_SID}/back", SimWebDriverServer._back, True),
        ("POST", rf"/session/{_SID}/execute/sync", SimWebDriverServer._execute, True),
        ("GET", rf"/session/{_SID}/element/active", SimWebDriverServer._active_element, True),
        ("POST", rf"/session/{_SID}/element/(?P<eid>[^/]+)/value", SimWebDriverServer._element_value, True),
    ]
]


def _route_label(pattern: re.Pattern[str]) -> str:
    return re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern.pattern)


def _route_path(path: str) -> str:
    route = path.split("?", 1)[0].rstrip("/") or "/"
    if route.startswith(LEGACY_PREFIX):
        route = route[len(LEGACY_PREFIX):] or "/"
    return route


class _RequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler that applies faults, then hands the request to the server object."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stalls
    app: SimWebDriverServer

    def log_message(self, format: str, *args: Any) -> None:  # route the standard library's access log
        logger.debug("%s - %s", self.address_string(), format % args)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        fault = self.app.next_fault(self.path)
        if fault is not None and fault.kind == "hang":
            self.app.wait_hang(fault.hang_s)  # a stuck device: nothing for hang_s, then the connection drops
        if fault is not None and fault.kind in ("drop", "hang"):
            self.close_connection = True  # no answer at all and the command is not run
            return
        if fault is not None and fault.kind == "error":
            error = W3CError("unknown error", "injected server fault")
            status, payload = error.status, error.body()
        else:
            status, payload = self.app.dispatch(method, self.path, body)
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - the standard library's naming
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")


class ServedDevice:
    """An ``AppiumDevice`` on a ``SimWebDriverServer`` plus the served phone's privileged state (experts, RuleJudge).

    Every control and screenshot goes over the wire through appium-python-client; only
    ``privileged_state`` reads the server-side phone directly, as the simulator's scripted expert needs.
    """

    def __init__(self, server: SimWebDriverServer, timeouts: Any = None) -> None:
        from coso.env.android.appium_device import AppiumDevice

        self.server = server
        self.remote = AppiumDevice(server.url, {"platformName": "Android"}, timeouts, reset_mode="sim_seed")

    def reset(self, seed: int) -> None:
        """Seeded reset of the served phone, over the wire."""
        self.remote.reset(seed)

    def screenshot(self) -> Any:
        """The served phone's screen, fetched as a PNG over the wire."""
        return self.remote.screenshot()

    def window_size(self) -> tuple[int, int]:
        """Screen size, over the wire."""
        return self.remote.window_size()

    def tap(self, x: float, y: float) -> None:
        """Tap, as a W3C pointer action."""
        self.remote.tap(x, y)

    def swipe(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """Swipe, as a W3C pointer action."""
        self.remote.swipe(x0, y0, x1, y1)

    def type_text(self, text: str) -> None:
        """Type into the active element."""
        self.remote.type_text(text)

    def press_back(self) -> None:
        """Back key (mobile: pressKey 4)."""
        self.remote.press_back()

    def press_home(self) -> None:
        """Home key (mobile: pressKey 3)."""
        self.remote.press_home()

    def press_enter(self) -> None:
        """Enter key (mobile: pressKey 66)."""
        self.remote.press_enter()

    def close(self) -> None:
        """End the session (the server keeps running)."""
        self.remote.close()

    def privileged_state(self) -> object | None:
        """The served phone's own state, read server-side."""
        return self.server.device.privileged_state()
